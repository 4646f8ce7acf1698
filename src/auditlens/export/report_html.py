"""The task report as one self-contained HTML file, and how to read its data back.

Pure functions, no I/O, no Qt: :mod:`auditlens.export.report` writes what :func:`render_report`
returns, and the offline verifier (:mod:`auditlens.export.verify`) calls :func:`extract_report`
and :func:`render_report` again. The verifier imports this module, so it must stay free of Qt,
SQLAlchemy and the mirror.

Layout: the visible report (summary, timeline, approvals, people and agents, verification and
how to verify) with inline CSS and no external asset, followed by three data blocks::

    <script type="application/json" id="auditlens-report">{task_id, generated_at, ...}</script>
    <script type="application/json" id="auditlens-events">[event, event, ...]</script>
    <script type="application/json" id="auditlens-evidence">{auditlens-evidence/2}</script>

The events are the exported event objects in log order (one per line) and the evidence is the
``auditlens-evidence/2`` object of a JSON export (:mod:`auditlens.core.evidence`), so the same
verification applies. ``<``, ``>`` and ``&`` inside the JSON are written as ``\\u003c`` etc. (valid
JSON, and no event text can close the script element).

Why the visible part is bound to the data: a report is read by people, so editing a reason in
the timeline while leaving the data blocks intact must not pass. Rendering is deterministic (it
depends only on the data blocks), so the verifier re-renders the whole file from the verified
data and requires byte equality (FILE_MODIFIED otherwise). A report made by another auditlens
version may render differently; the verifier then says the visible part was not checked. So any
change to what this module outputs must come with a new auditlens version: otherwise reports
made before the change would be reported as edited.
"""

from __future__ import annotations

import html
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import orjson

from auditlens.core import canonical
from auditlens.core.errors import FormatError
from auditlens.core.evidence import Evidence
from auditlens.core.timestamps import format_timestamp
from auditlens.export.trail_story import (
    Row,
    SourceEvent,
    Step,
    TaskStory,
    build_story,
    format_duration,
    people_roles,
)

__all__ = ["REPORT_FORMAT", "ExtractedReport", "ReportInput", "extract_report", "render_report"]

REPORT_FORMAT = "auditlens-task-report/1"
#: (text colour, row background) of what a reader must not miss, shared with the PDF and the
#: trail window. A refusal has its own colour: it is not a failure (nothing broke) and must not
#: read as a success.
PALETTE = {"failure": ("#8e1b1b", "#fdecea"), "denied": ("#a64b00", "#fff1e0")}
_BLOCK = re.compile(
    rb'<script type="application/json" id="auditlens-(report|events|evidence)">(.*?)</script>',
    re.DOTALL,
)


@dataclass(frozen=True)
class ReportInput:
    """Everything a report shows; all of it is embedded, so the report can be re-rendered."""

    task_id: str
    generated_at: str  # RFC 3339 UTC with Z (the export time of the evidence)
    auditlens_version: str
    users: Mapping[str, str]  # user_id -> email, for the people of the task only
    events: Sequence[bytes]  # the canonical bytes of the task's events, in log order
    evidence: Evidence

    @property
    def filter_text(self) -> str:
        return f"task_id={self.task_id}"

    def story(self) -> TaskStory:
        size = self.evidence.tree_size
        indexes = self.evidence.index_array()
        sources = [
            SourceEvent(int(idx), raw, size) for idx, raw in zip(indexes, self.events, strict=False)
        ]
        return build_story(self.task_id, sources, self.users)


@dataclass(frozen=True)
class ExtractedReport:
    """The data blocks of a report file, parsed (not yet verified)."""

    meta: Mapping[str, object]
    events: list[object]
    evidence: object


def _script_json(data: bytes) -> str:
    return (
        data.decode("utf-8").replace("&", "\\u0026").replace("<", "\\u003c").replace(">", "\\u003e")
    )


def _e(text: object) -> str:
    return html.escape(str(text), quote=True)


