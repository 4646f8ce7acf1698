"""Deterministic, realistic demo data: the first log a newcomer sees in the viewer.

This module only *invents* events; it never stores, signs or sends them. The server's seed command
feeds :meth:`DemoDataset.events` through its sequencer, which assigns each event its ``id`` and
log index and takes the timestamp we propose. A submission follows architecture.md §3 exactly (the
common ``event`` fields keep their names; extra fields are added where they make an event
convincing).

What it must guarantee, and how:

- **Deterministic.** Everything comes from :class:`random.Random` instances seeded from
  ``(seed, purpose)`` strings (string seeds are hashed with SHA-512, so they do not depend on
  ``PYTHONHASHSEED``); nothing reads the clock or the global ``random``. :func:`generate` reads the
  clock only when ``now_ms`` is None, and stores the result, so one dataset always yields the
  same stream.
- **Exactly ``count`` events, streamed.** Two sources are merged by time. The *background* (sign-in
  sessions, a login attack burst, integrations, API keys, billing, team changes) follows the
  calendar, not the requested size: it holds at most a few events per person and day, so it is
  built up front (capped to 30% of the count; small datasets keep the organisation events first).
  *Tasks* fill the rest: a task's whole lifecycle (a few dozen events) is built when it starts
  and its events wait in a heap until their time comes, so memory is bounded by the tasks in
  flight, never by the count. Task ``k`` starts where the daily/weekly rhythm's cumulative
  density reaches ``events so far / task budget`` (plus jitter), which spreads the tasks over the
  whole window whatever the count. The last task is cut to the exact budget (it is still running
  "now"), and a task that would run past ``now_ms`` is compressed in time to end at ``now_ms``
  (its durations recomputed), so every timestamp lies in ``[start_ms, now_ms]``.
- **Realistic rhythm.** The organisation works in a fixed UTC-5 offset (no DST, by design: the
  data must not depend on a time-zone database): busy weekday office hours, quiet nights and
  weekends.
- **No floats.** Decimals travel as strings (``"cost_usd": "1.27"``, ``"value": "81.5"``); every
  integer is far inside ±(2^53−1).

Conventions a reader of the log should know (the viewer's summary relies on none of them):

- ``user_id`` is the person who acted (the approver on ``approval.approved/denied``, the canceller
  on ``task.cancelled``) or the task's owner on agent-driven task events; null for system actions
  (scheduled tasks, credential refreshes, usage alerts) and failed logins for unknown emails.
- ``event.request`` (``ip``, ``user_agent``) is the HTTP request that caused the event, because the
  detail pane is where an investigator looks for "from where": the person's browser or CLI for
  sign-ins, settings, API keys, approvals, cancellations and tasks created in the web app;
  Slack's webhook for tasks created from Slack; the agent runtime (``agentd``, one internal
  address per task) for what an agent reports (``task.started``, ``agent.action``,
  ``approval.requested``, ``task.completed``/``failed``). Only what the platform does by itself
  has none: scheduled tasks, credential refreshes, usage alerts, revocation disconnects.
- ``outcome`` says whether the recorded operation itself succeeded: a failed login, a failed tool
  call, a failed task or credential refresh are ``failure``; a *denied* approval is a decision
  that was recorded successfully, so it is ``success`` (its ``reason`` says why).
- ``auth.sso`` records the identity provider's assertion (the SSO hand-shake); the session it
  opens is the following ``auth.login`` with ``method: "sso"``. A failed assertion has no login.

The package's modules, one job each: :mod:`.dataset` (:func:`generate`), :mod:`.directory`
(people and agents), :mod:`.simulation` (the merged stream), :mod:`.background` and
:mod:`.tasks` (its two sources), :mod:`.tools` and :mod:`.recipes` (what agents do),
:mod:`.profiles` (people's habits), :mod:`.rhythm` (the calendar), :mod:`.vocabulary` (the
content tables) and :mod:`.primitives`. The content tables stay Python tuples rather than data
files: mypy checks them, nothing has to be shipped or loaded beside the code, and the generator
draws from them by position.
"""

from __future__ import annotations

from auditlens.server.demo_data.dataset import DATA_VERSION, DemoDataset, generate
from auditlens.server.demo_data.directory import Person
from auditlens.server.demo_data.primitives import Submission
from auditlens.server.demo_data.rhythm import DAY_MS
from auditlens.server.demo_data.vocabulary import ORG_SLUG

__all__ = ["DATA_VERSION", "DAY_MS", "ORG_SLUG", "DemoDataset", "Person", "Submission", "generate"]
