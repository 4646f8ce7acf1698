"""Security Hub forwarding against moto in server mode, read back with ``GetFindings``.

Only the selected event types become findings; each is valid ASFF as moto's Security Hub
accepts it, with the event id as finding id, the severity from the outcome and the signed
checkpoint in ``ProductFields``.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from auditlens.core.note import verify_checkpoint
from auditlens.server.forwarding import securityhub
from auditlens.server.forwarding.destination import RetryError
from tests.server.conftest import Api, running_api, sample_event
from tests.server.siem_receivers import wait_for
from tests.server.test_crash import _free_port
from tests.server.test_forwarding import remove, status
from tests.server.test_forwarding_units import batch, records

boto3 = pytest.importorskip("boto3")
moto_server = pytest.importorskip("moto.server")

ACCOUNT = "123456789012"
REGION = "eu-west-1"
CREDENTIALS = "testing-key-id:testing-secret"


@pytest.fixture(scope="module")
def moto() -> Iterator[str]:
    port = _free_port()
    server = moto_server.ThreadedMotoServer(ip_address="127.0.0.1", port=port, verbose=False)
    server.start()
    yield f"http://127.0.0.1:{port}"
    server.stop()


@pytest.fixture(scope="module")
def api(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Api]:
    with running_api("sqlite", tmp_path_factory.mktemp("api"), forwarding_scan_seconds=0.1) as a:
        yield a


def _findings(endpoint: str) -> list[dict[str, Any]]:
    client = boto3.client(
        "securityhub", region_name=REGION, endpoint_url=endpoint,
        aws_access_key_id="testing-key-id", aws_secret_access_key="testing-secret",
    )  # fmt: skip
    found: list[dict[str, Any]] = []
    for page in client.get_paginator("get_findings").paginate():
        found.extend(page["Findings"])
    return found


def test_selected_events_become_findings(api: Api, moto: str) -> None:
    body = {
        "name": "Security Hub",
        "kind": "securityhub",
        "config": {
            "region": REGION, "account_id": ACCOUNT, "endpoint_url": moto,
            "types": ["approval.denied", "auth.login"], "max_wait_seconds": 0.05,
        },
        "secret": CREDENTIALS,
    }  # fmt: skip
    r = api.http.post("/v1/forwarders", json=body, headers=api.auth("admin"))
    assert r.status_code == 201, r.text
    fwd = r.json()
    denied = sample_event(1, type="approval.denied")
    denied["event"] = {"outcome": "failure", "reason": "touches production", "tool": "deploy"}
    events = [sample_event(i) for i in range(150)] + [denied] * 120
    r = api.ingest(events[:1000])
    assert r.status_code == 201, r.text
    first = r.json()["first_index"]
    wait_for(lambda: len(_findings(moto)) >= 120, what="120 findings in Security Hub")
    found = _findings(moto)
    assert len(found) == 120  # the agent.action events were not selected
    sample = next(f for f in found if f["ProductFields"]["auditlens/index"] == str(first + 150))
    assert sample["Severity"]["Label"] == "MEDIUM"
    assert sample["GeneratorId"] == "auditlens/approval.denied"
    assert sample["Types"] == ["Unusual Behaviors/User/approval.denied"]
    assert sample["AwsAccountId"] == ACCOUNT
    note = sample["ProductFields"]["auditlens/checkpoint"]
    assert verify_checkpoint(note, api.state.vkey, api.orgs["acme"].org.origin).size > first + 150
    wait_for(lambda: status(api, fwd)["lag_events"] == 0)
    assert status(api, fwd)["dead_letters"] == 0
    remove(api, fwd)


def test_security_hub_needs_selected_types(api: Api, moto: str) -> None:
    body = {
        "name": "everything",
        "kind": "securityhub",
        "config": {"region": REGION, "account_id": ACCOUNT, "endpoint_url": moto},
    }
    r = api.http.post("/v1/forwarders", json=body, headers=api.auth("admin"))
    assert r.status_code == 422 and "types" in r.text


class _Answering:
    """A Security Hub client stub that answers every ``BatchImportFindings`` with ``answer``."""

    def __init__(self, answer: dict[str, Any]) -> None:
        self.answer = answer

    def batch_import_findings(self, Findings: list[dict[str, Any]]) -> dict[str, Any]:
        return self.answer

    def close(self) -> None:
        pass


@pytest.mark.parametrize(
    "failed",
    [
        {"Id": "not-in-this-batch", "ErrorCode": "InternalFailure", "ErrorMessage": "try later"},
        {"ErrorCode": "InternalFailure", "ErrorMessage": "try later"},
    ],
)
def test_a_refusal_naming_no_finding_of_the_batch_is_retried(failed: dict[str, str]) -> None:
    """FailedFindings whose Ids are none of the batch's cannot say which finding was refused,
    so nothing may go to the dead letters: the whole batch is retried (a finding's Id is the
    event id, so a resend updates, never duplicates), with what Security Hub said."""
    config = securityhub.check_config({"region": REGION, "account_id": ACCOUNT, "types": ["x"]})
    hub = securityhub.connect(config, CREDENTIALS)
    hub.client = _Answering({"SuccessCount": 1, "FailedCount": 1, "FailedFindings": [failed]})
    with pytest.raises(RetryError, match="InternalFailure: try later") as info:
        hub.send(batch(records(2)))
    assert "none of this batch's" in info.value.reason
    hub.close()
