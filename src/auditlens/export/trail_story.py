"""The story of one task, built from its events in log order: pure Python, no Qt, no I/O.

A story builder, not a Qt model (the viewer's list model is :mod:`auditlens.ui.task_trail_model`).
Both faces of the task trail use it: the viewer's timeline (:mod:`auditlens.ui.task_trail`) and
the HTML/PDF report (:mod:`auditlens.export.report_html`). It lives in ``export`` rather than in
``ui`` because the report writer and the offline verifier (which re-renders a report to check
it, without Qt) need it, and ``export`` must not import ``ui``; it is not ``core`` because it is
presentation (headlines, groupings), not a format or a proof.

What it decides (architecture.md §3 field names):

- Steps keep log order; each knows the time since the previous step and since the first one.
- Consecutive ``agent.action`` events of one agent form a *group* under that agent (a header
  row, then the calls); any other event (an approval, a task event) closes the group, so the
  flat :attr:`TaskStory.rows` still reads top-down in log order.
- Approvals are cards linked by ``approval_id``: the request, its decision (approver and, on a
  denial, the reason) and the agent call it gated (an ``agent.action`` carrying the same
  ``approval_id``). Each card and the gated call point at each other (``link``).
- Each step's ``verdict`` is :func:`auditlens.core.summaries.verdict_of`: ``denied`` for a refusal
  (an ``approval.denied``, whose signed outcome is success since the decision was recorded, or
  an action or login refused by policy or permission), ``failure`` for anything else that
  failed, else the signed outcome. ``failed`` and ``denied`` follow it, so a refusal is counted
  and shown as denied, never as a failure and never as a success.
- The outcome is the last ``task.completed`` / ``task.failed`` / ``task.cancelled``; without
  one the task is *running* (the mirror may simply not have its end yet).
- Total duration: first event to the end event, or to the latest event while running.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Literal

import orjson

from auditlens.core.summaries import summarize, verdict_of
from auditlens.core.timestamps import parse_timestamp

__all__ = [
    "Approval",
    "Row",
    "SourceEvent",
    "Step",
    "TaskStory",
    "build_story",
    "format_duration",
    "people_roles",
]

StepKind = Literal["task", "agent", "approval", "other"]
Outcome = Literal["completed", "failed", "cancelled", "running", "empty"]
_ENDS = {"task.completed": "completed", "task.failed": "failed", "task.cancelled": "cancelled"}
_KEY_PARAMS = 4  # key parameters shown under a tool call (the JSON has them all)


@dataclass(frozen=True)
class SourceEvent:
    """One event of the task as read (mirror) or exported (report): where, bytes, verified."""

    idx: int
    raw: bytes
    #: Size of the trusted checkpoint that covers it (None: not covered by one yet).
    checkpoint_size: int | None


@dataclass(frozen=True)
class Step:
    """One event of the task, ready to show."""

    position: int
    idx: int
    id: str
    ts: int
    type: str
    kind: StepKind
    user_id: str | None
    agent_id: str | None
    outcome: str  # the signed event.outcome
    #: What to show: "success", "failure" or "denied" (see the module docstring); "" if unknown.
    verdict: str
    headline: str
    details: tuple[str, ...]
    since_previous_ms: int | None
    since_start_ms: int
    failed: bool
    denied: bool
    approval_id: str | None
    #: The step this one is linked to: approval card -> gated call, gated call -> decision.
    link: int | None
    checkpoint_size: int | None
    raw: bytes

    @property
    def verified(self) -> bool:
        """True when a trusted checkpoint covers the step."""
        return self.checkpoint_size is not None

    @property
    def flagged(self) -> bool:
        """A failure or a denial: what a reviewer must not miss."""
        return self.failed or self.denied


@dataclass(frozen=True)
class Row:
    """One line of the timeline: a group header (``step`` None) or a step."""

    step: Step | None
    #: Header: the agent and its calls in this group; step rows: indent level (0 or 1).
    agent_id: str | None = None
    calls: int = 0
    failures: int = 0
    denials: int = 0
    indent: int = 0


@dataclass(frozen=True)
class Approval:
    """One approval: request, decision and the call it gated (positions into the steps)."""

    approval_id: str
    tool: str
    requested: int | None
    decision: int | None
    state: Literal["approved", "denied", "pending"]
    approver_id: str | None
    reason: str | None
    gated: int | None


@dataclass(frozen=True)
class TaskStory:
    """The whole task: steps, timeline rows, approvals, people, outcome and duration."""

    task_id: str
    title: str
    steps: tuple[Step, ...]
    rows: tuple[Row, ...]
    approvals: tuple[Approval, ...]
    outcome: Outcome
    started_by: str | None  # the user id who created the task (None: scheduled / unknown)
    source: str | None  # task.created's source (web, slack, schedule)
    agents: tuple[str, ...]  # agent ids in order of appearance
    agent_names: Mapping[str, str]
    approvers: tuple[str, ...]  # user ids who decided an approval
    people: tuple[str, ...]  # every user id in the task, in order of appearance
    first_ms: int | None
    last_ms: int | None
    tool_calls: int
    failures: int
    denials: int
    end_error: str | None

    @property
    def running(self) -> bool:
        return self.outcome == "running"

    @property
    def duration_ms(self) -> int:
        """First event to the end (or to the latest event while running)."""
        if self.first_ms is None or self.last_ms is None:
            return 0
        return self.last_ms - self.first_ms

    @property
    def verified_count(self) -> int:
        return sum(1 for s in self.steps if s.verified)


def format_duration(ms: int) -> str:
    """``850 ms``, ``12.4 s``, ``3 min 05 s``, ``2 h 04 min``, ``3 d 4 h``."""
    ms = max(ms, 0)
    if ms < 1_000:
        return f"{ms} ms"
    if ms < 60_000:
        return f"{ms / 1000:.1f} s"
    s = ms // 1000
    if s < 3600:
        return f"{s // 60} min {s % 60:02d} s"
    if s < 86_400:
        return f"{s // 3600} h {s % 3600 // 60:02d} min"
    return f"{s // 86_400} d {s % 86_400 // 3600} h"


def _text(value: object) -> str:
    if isinstance(value, str):
        return value
    return orjson.dumps(value).decode() if value is not None else ""


def _short(text: str, limit: int = 120) -> str:
    text = " ".join(text.split())
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _who(user_id: object, emails: Mapping[str, str]) -> str:
    if not isinstance(user_id, str):
        return "the system"
    return emails.get(user_id, user_id)


def _target(body: Mapping[str, object]) -> str:
    for name in ("url", "path", "language"):
        value = body.get(name)
        if isinstance(value, str) and value:
            return value
    return ""


_Described = tuple[str, list[str]]


def _describe(
    type_: str, body: Mapping[str, object], event: Mapping[str, object], emails: Mapping[str, str]
) -> _Described:
    """The headline and detail lines of one event (display text; never raises)."""
    if type_ in _ENDS:
        return _describe_end(type_, body, emails, event)
    describe = _DESCRIBERS.get(type_)
    if describe is None:
        return f"{type_}: {summarize(event)}".rstrip(": "), []
    return describe(type_, body, event, emails)


def _describe_created(
    type_: str, body: Mapping[str, object], event: Mapping[str, object], emails: Mapping[str, str]
) -> _Described:
    source = _text(body.get("source"))
    who = "schedule" if source == "schedule" else _who(event.get("user_id"), emails)
    details = [f"by {who}" + (f" via {source}" if source and source != "schedule" else "")]
    if body.get("priority"):
        details.append(f"priority {_text(body['priority'])}")
    return f"Task created: {_text(body.get('title'))}", details


def _describe_started(
    type_: str, body: Mapping[str, object], event: Mapping[str, object], emails: Mapping[str, str]
) -> _Described:
    name = _text(body.get("agent_name")) or _text(event.get("agent_id"))
    model = _text(body.get("model"))
    return f"Started by agent {name}" + (f" ({model})" if model else ""), []


def _describe_end(
    type_: str, body: Mapping[str, object], emails: Mapping[str, str], event: Mapping[str, object]
) -> _Described:
    """A task's last event: how long it ran, what it cost, and why it ended."""
    details: list[str] = []
    if isinstance(body.get("duration_ms"), int):
        details.append(f"ran {format_duration(int(body['duration_ms']))}")  # type: ignore[call-overload]
    for name, shown in (("steps", "{} steps"), ("tokens_used", "{} tokens"), ("cost_usd", "${}")):
        if body.get(name) is not None:
            details.append(shown.format(_text(body[name])))
    if type_ == "task.failed":
        return f"Task failed: {_short(_text(body.get('error')) or 'no error given')}", details
    if type_ == "task.cancelled":
        who = _who(body.get("cancelled_by") or event.get("user_id"), emails)
        reason = _text(body.get("reason"))
        return f"Task cancelled by {who}" + (f": {_short(reason)}" if reason else ""), details
    return "Task completed", details


