"""Log forwarding to SIEMs: Splunk HEC, Datadog Logs, syslog (RFC 5424/5425) and webhooks.

The parts, each in its own module:

* :mod:`.destination`: the small interface a destination implements and what a batch is;
* one module per destination (:mod:`.splunk_hec`, :mod:`.datadog`, :mod:`.syslog`,
  :mod:`.webhook`), listed in :mod:`.registry`;
* :mod:`.store`: forwarders, cursors and dead letters in the server database;
* :mod:`.engine`: the delivery loop of one forwarder (batching, back-off, dead letters);
* :mod:`.service`: the background thread beside ``auditlens serve`` that runs one worker per
  forwarder under a lock (exactly one process per forwarder);
* :mod:`.vault`: secrets encrypted at rest with a key from the data directory;
* :mod:`.control`: the operations the API and the CLI share (add, change, pause, replay, ...).

Delivery is at least once, in log order, with the signed checkpoint covering each batch.
"""