_CSS = """
body { font-family: "DejaVu Sans", "Segoe UI", Helvetica, Arial, sans-serif; color: #1d2733;
  background: #ffffff; margin: 24px; font-size: 10pt; }
h1 { font-size: 16pt; margin: 0 0 4px 0; color: #1f3a5f; }
h2 { font-size: 12pt; color: #1f3a5f; border-bottom: 1px solid #dde3ea; padding-bottom: 3px;
  margin-top: 22px; }
.muted { color: #51606f; }
.mono { font-family: "DejaVu Sans Mono", Menlo, Consolas, monospace; font-size: 8.5pt; }
table { border-collapse: collapse; width: 100%; }
th { background: #eef2f6; color: #33414f; text-align: left; padding: 4px 6px;
  border-bottom: 1px solid #cfd8e2; }
td { padding: 3px 6px; border-bottom: 1px solid #edf1f5; vertical-align: top; }
td.num { text-align: right; white-space: nowrap; }
.badge { font-weight: bold; padding: 2px 8px; border-radius: 3px; }
.completed { background: #e3f2e8; color: #1e5a37; }
.failed, .cancelled { background: #fdecea; color: #8e1b1b; }
.running { background: #fff4e5; color: #7a4b00; }
tr.group td { background: #f0f4f9; color: #1f3a5f; font-weight: bold; }
tr.fail td { background: #fdecea; }
tr.fail td.what { color: #8e1b1b; }
tr.deny td { background: DENIED_BG; }
tr.deny td.what { color: DENIED; font-weight: bold; }
td.denied { color: DENIED; font-weight: bold; }
td.failure { color: FAILURE; font-weight: bold; }
tr.card td { background: #f3f0fa; }
tr.task td { background: #f7f9fb; }
td.what .details { color: #51606f; font-size: 9pt; }
.summary td { border: none; padding: 2px 12px 2px 0; }
pre { background: #f5f7fa; border: 1px solid #dde3ea; padding: 6px; white-space: pre-wrap;
  word-break: break-all; font-size: 8.5pt; }
.verified { color: #1e5a37; font-weight: bold; }
""".replace("DENIED_BG", PALETTE["denied"][1]).replace("DENIED", PALETTE["denied"][0])
_CSS = _CSS.replace("FAILURE", PALETTE["failure"][0])


def person(user_id: str | None, users: Mapping[str, str]) -> str:
    if user_id is None:
        return "system"
    return users.get(user_id, user_id)


def summary_rows(story: TaskStory, users: Mapping[str, str]) -> list[tuple[str, str]]:
    """The summary as ``(label, plain text)`` rows, shared by the HTML report and the PDF."""
    outcome = story.outcome
    label = {"running": "RUNNING (no end event yet)", "empty": "NO EVENTS"}.get(
        outcome, outcome.upper()
    )
    first = format_timestamp(story.first_ms) if story.first_ms is not None else "-"
    last = format_timestamp(story.last_ms) if story.last_ms is not None else "-"
    started_by = (
        "a schedule"
        if story.source == "schedule"
        else person(story.started_by, users)
        if story.started_by
        else "unknown"
    )
    agents = ", ".join(
        f"{story.agent_names.get(a, a)} ({a})" if a in story.agent_names else a
        for a in story.agents
    )
    duration = format_duration(story.duration_ms) + (" so far" if story.running else "")
    rows = [
        ("Outcome", label),
        ("Total duration", duration),
        ("Started", f"{first} by {started_by}"),
        ("Last event", last),
        ("Agents", agents or "none"),
        ("Approvers", ", ".join(person(u, users) for u in story.approvers) or "none"),
        (
            "Steps",
            f"{len(story.steps)} events: {story.tool_calls} tool calls, "
            f"{story.failures} failed, {story.denials} denied, {len(story.approvals)} "
            f"approval{'' if len(story.approvals) == 1 else 's'}",
        ),
    ]
    if story.end_error and outcome in ("failed", "cancelled"):
        rows.insert(1, ("Why", story.end_error))
    return rows


def _summary(story: TaskStory, inp: ReportInput) -> list[str]:
    out = ['<table class="summary">']
    for key, text in summary_rows(story, inp.users):
        value = (
            f'<span class="badge {_e(story.outcome)}">{_e(text)}</span>'
            if key == "Outcome"
            else _e(text)
        )
        out.append(f"<tr><td><b>{key}</b></td><td>{value}</td></tr>")
    out.append("</table>")
    return out


def _step_class(step: Step) -> str:
    if step.denied:
        return "deny"
    if step.failed:
        return "fail"
    if step.kind == "approval":
        return "card"
    if step.kind == "task":
        return "task"
    return "step"


_TIMELINE_HEAD = (
    '<tr><th width="3%">#</th><th width="16%">Time (UTC)</th><th width="8%">+</th>'
    '<th width="44%">What</th><th width="14%">Who</th><th width="8%">Outcome</th>'
    '<th width="7%">Index</th></tr>'
)


def _table(head: str, rows: Sequence[str]) -> list[str]:
    return ["<table>", head, *rows, "</table>"]


def _timeline(story: TaskStory, users: Mapping[str, str]) -> list[str]:
    return _table(_TIMELINE_HEAD, [_timeline_row(row, story, users) for row in story.rows])


