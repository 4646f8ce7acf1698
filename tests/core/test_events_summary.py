"""One-line summaries (viewer Summary column, task trail, CSV) and ``outcome_of``."""

from __future__ import annotations

import pytest

from auditlens.core.events import EVENT_TYPES
from auditlens.core.summaries import outcome_of, summarize


def ev(event_type: str, **body: object) -> dict[str, object]:
    return {"type": event_type, "event": {"outcome": "success", **body}}


@pytest.mark.parametrize(
    ("event", "summary"),
    [
        (ev("agent.action", tool="browser.navigate", url="https://docs.example.com/api"),
         "browser.navigate https://docs.example.com/api"),
        (ev("agent.action", tool="file.write", path="/src/app.py"), "file.write /src/app.py"),
        (ev("agent.action", tool="code.execute", language="python", params={"code": "x=1"}),
         "code.execute python"),
        (ev("agent.action", tool="shell.run", params={"command": "make test"}),
         "shell.run make test"),
        (ev("approval.denied", reason="touches production"), "denied: touches production"),
        (ev("approval.requested", tool="file.delete", params={"path": "/etc/hosts"}),
         "approval requested for file.delete /etc/hosts"),
        (ev("approval.approved", approver_id="usr_1"), "approved by usr_1"),
        (ev("task.created", title="Summarize Q3 report"), "Summarize Q3 report"),
        (ev("task.completed", duration_ms=4230), "completed in 4.2 s"),
        (ev("task.failed", outcome="failure", error="timeout after 30 s"),
         "failed: timeout after 30 s"),
        (ev("task.cancelled", cancelled_by="usr_2", duration_ms=200_000),
         "cancelled by usr_2 after 3 min 20 s"),
        (ev("billing.plan_changed", from_plan="business", to_plan="enterprise",
            direction="upgrade"), "business -> enterprise (upgrade)"),
        (ev("billing.usage_alert", metric="agent_minutes", value=9500, threshold=10000),
         "agent_minutes at 9,500 (threshold 10,000)"),
        (ev("team.member_invited", member_email="bob@x.com", role="admin"),
         "invited bob@x.com as admin"),
        (ev("team.role_changed", member_email="bob@x.com", from_role="member", to_role="admin"),
         "bob@x.com: member -> admin"),
        (ev("team.member_removed", member_id="usr_9"), "removed usr_9"),
        (ev("auth.login", outcome="failure", failure_reason="bad password"),
         "failed: bad password"),
        (ev("auth.login", method="password"), "signed in with password"),
        (ev("auth.login", method="sso", provider="okta"), "signed in via SSO (okta)"),
        (ev("auth.api_key.created", key_name="ci", key_prefix="al_3f9a"),
         'created API key "ci" (al_3f9a…)'),
        (ev("integration.connected", integration="github"), "connected github"),
        (ev("audit.exported", count=12345, format="csv"), "exported 12,345 events as csv"),
        (ev("audit.retention_pruned", min_index=2048, policy_days=90),
         "pruned entries below index 2,048 (90-day policy)"),
    ],
)  # fmt: skip
def test_summary_per_type(event: dict[str, object], summary: str) -> None:
    assert summarize(event) == summary


def test_failed_action_appends_the_error() -> None:
    event = ev("agent.action", outcome="failure", tool="file.write", path="/a", error="EACCES")
    assert summarize(event) == "file.write /a (failed: EACCES)"


def test_error_objects_show_their_message() -> None:
    event = ev("integration.credential_refreshed", outcome="failure", integration="slack",
               error={"code": "invalid_grant", "message": "token revoked"})  # fmt: skip
    assert summarize(event) == "refreshed slack credentials (failed: token revoked)"


def test_failed_login_without_reason() -> None:
    assert summarize(ev("auth.login", outcome="failure")) == "failed"


def test_long_urls_are_shortened_in_the_middle_keeping_the_file_name() -> None:
    url = "https://example.com/" + "a" * 300 + "/final.html"
    summary = summarize(ev("agent.action", tool="browser.navigate", url=url))
    assert summary.startswith("browser.navigate https://example.com/aaa")
    assert summary.endswith("/final.html") and "…" in summary and len(summary) < 110


def test_long_text_is_cut_at_the_end_and_stays_one_line() -> None:
    summary = summarize(ev("approval.denied", reason="line one\nline two\t" + "x" * 500))
    assert summary.startswith("denied: line one line two x") and summary.endswith("…")
    assert "\n" not in summary and len(summary) <= 200


@pytest.mark.parametrize("event_type", sorted(EVENT_TYPES))
def test_every_type_summarizes_even_without_fields(event_type: str) -> None:
    assert isinstance(summarize({"type": event_type, "event": {"outcome": "success"}}), str)
    assert summarize({"type": event_type, "event": {"outcome": "failure"}})


@pytest.mark.parametrize("event", [{}, {"type": 5, "event": [1]}, {"type": "x.y", "event": None}])
def test_malformed_events_summarize_to_empty_without_raising(event: dict[str, object]) -> None:
    assert summarize(event) == ""


def test_outcome_of() -> None:
    assert outcome_of(ev("auth.logout")) == "success"
    assert outcome_of(ev("auth.logout", outcome="failure")) == "failure"
    assert outcome_of({"event": {}}) == ""
    assert outcome_of({}) == ""


def test_verdict_tells_refusals_from_failures_and_successes() -> None:
    from auditlens.core.summaries import verdict_of

    def ev(kind: str, **body: object) -> dict[str, object]:
        return {"type": kind, "event": body}

    assert verdict_of(ev("approval.denied", outcome="success", reason="too risky")) == "denied"
    assert verdict_of(ev("approval.approved", outcome="success")) == "success"
    assert (
        verdict_of(ev("auth.login", outcome="failure", failure_reason="rate_limited")) == "denied"
    )
    assert verdict_of(ev("auth.login", outcome="failure", failure_reason="invalid_password")) == (
        "failure"
    )
    assert verdict_of(ev("agent.action", outcome="failure", error={"code": "forbidden"})) == (
        "denied"
    )
    assert verdict_of(ev("agent.action", outcome="failure", error="timeout")) == "failure"
    assert verdict_of(ev("agent.action", outcome="success", reason="forbidden")) == "success"
    assert verdict_of({"type": "task.created"}) == ""
