"""The task story model (pure): order, grouping, approval links, flags, outcome, duration."""

from __future__ import annotations

import orjson

from auditlens.core.canonical import canonicalize_event
from auditlens.export.trail_story import SourceEvent, TaskStory, build_story, format_duration
from tests.export.trail_seed import AGENT_A, AGENT_B, FAILED_CALLS, RUNNING, TASK, seeded_events

EMAILS = {"usr_alice": "alice@acme.test", "usr_bob": "bob@acme.test", "usr_carol": "c@acme.test"}


def story_of(task: str, calls: int = 30) -> TaskStory:
    events = [e for e in seeded_events(calls) if e["task_id"] == task]
    sources = [SourceEvent(i * 3, canonicalize_event(e), 1000) for i, e in enumerate(events)]
    return build_story(task, sources, EMAILS)


def test_steps_keep_log_order_with_gaps_between_them() -> None:
    story = story_of(TASK)
    assert [s.idx for s in story.steps] == sorted(s.idx for s in story.steps)
    assert story.steps[0].type == "task.created" and story.steps[-1].type == "task.failed"
    assert story.steps[0].since_previous_ms is None
    assert all(s.since_previous_ms and s.since_previous_ms > 0 for s in story.steps[1:])


def test_tool_calls_are_grouped_under_the_agent_that_made_them() -> None:
    story = story_of(TASK)
    headers = [(r.agent_id, r.calls, r.failures) for r in story.rows if r.step is None]
    # 30 calls by A, the gated call by A after the approval cards, then 3 calls by B.
    assert headers == [(AGENT_A, 30, len(FAILED_CALLS)), (AGENT_A, 1, 0), (AGENT_B, 3, 0)]
    shown = [r.step.position for r in story.rows if r.step is not None]
    assert shown == list(range(len(story.steps)))  # every step once, in order
    assert all(r.indent == 1 for r in story.rows if r.step and r.step.kind == "agent")


def test_approvals_link_request_decision_and_gated_call() -> None:
    story = story_of(TASK)
    first, second = story.approvals
    assert (first.approval_id, first.state, first.approver_id) == ("apr_1", "approved", "usr_bob")
    assert first.gated is not None and story.steps[first.gated].type == "agent.action"
    assert story.steps[first.decision].link == first.gated  # type: ignore[index]
    assert story.steps[first.gated].link == first.decision
    assert (second.state, second.reason, second.gated) == (
        "denied",
        "Touches production on a Friday",
        None,
    )
    denial = story.steps[second.decision]  # type: ignore[index]
    assert denial.denied and denial.flagged and not denial.failed
    assert "c@acme.test" in denial.headline
    assert any("Touches production" in d for d in denial.details)


def test_failures_are_flagged_and_counted() -> None:
    story = story_of(TASK)
    failed = [s for s in story.steps if s.failed]
    assert len(failed) == len(FAILED_CALLS) + 1  # the two calls and task.failed
    assert story.failures == 3 and story.denials == 1
    assert any("exit 1" in s.headline or "exit 1" in " ".join(s.details) for s in failed)


def test_outcome_people_and_duration() -> None:
    story = story_of(TASK)
    assert story.outcome == "failed" and not story.running
    assert story.started_by == "usr_alice"
    assert story.approvers == ("usr_bob", "usr_carol")
    assert story.agents == (AGENT_A, AGENT_B)
    assert story.duration_ms == story.steps[-1].ts - story.steps[0].ts > 0
    assert story.tool_calls == 34
    assert story.verified_count == len(story.steps)


def test_a_task_without_end_event_is_running() -> None:
    story = story_of(RUNNING)
    assert story.outcome == "running" and story.running
    assert len(story.steps) == 3


def test_unreadable_bytes_do_not_break_the_story() -> None:
    story = build_story("t", [SourceEvent(0, b"not json", None)])
    assert story.steps[0].type == "unreadable" and not story.steps[0].verified
    assert orjson.loads(b"{}") == {}


def test_format_duration() -> None:
    assert format_duration(850) == "850 ms"
    assert format_duration(12_400) == "12.4 s"
    assert format_duration(185_000) == "3 min 05 s"
    assert format_duration(7_440_000) == "2 h 04 min"


def refused_task() -> TaskStory:
    """A task whose agent is refused by policy once, fails once, and succeeds otherwise."""
    from tests.ui.mirror_factory import event_dict

    def ev(n: int, type_: str, **kw: object) -> bytes:
        kw.setdefault("user_id", "usr_alice")
        event = event_dict(1_000_000 + n * 1000, type_, id_=f"log_{n}", task_id="t",
                           agent_id=AGENT_A, **kw)  # type: ignore[arg-type]  # fmt: skip
        return canonicalize_event(event)

    raws = [
        ev(0, "task.created", title="Refused"),
        ev(1, "agent.action", tool="db.write", outcome="failure", error={"code": "forbidden"}),
        ev(2, "agent.action", tool="shell.run", outcome="failure", error="exit 1"),
        ev(3, "agent.action", tool="file.read", path="a"),
        ev(4, "task.completed"),
    ]
    return build_story("t", [SourceEvent(i, raw, 10) for i, raw in enumerate(raws)], EMAILS)


def test_refusals_are_denied_not_failed_nor_successful() -> None:
    story = refused_task()
    verdicts = [s.verdict for s in story.steps]
    assert verdicts == ["success", "denied", "failure", "success", "success"]
    refused = story.steps[1]
    assert refused.denied and not refused.failed and refused.flagged
    assert refused.outcome == "failure"  # the signed outcome is kept as it is
    assert (story.failures, story.denials) == (1, 1)
    header = next(r for r in story.rows if r.step is None)
    assert (header.calls, header.failures, header.denials) == (3, 1, 1)
    # The denied approval of the seeded task: its signed outcome is success, its verdict denied.
    denial = next(s for s in story_of(TASK).steps if s.type == "approval.denied")
    assert (denial.outcome, denial.verdict) == ("success", "denied")