def _timeline_row(row: Row, story: TaskStory, users: Mapping[str, str]) -> str:
    step = row.step
    if step is None:
        name = story.agent_names.get(row.agent_id or "", row.agent_id or "no agent")
        failed = f", {row.failures} failed" if row.failures else ""
        failed += f", {row.denials} denied" if row.denials else ""
        return (
            f'<tr class="group"><td colspan="7">Agent {_e(name)} — {row.calls} tool '
            f"call{'s' if row.calls != 1 else ''}{failed}</td></tr>"
        )
    indent = "&nbsp;&nbsp;&nbsp;&nbsp;" if row.indent else ""
    details = "".join(f'<br><span class="details">{_e(d)}</span>' for d in step.details)
    mark = "✖ " if step.flagged else ""
    delta = "" if step.since_previous_ms is None else "+" + format_duration(step.since_previous_ms)
    who = person(step.user_id, users)
    return (
        f'<tr class="{_step_class(step)}"><td class="num">{step.position + 1}</td>'
        f'<td class="mono">{_e(format_timestamp(step.ts))}</td>'
        f'<td class="num">{_e(delta)}</td>'
        f'<td class="what">{indent}{mark}<b>{_e(step.type)}</b> {_e(step.headline)}{details}</td>'
        f'<td>{_e(who)}</td><td class="{_e(step.verdict)}">{_e(step.verdict)}</td>'
        f'<td class="num">{step.idx}</td></tr>'
    )


def _approvals(story: TaskStory, users: Mapping[str, str]) -> list[str]:
    if not story.approvals:
        return ["<p class='muted'>No approval was requested in this task.</p>"]
    out = [
        "<table>",
        "<tr><th>Approval</th><th>Tool</th><th>Decision</th><th>By</th><th>Reason</th>"
        "<th>Requested</th><th>Gated step</th></tr>",
    ]
    for a in story.approvals:
        cls = "deny" if a.state == "denied" else "card"
        by = person(a.approver_id, users) if a.approver_id else "-"

        def at(pos: int | None) -> str:
            return f"#{pos + 1}" if pos is not None else "-"

        out.append(
            f'<tr class="{cls}"><td class="mono">{_e(a.approval_id)}</td><td>{_e(a.tool)}</td>'
            f'<td class="what">{_e(a.state.upper())}</td><td>{_e(by)}</td>'
            f"<td>{_e(a.reason or '')}</td><td>{at(a.requested)}</td><td>{at(a.gated)}</td></tr>"
        )
    out.append("</table>")
    return out


def _people(story: TaskStory, users: Mapping[str, str]) -> list[str]:
    out = ["<table>", "<tr><th>Who</th><th>Id</th><th>Role in this task</th></tr>"]
    for uid, roles in people_roles(story).items():
        out.append(
            f"<tr><td>{_e(person(uid, users))}</td><td class='mono'>{_e(uid)}</td>"
            f"<td>{_e('; '.join(roles))}</td></tr>"
        )
    for agent in story.agents:
        calls = sum(1 for s in story.steps if s.agent_id == agent and s.kind == "agent")
        name = story.agent_names.get(agent, agent)
        out.append(
            f"<tr><td>Agent {_e(name)}</td><td class='mono'>{_e(agent)}</td>"
            f"<td>{calls} tool calls</td></tr>"
        )
    out.append("</table>")
    return out


def _verification(story: TaskStory, inp: ReportInput) -> list[str]:
    ev = inp.evidence
    leaves = ev.leaf_hashes
    how = (
        "This file embeds every event above (exact log bytes) and its evidence in the "
        "<code>auditlens-evidence/2</code> format. To check it offline, with nothing but the "
        "log server's public key obtained out of band (not the copy printed here):"
    )
    out = [
        f"<p>Every step above was re-verified against the latest trusted checkpoint when this "
        f"report was made: {len(inp.events)} event(s) of the log <b>{_e(ev.origin)}</b>, "
        f'checkpoint size <b>{ev.tree_size:,}</b>. <span class="verified">Verified</span>.</p>',
        f"<p>{how}</p>",
    ]
    out.append(
        f'<pre>auditlens verify THIS-REPORT.html --vkey "{_e(ev.vkey)}"</pre>'
        "<p>It checks the checkpoint signature and origin, each event against its "
        "inclusion proof (the embedded multi-proof from which any standard RFC 9162 proof "
        "derives), log order, and that this visible report is exactly what the verified "
        "data renders to: an edited report fails.</p>"
    )
    out.append(
        '<table class="summary">'
        f"<tr><td><b>Origin</b></td><td class='mono'>{_e(ev.origin)}</td></tr>"
        f"<tr><td><b>Verifier key (hint)</b></td><td class='mono'>{_e(ev.vkey)}</td></tr>"
        f"<tr><td><b>Tree size</b></td><td>{ev.tree_size:,}</td></tr>"
        f"<tr><td><b>Proof nodes</b></td><td>{len(ev.nodes) // 32}</td></tr>"
        "</table>"
    )
    out.append(f"<p><b>Signed checkpoint</b></p><pre>{_e(ev.checkpoint)}</pre>")
    rows = [
        f'<tr><td class="num">{n + 1}</td><td class="num">{step.idx}</td>'
        f"<td class='mono'>{_e(step.id)}</td>"
        f"<td class='mono'>{leaves[n * 32 : (n + 1) * 32].hex()}</td></tr>"
        for n, step in enumerate(story.steps)
    ]
    head = "<tr><th>#</th><th>Index</th><th>Event id</th><th>Leaf hash</th></tr>"
    out.extend(_table(head, rows))
    return out