def _describe_action(
    type_: str, body: Mapping[str, object], event: Mapping[str, object], emails: Mapping[str, str]
) -> _Described:
    details: list[str] = []
    params = body.get("params")
    if isinstance(params, Mapping):
        shown = [f"{k}={_short(_text(v), 60)}" for k, v in list(params.items())[:_KEY_PARAMS]]
        more = len(params) - _KEY_PARAMS
        details.append(", ".join(shown) + (f", +{more} more" if more > 0 else ""))
    if isinstance(body.get("duration_ms"), int):
        details.append(format_duration(int(body["duration_ms"])))  # type: ignore[call-overload]
    tool = _text(body.get("tool"))
    headline = summarize(event) or f"{tool} {_target(body)}".strip() or "tool call"
    if body.get("outcome") == "failure" and "failed" not in headline:
        details.append(f"error: {_short(_text(body.get('error')) or 'unknown')}")
    return headline, details


def _describe_request(
    type_: str, body: Mapping[str, object], event: Mapping[str, object], emails: Mapping[str, str]
) -> _Described:
    details = [f"{name} {_text(body[name])}" for name in ("policy", "risk") if body.get(name)]
    return f"Approval requested: {_text(body.get('tool'))} {_target(body)}".strip(), details


def _describe_decision(
    type_: str, body: Mapping[str, object], event: Mapping[str, object], emails: Mapping[str, str]
) -> _Described:
    who = _who(body.get("approver_id") or event.get("user_id"), emails)
    reason = _text(body.get("reason"))
    tool = _text(body.get("tool"))
    verb = "Approved" if type_ == "approval.approved" else "DENIED"
    details = [f"reason: {_short(reason, 200)}"] if reason else []
    return f"{verb} by {who}" + (f" ({tool})" if tool else ""), details


