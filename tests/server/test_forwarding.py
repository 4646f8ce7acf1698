"""SIEM forwarding end to end: a real server, real HTTP receivers with the vendors' contracts.

Each test adds a forwarder through the API, ingests events through the API and reads back what
the receiver stored: every event once (or, after a failure, repeated only within the batch
that was in flight), in log order, with its id, index and a signed checkpoint that verifies.
"""

from __future__ import annotations

import base64
import json
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from auditlens.core.canonical import canonicalize_event
from auditlens.core.merkle import leaf_hash, verify_inclusion
from auditlens.core.note import verify_checkpoint
from auditlens.server import accounts
from auditlens.server.forwarding import store as fwd_store
from auditlens.server.sequencer import now_ms
from tests.server.conftest import BACKENDS, Api, running_api, sample_event
from tests.server.siem_receivers import Receiver, index_of, wait_for

HEC_TOKEN = "00000000-1111-2222-3333-444444444444"
DD_KEY = "0123456789abcdef0123456789abcdef"
WH_SECRET = "whsec_" + base64.b64encode(b"k" * 32).decode()
SECRETS = {"splunk_hec": HEC_TOKEN, "datadog": DD_KEY, "webhook": WH_SECRET}


@pytest.fixture(scope="module", params=BACKENDS)
def api(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Api]:
    tmp = tmp_path_factory.mktemp("fwd")
    with running_api(request.param, tmp, forwarding_scan_seconds=0.1) as running:
        yield running


@pytest.fixture
def receivers() -> Iterator[dict[str, Receiver]]:
    made = {kind: Receiver(kind, secret) for kind, secret in SECRETS.items()}
    yield made
    for r in made.values():
        r.release.set()
        r.stop()


def add(api: Api, receiver: Receiver, who: str = "admin", **config: Any) -> dict[str, Any]:
    url = receiver.url + ("/api/v2/logs" if receiver.kind == "datadog" else "")
    body = {
        "name": f"{receiver.kind} test",
        "kind": receiver.kind,
        "config": {"url": url, "max_wait_seconds": 0.05, **config},
        "secret": receiver.secret,
    }
    r = api.http.post("/v1/forwarders", json=body, headers=api.auth(who))
    assert r.status_code == 201, r.text
    return dict(r.json())


def remove(api: Api, fwd: dict[str, Any]) -> None:
    r = api.http.delete(f"/v1/forwarders/{fwd['id']}", headers=api.auth("admin"))
    assert r.status_code == 204, r.text


def status(api: Api, fwd: dict[str, Any]) -> dict[str, Any]:
    r = api.http.get(f"/v1/forwarders/{fwd['id']}/status", headers=api.auth("admin"))
    assert r.status_code == 200, r.text
    return dict(r.json())


def ingest(api: Api, n: int, start: int = 0) -> tuple[int, int]:
    """Ingest ``n`` events in batches of 100; ``(first index, last index)``."""
    first = last = -1
    for lo in range(0, n, 100):
        r = api.ingest([sample_event(start + lo + i) for i in range(min(100, n - lo))])
        assert r.status_code == 201, r.text
        body = r.json()
        first = body["first_index"] if first < 0 else first
        last = body["last_index"]
    return first, last


def check_event_verifies(api: Api, kind: str, item: dict[str, Any]) -> None:
    """What a SIEM-side analyst does: the event bytes, its index and the batch's checkpoint."""
    if kind == "splunk_hec":
        event, note = item["event"], item["fields"]["auditlens_checkpoint"]
    elif kind == "datadog":
        event, note = json.loads(item["message"]), item["auditlens"]["checkpoint"]
    else:
        event, note = item["event"], item["checkpoint"]
    index = index_of(kind, item)
    cp = verify_checkpoint(note, api.state.vkey, api.orgs["acme"].org.origin)
    assert index < cp.size
    r = api.http.get(
        "/v1/log/proof/inclusion",
        params={"index": index, "size": cp.size},
        headers=api.auth("admin"),
    )
    proof = [base64.b64decode(h) for h in r.json()["proof"]]
    verify_inclusion(leaf_hash(canonicalize_event(event)), index, cp.size, proof, cp.root)


