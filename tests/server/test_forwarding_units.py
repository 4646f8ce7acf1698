"""The forwarding parts on their own: signatures, back-off, HEC answers, Datadog limits, syslog
framing, the vault, the dead-letter search and configuration checks."""

from __future__ import annotations

import base64
import json
import os
import random
import threading
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

from auditlens.server.forwarding import control, datadog, engine, splunk_hec, syslog, webhook
from auditlens.server.forwarding.destination import (
    Batch,
    ConfigError,
    DeliveryError,
    FatalError,
    Record,
    RefusedError,
    RetryError,
    http_outcome,
    retry_after,
)
from auditlens.server.forwarding.vault import SecretUnreadableError, Vault
from tests.server.siem_receivers import Receiver

NOTE = "auditlens.local/acme\n3\nroot=\n\n— auditlens.local abc=\n"


def records(n: int, size: int = 100, start: int = 0) -> list[Record]:
    out = []
    for i in range(start, start + n):
        body = b'{"id":"log_%d","pad":"%s"}' % (i, b"x" * size)
        out.append(Record(i, f"log_{i}", "agent.action", 1_700_000_000_123 + i, body))
    return out


def batch(recs: list[Record]) -> Batch:
    return Batch("fwd_1", "auditlens.local/acme", NOTE, recs[-1].index + 1, recs)


def test_webhook_signature_matches_the_specification_example() -> None:
    # The example of the Standard Webhooks specification's reference test suite.
    key = webhook.secret_key("whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw")
    got = webhook.sign(key, "msg_p5jXN8AQM9LWM0D4loKWxJek", 1614265330, b'{"test": 2432232314}')
    assert got == "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE="
    with pytest.raises(ConfigError, match="whsec_"):
        webhook.secret_key("MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw")


def test_backoff_is_jittered_exponential_and_honours_retry_after() -> None:
    rng = random.Random(1)
    for attempt in range(1, 12):
        delay = engine.backoff_delay(attempt, None, rng)
        assert 0 <= delay <= min(engine.BACKOFF_CAP, engine.BACKOFF_BASE * 2**attempt)
    assert engine.backoff_delay(1, 7.0, rng) >= 7.0
    assert engine.backoff_delay(1, 10**9, rng) == engine.RETRY_AFTER_CAP
    assert retry_after("3") == 3.0 and retry_after(None) is None
    assert retry_after("Wed, 21 Oct 2015 07:28:00 GMT") == 0.0  # a date in the past


@pytest.mark.parametrize(
    ("status", "after", "error", "wait"),
    [
        (401, None, FatalError, None),  # a missing or bad credential: stop and report
        (403, "5", FatalError, None),  # ... even with a Retry-After
        (408, None, RetryError, None),
        (429, "7", RetryError, 7.0),  # throttled: wait at least what the SIEM asked
        (429, None, RetryError, None),
        (500, None, RetryError, None),
        (502, "bogus", RetryError, None),
        (503, "30", RetryError, 30.0),
        (504, None, RetryError, None),
        (400, None, RefusedError, None),  # malformed: dead letters, delivery goes on
        (413, "3", RefusedError, None),
        (422, None, RefusedError, None),
        (404, None, FatalError, None),  # a wrong URL: retrying cannot help
        (301, None, FatalError, None),
        (405, None, FatalError, None),
    ],
)
def test_http_outcome_maps_every_status_to_a_retry_rule(
    status: int, after: str | None, error: type[DeliveryError], wait: float | None
) -> None:
    with pytest.raises(DeliveryError) as info:
        http_outcome(status, "x" * 400 + " tail", after, "Vendor")
    assert type(info.value) is error
    assert str(status) in info.value.reason and info.value.reason.startswith("Vendor ")
    assert "tail" not in info.value.reason  # the answer is quoted, cut to 300 characters
    if isinstance(info.value, RetryError):
        assert info.value.after == wait
    if isinstance(info.value, RefusedError):
        assert info.value.position is None  # the engine isolates the bad events itself