_DESCRIBERS = {
    "task.created": _describe_created,
    "task.started": _describe_started,
    "agent.action": _describe_action,
    "approval.requested": _describe_request,
    "approval.approved": _describe_decision,
    "approval.denied": _describe_decision,
}


def _parse(raw: bytes) -> Mapping[str, object]:
    try:
        obj = orjson.loads(raw)
    except orjson.JSONDecodeError:
        obj = None
    return obj if isinstance(obj, dict) else {"type": "unreadable"}


def _note_approval_step(
    card: dict[str, object],
    *,
    type_: str,
    position: int,
    body: Mapping[str, object],
    user_id: str | None,
    details: list[str],
) -> str | None:
    """Record on an approval's card where this step is (request, decision or the gated call);
    a gated call's details name the approval. Returns the approver of a decision."""
    if type_ == "approval.requested":
        card["requested"] = position
    elif type_ in ("approval.approved", "approval.denied"):
        card["decision"] = position
        card["state"] = "approved" if type_ == "approval.approved" else "denied"
        approver = body.get("approver_id") or user_id
        card["approver"] = approver if isinstance(approver, str) else None
        card["reason"] = _text(body.get("reason")) or None
        return approver if isinstance(approver, str) else None
    elif type_ == "agent.action":
        card["gated"] = position
        details.append(f"gated by approval {body.get('approval_id')}")
        if isinstance(card.get("decision"), int):
            details[-1] += f" (step #{int(card['decision']) + 1})"  # type: ignore[call-overload]
    return None