@pytest.mark.parametrize("kind", ["splunk_hec", "datadog", "webhook"])
def test_delivers_every_event_once_with_a_verifiable_checkpoint(
    api: Api, receivers: dict[str, Receiver], kind: str
) -> None:
    receiver = receivers[kind]
    fwd = add(api, receiver, types=["agent"])
    assert "secret" not in fwd and fwd["has_secret"] is True
    first, last = ingest(api, 1200)
    wait_for(lambda: receiver.count() >= 1200, what=f"{kind} delivery")
    got = receiver.indexes()
    assert got == list(range(first, last + 1))
    for item in (receiver.got.events[0], receiver.got.events[-1]):
        check_event_verifies(api, kind, item)
    if kind == "splunk_hec":
        ev = receiver.got.events[0]
        assert ev["sourcetype"] == "auditlens:event" and ev["source"] == api.orgs["acme"].org.origin
        assert ev["fields"]["auditlens_id"] == ev["event"]["id"]
        assert ev["time"] == pytest.approx(ev["time"], abs=0.001)
    if kind == "datadog":
        ev = receiver.got.events[0]
        assert ev["ddsource"] == "auditlens" and ev["service"] == "auditlens"
        assert max(size for _, size, _ in receiver.got.requests) <= 5 * 1024 * 1024
    wait_for(lambda: status(api, fwd)["lag_events"] == 0, what="cursor at the log's end")
    remove(api, fwd)


def test_receiver_down_then_back_loses_nothing(api: Api, receivers: dict[str, Receiver]) -> None:
    receiver = receivers["splunk_hec"]
    fwd = add(api, receiver, types=["agent"], batch_size=100)
    first, _ = ingest(api, 300)
    wait_for(lambda: receiver.count() >= 300)
    receiver.stop()
    _, last = ingest(api, 500, start=300)
    wait_for(lambda: status(api, fwd)["last_error"] is not None, what="an error reported")
    receiver.start()
    wait_for(lambda: receiver.count() >= 800, timeout=90, what="catch-up after the outage")
    got = receiver.indexes()
    assert sorted(set(got)) == list(range(first, last + 1))
    repeats = len(got) - len(set(got))
    assert repeats <= 100  # only the batch in flight may come twice
    wait_for(lambda: status(api, fwd)["last_error"] is None)
    remove(api, fwd)


def test_status_reports_lag_and_last_success(api: Api, receivers: dict[str, Receiver]) -> None:
    """While the SIEM is down the lag grows in events and seconds; once it is back the lag is
    zero and ``last_success_at`` is the time of that delivery."""
    receiver = receivers["webhook"]
    receiver.stop()
    fwd = add(api, receiver, types=["agent"])
    ingest(api, 5)
    wait_for(lambda: status(api, fwd)["lag_seconds"] >= 1.0, what="a second of lag")
    st = status(api, fwd)
    assert st["lag_events"] >= 5 and st["lag_seconds"] < 30
    assert st["last_error"] is not None
    before = time.time() * 1000
    receiver.start()
    wait_for(lambda: receiver.count() >= 5, what="delivery once the SIEM is back")
    wait_for(lambda: status(api, fwd)["lag_events"] == 0, what="the cursor at the end")
    st = status(api, fwd)
    assert st["lag_seconds"] == 0 and st["last_error"] is None
    assert before <= st["last_success_at"] <= time.time() * 1000
    remove(api, fwd)