def test_hec_event_shape_and_invalid_event_number() -> None:
    config = splunk_hec.check_config({"url": "https://splunk:8088/", "index": "audit"})
    assert config["sourcetype"] == "auditlens:event" and config["url"] == "https://splunk:8088"
    hec = splunk_hec.connect(config, "token")
    lines = hec.render(batch(records(2))).split(b"\n")
    first = json.loads(lines[0])
    assert first["time"] == 1_700_000_000.123 and first["index"] == "audit"
    assert first["event"] == {"id": "log_0", "pad": "x" * 100}
    assert first["fields"]["auditlens_checkpoint"] == NOTE
    hec.close()
    text = 'HEC refused (400): {"text":"Invalid data format","code":6,"invalid-event-number":4}'
    assert splunk_hec._invalid_event_number(text) == 4


def test_datadog_splits_at_5_mb_and_1000_entries() -> None:
    receiver = Receiver("datadog", "key")
    try:
        config = datadog.check_config({"url": receiver.url + "/api/v2/logs"})
        dd = datadog.connect(config, "key")
        dd.send(batch(records(120, size=60_000)))  # ~7 MB: two requests under the limit
        dd.send(batch(records(1000, size=10, start=120)))
        dd.close()
        assert receiver.count() == 1120
        sizes = [size for _, size, _ in receiver.got.requests]
        assert len(sizes) == 3 and max(sizes) <= datadog.MAX_BYTES
    finally:
        receiver.stop()
    assert datadog.check_config({"site": "datadoghq.eu"})["url"] == (
        "https://http-intake.logs.datadoghq.eu/api/v2/logs"
    )


def test_syslog_messages_are_rfc5424_with_escaped_structured_data() -> None:
    config = syslog.check_config({"host": "siem", "hostname": "api 1", "transport": "tcp"})
    assert config["port"] == 514
    body = _event_body("agent.action", {"outcome": "failure"})
    rec = Record(7, 'log_"]\\', "agent.action", 1_700_000_000_000, body)
    (msg,) = syslog.render(config, batch([rec]))
    head, _, body = msg.partition(b"\xef\xbb\xbf")
    assert head.startswith(b"<109>1 2023-11-14T22:13:20.000Z api1 auditlens - agent.action [")
    assert b'id="log_\\"\\]\\\\"' in head and b'index="7"' in head
    assert body == rec.body
    cp = head.split(b'checkpoint="')[1].split(b'"')[0]
    assert base64.b64decode(cp).decode() == NOTE
    with pytest.raises(ConfigError, match="transport"):
        syslog.check_config({"host": "siem", "transport": "carrier-pigeon"})


def _event_body(kind: str, event: dict[str, object]) -> bytes:
    return json.dumps({"event": event, "id": "log_1", "type": kind}, separators=(",", ":")).encode()


@pytest.mark.parametrize(
    ("kind", "event", "pri"),
    [
        ("agent.action", {"outcome": "success", "params": {"outcome": "failure"}}, 110),
        ("agent.action", {"outcome": "success", "steps": [{"outcome": "failure"}]}, 110),
        ("agent.action", {"outcome": "failure", "params": {"outcome": "success"}}, 109),
        ("auth.login", {"outcome": "failure", "failure_reason": "mfa_rejected"}, 108),
        ("approval.denied", {"outcome": "success", "reason": "touches production"}, 108),
    ],
)
def test_syslog_severity_is_the_events_verdict_not_a_text_match(
    kind: str, event: dict[str, object], pri: int
) -> None:
    """A field named ``outcome`` inside the payload (or its text in a string) is a decoy: only
    the event's own ``event.outcome`` and its verdict (denied, failure) set the severity."""
    config = syslog.check_config({"host": "siem", "transport": "tcp"})
    rec = Record(1, "log_1", kind, 1_700_000_000_000, _event_body(kind, event))
    (msg,) = syslog.render(config, batch([rec]))
    assert msg.startswith(b"<%d>1 " % pri)