def render_report(inp: ReportInput) -> bytes:
    """The report's HTML bytes (deterministic)."""
    story = inp.story()
    title = story.title or inp.task_id
    parts = [
        "<!DOCTYPE html>",
        '<html lang="en"><head><meta charset="utf-8">',
        f"<title>Task trail {_e(inp.task_id)}</title>",
        f"<style>{_CSS}</style></head><body>",
        f"<h1>Task trail: {_e(title)}</h1>",
        f'<p class="muted">Task <span class="mono">{_e(inp.task_id)}</span> · report made '
        f"{_e(inp.generated_at)} (UTC) by auditlens {_e(inp.auditlens_version)} · filter "
        f'<span class="mono">{_e(inp.filter_text)}</span></p>',
        "<h2>Summary</h2>",
        *_summary(story, inp),
        "<h2>Timeline</h2>",
        *_timeline(story, inp.users),
        "<h2>Approvals</h2>",
        *_approvals(story, inp.users),
        "<h2>People and agents</h2>",
        *_people(story, inp.users),
        "<h2>Verification</h2>",
        *_verification(story, inp),
    ]
    meta = {
        "format": REPORT_FORMAT,
        "task_id": inp.task_id,
        "generated_at": inp.generated_at,
        "auditlens_version": inp.auditlens_version,
        "filter": {"task_id": inp.task_id},
        "users": dict(sorted(inp.users.items())),
    }
    events = b"[\n" + b",\n".join(inp.events) + b"\n]"
    evidence = b"".join(inp.evidence.json_chunks())
    parts.extend(
        [
            '<script type="application/json" id="auditlens-report">'
            + _script_json(orjson.dumps(meta))
            + "</script>",
            '<script type="application/json" id="auditlens-events">'
            + _script_json(events)
            + "</script>",
            '<script type="application/json" id="auditlens-evidence">'
            + _script_json(evidence)
            + "</script>",
        ]
    )
    parts.append("</body></html>")
    return ("\n".join(parts) + "\n").encode("utf-8")


def looks_like_report(head: bytes) -> bool:
    """True when ``head`` (the first bytes of a file) starts an HTML document."""
    start = head.lstrip(b"\xef\xbb\xbf \t\r\n")[:15].lower()
    return start.startswith((b"<!doctype html", b"<html"))


def extract_report(data: bytes) -> ExtractedReport:
    """Parse the data blocks of a report; raise FormatError naming what is missing or wrong."""
    found: dict[str, bytes] = {}
    for match in _BLOCK.finditer(data):
        name = match.group(1).decode()
        if name in found:
            raise FormatError(f"the report holds two auditlens-{name} blocks")
        found[name] = match.group(2)
    for name in ("report", "events", "evidence"):
        if name not in found:
            raise FormatError(
                f"no auditlens-{name} data block: not an auditlens task report, or it was edited"
            )
    parsed: dict[str, object] = {}
    for name, body in found.items():
        try:  # strict: duplicate member names would let two readers see different events
            parsed[name] = canonical.loads(body)
        except FormatError as exc:
            raise FormatError(f"the auditlens-{name} block is not valid JSON: {exc}") from None
    meta = parsed["report"]
    events = parsed["events"]
    if not isinstance(meta, dict) or meta.get("format") != REPORT_FORMAT:
        raise FormatError(f"the auditlens-report block is not a {REPORT_FORMAT} object")
    for key in ("task_id", "generated_at", "auditlens_version"):
        if not isinstance(meta.get(key), str):
            raise FormatError(f"the auditlens-report block lacks {key}")
    users = meta.get("users", {})
    if not isinstance(users, dict) or not all(isinstance(v, str) for v in users.values()):
        raise FormatError("the auditlens-report block's users must map ids to emails")
    if not isinstance(events, list):
        raise FormatError("the auditlens-events block is not a JSON array")
    return ExtractedReport(meta=meta, events=events, evidence=parsed["evidence"])