def test_lag_seconds_count_from_the_append_not_the_events_own_time(api: Api) -> None:
    """Events appended with old timestamps (a demo seed, an import) are not days behind: the
    lag is how long the oldest undelivered entry has been in the log."""
    state = api.state
    three_days_ago = now_ms() - 3 * 86_400_000
    with state.db.write() as conn:
        org = accounts.create_organization(conn, state.sequencer, "Initech", "business")
        subs = [sample_event(i) for i in range(3)]
        state.sequencer.append_in(conn, org.id, subs, timestamps=[three_days_ago] * 3)
        fwd = fwd_store.create(
            conn, org.id, name="late", kind="webhook",
            config={"url": "http://127.0.0.1:9"}, sealed_secret=None, start="beginning",
        )  # fmt: skip
        fwd = fwd_store.update(conn, fwd, state="paused")
    with state.db.read() as conn:
        st = fwd_store.status(conn, fwd)
    assert st["lag_events"] == 3
    assert 0 <= st["lag_seconds"] < 60, st["lag_seconds"]
    with state.db.write() as conn:
        fwd_store.delete(conn, fwd)


def test_429_retry_after_is_honoured(api: Api, receivers: dict[str, Receiver]) -> None:
    receiver = receivers["datadog"]
    receiver.script = [(429, {"Retry-After": "2"})]
    fwd = add(api, receiver, types=["agent"])
    ingest(api, 10)
    wait_for(lambda: receiver.count() >= 10)
    times = [t for t, _, _ in receiver.got.requests]
    assert times[1] - times[0] >= 1.9  # the retry waited for Retry-After
    remove(api, fwd)


@pytest.mark.parametrize("answer", [429, 503])
def test_hec_throttled_or_unavailable_is_retried_after_retry_after(
    api: Api, receivers: dict[str, Receiver], answer: int
) -> None:
    """HEC's 429 (queue full) and 503 (server busy): the same batch again, not before
    Retry-After, reported meanwhile, and delivered once when HEC takes it."""
    receiver = receivers["splunk_hec"]
    receiver.script = [(answer, {"Retry-After": "2"}), (answer, {"Retry-After": "1"})]
    errors: list[str | None] = []
    fwd = add(api, receiver, types=["agent"])
    receiver.on_request = lambda: errors.append(status(api, fwd)["last_error"])
    first, last = ingest(api, 10)
    wait_for(lambda: receiver.count() >= 10, what="delivery after the retries")
    times = [t for t, _, _ in receiver.got.requests]
    assert len(times) == 3
    assert times[1] - times[0] >= 1.9 and times[2] - times[1] >= 0.9
    assert receiver.indexes() == list(range(first, last + 1))  # the refused batches stored none
    assert f"Splunk HEC answered {answer}" in (errors[-1] or "")
    wait_for(lambda: status(api, fwd)["last_error"] is None, what="the error cleared")
    assert status(api, fwd)["state"] == "active"
    receiver.on_request = None
    remove(api, fwd)


@pytest.mark.parametrize("kind", ["splunk_hec", "datadog", "webhook"])
def test_malformed_event_goes_to_dead_letters(
    api: Api, receivers: dict[str, Receiver], kind: str
) -> None:
    receiver = receivers[kind]
    receiver.poison = "https://example.com/poison"
    fwd = add(api, receiver, types=["agent"])
    bad = sample_event(1)
    bad["event"]["url"] = "https://example.com/poison"
    good = [sample_event(i) for i in range(2, 6)]
    r = api.ingest([good[0], good[1], bad, good[2], good[3]])
    first = r.json()["first_index"]
    wait_for(lambda: status(api, fwd)["dead_letters"] == 1, what="one dead letter")
    wait_for(lambda: receiver.count() >= 4)
    st = status(api, fwd)
    assert st["recent_dead_letters"][0]["index"] == first + 2
    assert sorted(set(receiver.indexes())) == [first, first + 1, first + 3, first + 4]
    assert st["lag_events"] <= 1  # the audit events of this test are filtered out but counted
    remove(api, fwd)