class _Picky:
    """Refuses any batch holding a record whose index is in ``bad``, without saying which."""

    max_records = 100

    def __init__(self, bad: set[int]) -> None:
        self.bad = bad
        self.stored: list[int] = []

    def send(self, b: Batch) -> None:
        if any(r.index in self.bad for r in b.records):
            raise RefusedError("malformed")
        self.stored.extend(r.index for r in b.records)

    def close(self) -> None:
        pass


def test_deliver_isolates_refused_events_into_dead_letters() -> None:
    dest = _Picky({3, 5})
    dead = engine.deliver(dest, batch(records(8)))
    assert [d[0] for d in dead] == [3, 5]
    assert sorted(dest.stored) == [0, 1, 2, 4, 6, 7]


def test_vault_key_is_private_and_secrets_round_trip(tmp_path: Path) -> None:
    vault = Vault.open(tmp_path)
    assert (tmp_path / "forwarding.key").stat().st_mode & 0o777 == 0o600
    sealed = vault.seal("hec-token")
    assert b"hec-token" not in sealed and vault.open_secret(sealed) == "hec-token"
    other = tmp_path / "other"
    other.mkdir()
    with pytest.raises(SecretUnreadableError, match=r"forwarding\.key"):
        Vault.open(other).open_secret(sealed)
    os.chmod(tmp_path / "forwarding.key", 0o644)
    with pytest.raises(PermissionError, match="chmod 600"):
        Vault.open(tmp_path)


def test_vaults_opened_at_once_on_a_fresh_data_dir_share_one_key(tmp_path: Path) -> None:
    """``serve --workers N`` starts N processes that all open the vault: none may read a key
    file another is still writing (an empty key is a ValueError), and all must end with the
    same key. Threads hit the same window as processes: between create and write."""
    for round_ in range(40):
        data_dir = tmp_path / str(round_)
        data_dir.mkdir()
        start = threading.Barrier(8)

        def opened(_: int, data_dir: Path = data_dir, start: threading.Barrier = start) -> bytes:
            start.wait()
            return Vault.open(data_dir).seal("s")

        with ThreadPoolExecutor(8) as pool:
            sealed = list(pool.map(opened, range(8)))
        vault = Vault.open(data_dir)
        assert {vault.open_secret(token) for token in sealed} == {"s"}  # one key for all
        assert (data_dir / "forwarding.key").stat().st_mode & 0o777 == 0o600
        assert [p.name for p in data_dir.iterdir()] == ["forwarding.key"]  # no temp file left


@pytest.mark.parametrize(
    ("kind", "config", "secret", "field"),
    [
        ("splunk_hec", {"url": "ftp://x"}, "t", "config.url"),
        ("splunk_hec", {"url": "https://x"}, None, "secret"),
        ("splunk_hec", {"url": "https://x", "types": ["agent.nope"]}, "t", "config.types"),
        ("datadog", {"site": "a/b"}, "k", "config.site"),
        ("webhook", {"url": "https://x", "batch_size": 0}, "whsec_x", "config.batch_size"),
        ("syslog", {"host": "h", "port": 70000}, None, "config.port"),
        ("splunk_hec", {"url": "https://x", "max_wait_seconds": -1}, "t", "config.max_wait"),
        ("splunk_hec", {"url": "https://x", "types": [["agent"]]}, "t", "config.types"),
        ("splunk_hec", {"url": "https://x", "batch_size": True}, "t", "config.batch_size"),
        ("syslog", {"host": "h", "hostname": 5}, None, "config.hostname"),
        ("syslog", {"host": "h", "port": True}, None, "config.port"),
        ("datadog", {"site": 5}, "k", "config"),
        ("securityhub", {"region": "eu-west-1", "account_id": "1"}, None, "config.account_id"),
    ],
)
def test_configuration_errors_name_the_field(
    kind: str, config: dict[str, object], secret: str | None, field: str
) -> None:
    with pytest.raises(ConfigError) as info:
        control.check(kind, config, secret)
    assert info.value.field.startswith(field)