def _timestamp_of(event: Mapping[str, object], fallback: int) -> int:
    """The event's time; an unreadable one sits at the previous step's (order is the log's)."""
    try:
        return parse_timestamp(_text(event.get("timestamp")))
    except ValueError:
        return fallback


def _kind_of(type_: str) -> StepKind:
    if type_.startswith("task."):
        return "task"
    if type_ == "agent.action":
        return "agent"
    if type_.startswith("approval."):
        return "approval"
    return "other"


def _note_cast(
    body: Mapping[str, object],
    user_id: str | None,
    agent_id: str | None,
    *,
    people: list[str],
    agents: list[str],
    agent_names: dict[str, str],
) -> None:
    """Add the people and agents one step involves, in order of first appearance."""
    for uid in (user_id, body.get("approver_id"), body.get("cancelled_by")):
        if isinstance(uid, str) and uid not in people:
            people.append(uid)
    if agent_id is None:
        return
    if agent_id not in agents:
        agents.append(agent_id)
    if isinstance(body.get("agent_name"), str):
        agent_names.setdefault(agent_id, str(body["agent_name"]))


def build_story(
    task_id: str, events: Sequence[SourceEvent], emails: Mapping[str, str] | None = None
) -> TaskStory:
    """Build the story of ``task_id`` from its events in log order (see the module docstring).

    ``emails`` (``user_id -> email``) only changes how people are named. Events whose bytes are
    not a JSON object are shown as such (the verifier, not this model, judges bytes).
    """
    emails = emails or {}
    ordered = sorted(events, key=lambda e: e.idx)
    first_ms: int | None = None
    prev_ms: int | None = None
    drafts: list[dict[str, object]] = []
    approvals: dict[str, dict[str, object]] = {}
    agents: list[str] = []
    agent_names: dict[str, str] = {}
    people: list[str] = []
    approvers: list[str] = []
    outcome: Outcome = "running" if ordered else "empty"
    started_by: str | None = None
    source_of_task: str | None = None
    title = ""
    end_error: str | None = None
    for position, source in enumerate(ordered):
        # Parsed one at a time and dropped: only the story is kept (see _parse).
        event = _parse(source.raw)
        body_obj = event.get("event")
        body: Mapping[str, object] = body_obj if isinstance(body_obj, Mapping) else {}
        type_ = _text(event.get("type"))
        ts = _timestamp_of(event, prev_ms or 0)
        if first_ms is None:
            first_ms = ts
        kind = _kind_of(type_)
        raw_user, raw_agent = event.get("user_id"), event.get("agent_id")
        user_id = raw_user if isinstance(raw_user, str) else None
        agent_id = raw_agent if isinstance(raw_agent, str) else None
        _note_cast(body, user_id, agent_id, people=people, agents=agents, agent_names=agent_names)
        if type_ == "task.created":
            started_by = user_id
            source_of_task = _text(body.get("source")) or None
            title = _text(body.get("title"))
        elif not title and isinstance(body.get("title"), str):
            title = str(body["title"])
        if type_ in _ENDS:
            outcome = _ENDS[type_]  # type: ignore[assignment]
            end_error = _text(body.get("error")) or _text(body.get("reason")) or None
        approval_id = body.get("approval_id") if isinstance(body.get("approval_id"), str) else None
        headline, details = _describe(type_, body, event, emails)
        verdict = verdict_of(event)
        if approval_id is not None:
            card = approvals.setdefault(
                str(approval_id),
                {"tool": _text(body.get("tool")), "requested": None, "decision": None},
            )
            approver = _note_approval_step(
                card, type_=type_, position=position, body=body, user_id=user_id, details=details
            )
            if approver is not None and approver not in approvers:
                approvers.append(approver)
        drafts.append(
            {
                "position": position,
                "idx": source.idx,
                "id": _text(event.get("id")),
                "ts": ts,
                "type": type_,
                "kind": kind,
                "user_id": user_id,
                "agent_id": agent_id,
                "outcome": _text(body.get("outcome")),
                "verdict": verdict,
                "headline": _short(headline, 160),
                "details": details,
                "since_previous_ms": None if prev_ms is None else ts - prev_ms,
                "since_start_ms": ts - first_ms,
                "failed": verdict == "failure",
                "denied": verdict == "denied",
                "approval_id": approval_id,
                "link": None,
                "checkpoint_size": source.checkpoint_size,
                "raw": source.raw,
            }
        )
        prev_ms = ts

    # Link each approval's cards and its gated call to one another.
    cards: list[Approval] = []
    for approval_id, card in approvals.items():
        requested = card.get("requested")
        decision = card.get("decision")
        gated = card.get("gated")
        for pos, target in ((requested, decision), (decision, gated), (gated, decision)):
            if isinstance(pos, int) and isinstance(target, int):
                drafts[pos]["link"] = target
        if isinstance(requested, int) and decision is None and isinstance(gated, int):
            drafts[requested]["link"] = gated
        if isinstance(decision, int) and isinstance(gated, int):
            details_of = drafts[decision]["details"]
            assert isinstance(details_of, list)
            details_of.append(f"gated step #{gated + 1}")
        cards.append(
            Approval(
                approval_id=approval_id,
                tool=str(card.get("tool") or ""),
                requested=requested if isinstance(requested, int) else None,
                decision=decision if isinstance(decision, int) else None,
                state=card.get("state", "pending"),  # type: ignore[arg-type]
                approver_id=card.get("approver"),  # type: ignore[arg-type]
                reason=card.get("reason"),  # type: ignore[arg-type]
                gated=gated if isinstance(gated, int) else None,
            )
        )
    steps = tuple(Step(**{**d, "details": tuple(d["details"])}) for d in drafts)  # type: ignore[arg-type]
    return TaskStory(
        task_id=task_id,
        title=title,
        steps=steps,
        rows=_rows(steps),
        approvals=tuple(cards),
        outcome=outcome,
        started_by=started_by,
        source=source_of_task,
        agents=tuple(agents),
        agent_names=agent_names,
        approvers=tuple(approvers),
        people=tuple(people),
        first_ms=first_ms,
        last_ms=prev_ms,
        tool_calls=sum(1 for s in steps if s.kind == "agent"),
        failures=sum(1 for s in steps if s.failed),
        denials=sum(1 for s in steps if s.denied),
        end_error=end_error,
    )