@pytest.mark.parametrize(
    ("kind", "new_secret", "answer"),
    [
        ("splunk_hec", "another-token", 403),
        ("datadog", "fedcba9876543210fedcba9876543210", 403),
        ("webhook", "whsec_" + base64.b64encode(b"n" * 32).decode(), 401),
    ],
)
def test_bad_token_stops_and_reports(
    api: Api, receivers: dict[str, Receiver], kind: str, new_secret: str, answer: int
) -> None:
    receiver = receivers[kind]
    fwd = add(api, receiver, types=["agent"])
    receiver.secret = new_secret
    ingest(api, 3)
    wait_for(lambda: status(api, fwd)["state"] == "failed", what="failed state")
    assert f"refused the credential ({answer})" in status(api, fwd)["last_error"]
    requests = len(receiver.got.requests)
    ingest(api, 2, start=3)
    time.sleep(0.5)  # a running forwarder would have sent them (max_wait 0.05 s)
    assert len(receiver.got.requests) == requests  # stopped: no retry of a refused credential
    r = api.http.patch(
        f"/v1/forwarders/{fwd['id']}", json={"secret": new_secret}, headers=api.auth("owner")
    )
    assert r.status_code == 200 and r.json()["state"] == "active"
    wait_for(lambda: receiver.count() >= 5)
    remove(api, fwd)


def test_pause_resume_replay_and_audit_trail(api: Api, receivers: dict[str, Receiver]) -> None:
    receiver = receivers["webhook"]
    fwd = add(api, receiver, types=["agent"])
    first, _ = ingest(api, 5)
    wait_for(lambda: receiver.count() >= 5)
    url = f"/v1/forwarders/{fwd['id']}"
    r = api.http.patch(url, json={"config": {"batch_size": 3}}, headers=api.auth("admin"))
    assert r.status_code == 200 and r.json()["config"]["batch_size"] == 3, r.text
    r = api.http.patch(url, json={"state": "paused"}, headers=api.auth("admin"))
    assert r.json()["state"] == "paused"
    ingest(api, 5, start=5)
    r = api.http.patch(
        url, json={"state": "active", "replay_from": first}, headers=api.auth("admin")
    )
    assert r.status_code == 200, r.text
    wait_for(lambda: receiver.count() >= 15, what="replay plus the new events")
    assert receiver.indexes()[5:10] == list(range(first, first + 5))
    page = api.http.get(
        "/v1/audit-logs", params={"type": "integration", "limit": 10}, headers=api.auth("admin")
    ).json()["items"]
    actions = [item["event"]["event"]["action"] for item in page]
    assert actions[:4] == ["resumed", "replayed", "paused", "changed"]
    assert all(WH_SECRET not in json.dumps(item) for item in page)
    remove(api, fwd)


def test_only_owners_and_admins_manage_forwarders(api: Api, receivers: dict[str, Receiver]) -> None:
    body = {"name": "x", "kind": "webhook", "config": {"url": "https://h/"}, "secret": WH_SECRET}
    assert api.http.post("/v1/forwarders", json=body, headers=api.auth("member")).status_code == 403
    assert api.http.post("/v1/forwarders", json=body, headers=api.auth("read")).status_code == 403
    assert api.http.get("/v1/forwarders", headers=api.auth("member")).status_code == 403
    bad = {**body, "kind": "carrier-pigeon"}
    r = api.http.post("/v1/forwarders", json=bad, headers=api.auth("admin"))
    assert r.status_code == 422 and "kind" in r.text
    r = api.http.post("/v1/forwarders", json={**body, "secret": "plain"}, headers=api.auth("admin"))
    assert r.status_code == 422 and "whsec_" in r.text
    for bad_body, field in (
        ({**body, "secret": "whsec_\u00e9t\u00e9"}, "secret"),
        ({**body, "config": {"url": "http://[::1"}}, "config.url"),
        ({**body, "name": "a\u0000b"}, "name"),
        ({**body, "kind": "syslog", "config": {"host": "a\u0000b"}}, "config.host"),
    ):
        r = api.http.post("/v1/forwarders", json=bad_body, headers=api.auth("admin"))
        assert r.status_code == 422 and field in r.text, (field, r.text)
    fwd = add(api, receivers["webhook"])
    r = api.http.patch(
        f"/v1/forwarders/{fwd['id']}",
        json={"name": "renamed", "replay_from": 10**12},
        headers=api.auth("admin"),
    )
    assert r.status_code == 422 and "replay_from" in r.text
    assert (
        api.http.get(f"/v1/forwarders/{fwd['id']}", headers=api.auth("admin")).json()["name"]
        == fwd["name"]
    )  # nothing applied
    other = api.http.get(f"/v1/forwarders/{fwd['id']}", headers=api.auth("other"))
    assert other.status_code == 404
    listed = api.http.get("/v1/forwarders", headers=api.auth("read")).json()["items"]
    assert [f["id"] for f in listed] == [fwd["id"]]
    assert WH_SECRET not in json.dumps(listed)
    data_dir = Path(api.state.settings.data_dir)
    assert (data_dir / "forwarding.key").stat().st_mode & 0o777 == 0o600
    remove(api, fwd)


