"""An optional OCSF 1.5.0 rendering of audit events, for SIEMs that normalize on OCSF.

Three classes, chosen by event type:

* Authentication (3002, Identity & Access Management): ``auth.login`` and ``auth.sso``
  (Logon), ``auth.logout`` (Logoff); ``user`` is the event's user.
* Account Change (3001): ``team.member_invited`` and ``auth.api_key.created`` (Create),
  ``team.member_removed`` and ``auth.api_key.deleted`` (Delete), ``team.role_changed`` (Other,
  "Role Change"); ``user`` is the account changed (member email / key) or the event's user.
* API Activity (6003, Application Activity) for everything else: ``api.operation`` is the
  event type, ``actor`` the user and/or agent, ``src_endpoint`` the request's address when the
  event has one (else the agent or ``auditlens``); ``activity_id`` Create for ``*.created`` and
  ``*.requested``, Delete for ``*.deleted`` / ``*.removed``, Update for ``*.changed``, else
  Other.

Common to all: ``time`` (ms), ``status_id`` from the outcome, ``severity_id`` Informational,
Low for a failure, Medium for a denial; ``metadata.uid`` the event id, ``metadata.sequence``
its log index, ``metadata.log_name`` the log's origin; ``raw_data`` the exact canonical JSON
(what ``auditlens verify`` hashes); ``unmapped.auditlens`` the index, id and the signed
checkpoint. Enabled per destination with ``format: "ocsf"`` (HEC, Datadog, webhook).
"""

from __future__ import annotations

from typing import Any

import orjson

from auditlens.core.summaries import summarize, verdict_of
from auditlens.server.forwarding.destination import Batch, Record

VERSION = "1.5.0"
_PRODUCT = {"name": "auditlens", "vendor_name": "auditlens"}

_AUTH = {"auth.login": (1, "Logon"), "auth.sso": (1, "Logon"), "auth.logout": (2, "Logoff")}
_ACCOUNT = {
    "team.member_invited": (1, "Create"),
    "auth.api_key.created": (1, "Create"),
    "team.member_removed": (6, "Delete"),
    "auth.api_key.deleted": (6, "Delete"),
    "team.role_changed": (99, "Role Change"),
}


def _api_activity(kind: str) -> tuple[int, str]:
    last = kind.rsplit(".", 1)[-1]
    if last in ("created", "requested"):
        return 1, "Create"
    if last in ("deleted", "removed"):
        return 4, "Delete"
    if last.endswith("changed"):
        return 3, "Update"
    return 99, "Other"


def render(rec: Record, batch: Batch) -> dict[str, Any]:
    """The OCSF object of one audit event."""
    event = orjson.loads(rec.body)
    body = event.get("event") or {}
    verdict = verdict_of(event)
    failed = verdict in ("failure", "denied")
    user = {"uid": event["user_id"]} if event.get("user_id") else {}
    common: dict[str, Any] = {
        "time": rec.ts_ms,
        "message": summarize(event),
        "severity_id": {"denied": 3, "failure": 2}.get(verdict, 1),
        "status_id": 2 if failed else 1,
        "status": "Failure" if failed else "Success",
        "metadata": {
            "version": VERSION,
            "product": _PRODUCT,
            "uid": rec.id,
            "sequence": rec.index,
            "log_name": batch.origin,
        },
        "raw_data": rec.body.decode("utf-8"),
        "unmapped": {
            "auditlens": {"index": rec.index, "id": rec.id, "checkpoint": batch.checkpoint}
        },
    }
    if failed and isinstance(body.get("failure_reason") or body.get("reason"), str):
        common["status_detail"] = body.get("failure_reason") or body.get("reason")
    if rec.type in _AUTH:
        class_uid, category_uid = 3002, 3
        activity_id, activity_name = _AUTH[rec.type]
        specific: dict[str, Any] = {"user": user or {"uid": "unknown"}}
    elif rec.type in _ACCOUNT:
        class_uid, category_uid = 3001, 3
        activity_id, activity_name = _ACCOUNT[rec.type]
        target: dict[str, Any] = dict(user)
        if isinstance(body.get("member_email"), str):
            target = {"email_addr": body["member_email"], "uid": body.get("member_id")}
        elif isinstance(body.get("key_id"), str):
            target = {"uid": body["key_id"], "name": body.get("key_name"), "type": "API key"}
        specific = {"user": {k: v for k, v in target.items() if v is not None} or user}
    else:
        class_uid, category_uid = 6003, 6
        activity_id, activity_name = _api_activity(rec.type)
        actor: dict[str, Any] = {}
        if user:
            actor["user"] = user
        if event.get("agent_id"):
            actor["app_name"] = event["agent_id"]
        raw_request = body.get("request")
        request: dict[str, Any] = raw_request if isinstance(raw_request, dict) else {}
        if request.get("ip"):
            endpoint = {"ip": request["ip"]}
        else:
            endpoint = {"name": event.get("agent_id") or "auditlens"}
        specific = {
            "actor": actor or {"app_name": "auditlens"},
            "api": {"operation": rec.type, "service": {"name": "auditlens"}},
            "src_endpoint": endpoint,
        }
    return {
        "class_uid": class_uid,
        "category_uid": category_uid,
        "activity_id": activity_id,
        "activity_name": activity_name,
        "type_uid": class_uid * 100 + activity_id,
        **common,
        **specific,
    }


def render_bytes(rec: Record, batch: Batch) -> bytes:
    return orjson.dumps(render(rec, batch))
