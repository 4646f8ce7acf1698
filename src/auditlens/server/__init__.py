"""The reference audit API server: an append-only, signed, tamper-evident audit log.

Modules (one job each):

* :mod:`.settings` — :class:`ServerSettings`, everything configurable;
* :mod:`.db` — engines for SQLite (WAL, one writer) and PostgreSQL, the write transaction;
* :mod:`.schema` — tables, indexes and the append-only triggers;
* :mod:`.signing` — the server's Ed25519 log key (a 0600 file in the data directory);
* :mod:`.state` — opening all of the above once per process;
* :mod:`.sequencer` — the one writer of the log: number, time, hash, integrate, sign;
* :mod:`.tree` — reads stored tile hashes for tiles and proofs;
* :mod:`.accounts` — organizations, users, passwords, sessions and API keys;
* :mod:`.ratelimit` — failed-login limiting;
* :mod:`.queries` — filtered keyset pages over the log;
* :mod:`.retention` — pruning by plan;
* :mod:`.seed` (with :mod:`.demo_data`) — the demo organization;
* :mod:`.problems`, :mod:`.responses`, :mod:`.models`, :mod:`.deps` — HTTP plumbing: RFC 9457
  errors, fast JSON, OpenAPI models, credentials and roles;
* ``routes_*`` — the HTTP API; :mod:`.app` — the app factory;
* :mod:`.commands` — ``auditlens serve`` and ``auditlens server …``;
* :mod:`.embedded` — an in-process server (``auditlens demo``, tests).

The public entry points are :func:`auditlens.server.app.create_app`,
:class:`auditlens.server.settings.ServerSettings` and
:func:`auditlens.server.embedded.start_demo_server`; importing this package imports nothing.
"""