def test_ocsf_rendering_validates_against_the_published_schema(
    api: Api, receivers: dict[str, Receiver]
) -> None:
    """HEC with ``format: ocsf``: every demo event type, checked with pydantic-ocsf's models
    (generated from the published OCSF 1.5.0 schema), with the canonical JSON kept verifiable."""
    ocsf_events = pytest.importorskip("ocsf.v1_5_0.events")
    from auditlens.server.demo_data import generate

    models = {
        3001: ocsf_events.AccountChange,
        3002: ocsf_events.Authentication,
        6003: ocsf_events.ApiActivity,
    }
    receiver = receivers["splunk_hec"]
    fwd = add(api, receiver, format="ocsf", sourcetype="ocsf")
    subs = [sub for _, sub in generate(seed=7, events=2000).events()]
    for lo in range(0, len(subs), 1000):
        r = api.ingest(subs[lo : lo + 1000])
        assert r.status_code == 201, r.text
    wait_for(lambda: receiver.count() >= len(subs), what="OCSF events")
    seen = set()
    for n, item in enumerate(receiver.got.events):
        obj = item["event"]
        model = models[obj["class_uid"]]
        unknown = set(obj) - set(model.model_fields)
        assert not unknown, f"{unknown} are not attributes of {model.__name__}"
        model.model_validate(obj)
        assert obj["type_uid"] == obj["class_uid"] * 100 + obj["activity_id"]
        assert obj["metadata"]["sequence"] == item["fields"]["auditlens_index"]
        seen.add((json.loads(obj["raw_data"])["type"], obj["class_uid"]))
        if n % 250 == 0:
            check_event_verifies(api, "splunk_hec", {**item, "event": json.loads(obj["raw_data"])})
    with pytest.raises(ValueError):  # the models do check values (pydantic's ValidationError)
        models[obj["class_uid"]].model_validate({**obj, "severity_id": "very"})
    classes = dict(seen)
    assert classes["auth.login"] == 3002 and classes["team.role_changed"] == 3001
    assert classes["agent.action"] == 6003
    remove(api, fwd)


def test_filters_are_the_query_filters(api: Api, receivers: dict[str, Receiver]) -> None:
    owner = api.orgs["acme"].people["owner"].user
    by_agent = add(api, receivers["webhook"], agent_id="agent-1", outcome="failure")
    by_user = add(api, receivers["datadog"], user_email=owner.email.upper(), types=["agent"])
    assert by_user["config"]["user_email"] == owner.email
    events = [sample_event(i) for i in range(30)]
    for ev in events[:10]:
        ev["user_id"] = owner.id
    r = api.ingest(events)
    first = r.json()["first_index"]
    expect_agent = [first + i for i in range(30) if i % 3 == 1 and i % 5 == 0]
    wait_for(
        lambda: receivers["datadog"].count() >= 10 and status(api, by_agent)["lag_events"] == 0
    )
    assert receivers["webhook"].indexes() == expect_agent
    assert receivers["datadog"].indexes() == [first + i for i in range(10)]
    r = api.http.post(
        "/v1/forwarders",
        json={"name": "x", "kind": "syslog", "config": {"host": "h", "user_email": "nobody"}},
        headers=api.auth("admin"),
    )
    assert r.status_code == 422 and "user_email" in r.text
    remove(api, by_agent)
    remove(api, by_user)