def _rows(steps: Sequence[Step]) -> tuple[Row, ...]:
    """Timeline rows: runs of one agent's tool calls under a header row, the rest flat."""
    rows: list[Row] = []
    i = 0
    while i < len(steps):
        step = steps[i]
        if step.kind != "agent":
            rows.append(Row(step))
            i += 1
            continue
        j = i
        while j < len(steps) and steps[j].kind == "agent" and steps[j].agent_id == step.agent_id:
            j += 1
        group = steps[i:j]
        rows.append(
            Row(
                None,
                agent_id=step.agent_id,
                calls=len(group),
                failures=sum(1 for s in group if s.failed),
                denials=sum(1 for s in group if s.denied),
            )
        )
        rows.extend(Row(s, indent=1) for s in group)
        i = j
    return tuple(rows)


def people_roles(story: TaskStory) -> dict[str, list[str]]:
    """What each person in ``story.people`` did in the task, in that order (both reports' People
    table): started it, approved or denied a gated call, cancelled it, else "acted in the task".
    """
    roles: dict[str, list[str]] = {}
    if story.started_by:
        roles.setdefault(story.started_by, []).append("started the task")
    for a in story.approvals:
        if a.approver_id:
            roles.setdefault(a.approver_id, []).append(f"{a.state} {a.approval_id}")
    for s in story.steps:
        if s.type == "task.cancelled" and s.user_id:
            roles.setdefault(s.user_id, []).append("cancelled the task")
    return {uid: roles.get(uid, ["acted in the task"]) for uid in story.people}
