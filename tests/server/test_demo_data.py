"""The demo data generator: a valid, deterministic, realistic event stream of an exact size."""

from __future__ import annotations

import hashlib
import itertools
import time
import tracemalloc
from collections import Counter, defaultdict
from collections.abc import Iterator
from pathlib import Path

import orjson
import pytest

from auditlens.core.canonical import canonicalize_event
from auditlens.core.events import CATEGORIES
from auditlens.core.summaries import summarize
from auditlens.core.validation import validate_submission
from auditlens.server.demo_data import DATA_VERSION, DAY_MS, DemoDataset, Submission, generate

NOW = 1_750_000_000_000  # 2025-06-15T15:06:40Z, a Sunday afternoon
COUNT = 20_000
TERMINAL = ("task.completed", "task.failed", "task.cancelled")

Stream = list[tuple[int, Submission]]


@pytest.fixture(scope="module")
def dataset() -> DemoDataset:
    return generate(seed=7, events=COUNT, now_ms=NOW)


@pytest.fixture(scope="module")
def stream(dataset: DemoDataset) -> Stream:
    return list(dataset.events())


def body(sub: Submission) -> dict[str, object]:
    ev = sub["event"]
    assert isinstance(ev, dict)
    return ev


def as_stored(sub: Submission, index: int, ts: int) -> dict[str, object]:
    """The event as the server stores it: the submission plus a realistic id and timestamp."""
    stamp = time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(ts // 1000)) + f".{ts % 1000:03d}Z"
    return {**sub, "id": f"log_01JXR{index:021d}", "timestamp": stamp}


def by_task(stream: Stream) -> dict[str, Stream]:
    tasks: dict[str, Stream] = defaultdict(list)
    for ts, sub in stream:
        if isinstance(sub["task_id"], str):
            tasks[sub["task_id"]].append((ts, sub))
    return tasks


# -- validity -------------------------------------------------------------------------------------


def test_every_event_is_a_valid_submission_with_a_summary(stream: Stream) -> None:
    for ts, sub in stream:
        validate_submission(sub)
        assert summarize(as_stored(sub, 0, ts)), sub


def test_every_catalogue_type_appears_except_the_servers_own_audit_events(stream: Stream) -> None:
    expected = {t for category, types in CATEGORIES.items() if category != "audit" for t in types}
    seen = {sub["type"] for _, sub in stream}
    assert seen == expected


def test_canonical_events_are_small_and_realistically_sized(stream: Stream) -> None:
    sizes = [len(canonicalize_event(as_stored(sub, i, ts))) for i, (ts, sub) in enumerate(stream)]
    assert max(sizes) < 4_096  # the limit is 65,535; nothing here comes anywhere near it
    assert 400 <= sum(sizes) // len(sizes) <= 700


def test_failures_are_between_5_and_10_percent(stream: Stream) -> None:
    failures = sum(body(sub)["outcome"] == "failure" for _, sub in stream)
    assert 0.05 <= failures / len(stream) <= 0.10


# -- size, order, determinism ---------------------------------------------------------------------


@pytest.mark.parametrize("count", [0, 1, 7, 333, 5_000])
def test_yields_exactly_the_requested_number_of_events(count: int) -> None:
    assert sum(1 for _ in generate(seed=2, events=count, now_ms=NOW).events()) == count


def test_a_one_day_window_still_yields_every_event_inside_it() -> None:
    data = generate(seed=2, events=3_000, now_ms=NOW, days=1)
    times = [ts for ts, _ in data.events()]
    assert len(times) == 3_000
    assert min(times) >= NOW - DAY_MS
    assert max(times) <= NOW


def test_timestamps_never_decrease_and_cover_the_window(
    dataset: DemoDataset, stream: Stream
) -> None:
    times = [ts for ts, _ in stream]
    assert times == sorted(times)
    assert dataset.start_ms == NOW - 90 * DAY_MS
    assert dataset.start_ms <= times[0] < dataset.start_ms + DAY_MS
    assert NOW - DAY_MS < times[-1] <= NOW


def test_same_seed_and_now_give_identical_events(stream: Stream) -> None:
    again = generate(seed=7, events=COUNT, now_ms=NOW).events()
    for (ts1, sub1), (ts2, sub2) in zip(stream, again, strict=True):
        assert ts1 == ts2
        assert canonicalize_event(sub1) == canonicalize_event(sub2)


def test_another_seed_gives_other_people_and_events(dataset: DemoDataset, stream: Stream) -> None:
    other = generate(seed=8, events=COUNT, now_ms=NOW)
    assert [p.email for p in other.people] != [p.email for p in dataset.people]
    assert [p.password for p in other.people] != [p.password for p in dataset.people]
    first = [canonicalize_event(sub) for _, sub in itertools.islice(other.events(), 100)]
    assert first != [canonicalize_event(sub) for _, sub in stream[:100]]


def test_a_smaller_count_spreads_over_the_same_window() -> None:
    times = [ts for ts, _ in generate(seed=7, events=500, now_ms=NOW).events()]
    assert times[0] < NOW - 85 * DAY_MS
    assert times[-1] > NOW - 2 * DAY_MS


def test_now_defaults_to_the_current_minute() -> None:
    before = time.time_ns() // 1_000_000
    data = generate(events=10)
    assert data.now_ms % 60_000 == 0
    assert before - 60_000 < data.now_ms <= time.time_ns() // 1_000_000


def test_events_are_fresh_objects_each_time(dataset: DemoDataset) -> None:
    first = next(dataset.events())[1]
    body(first)["outcome"] = "tampered"
    assert body(next(dataset.events())[1])["outcome"] != "tampered"


def test_a_million_events_stream_lazily() -> None:
    data = generate(seed=1, events=1_000_000, now_ms=NOW)
    tracemalloc.start()
    try:
        events: Iterator[tuple[int, Submission]] = data.events()
        head = list(itertools.islice(events, 5_000))
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert len(head) == 5_000
    assert peak < 40 * 1024 * 1024  # a million events held at once would be ~1 GB
    assert head[-1][0] < data.start_ms + 2 * DAY_MS  # the first events, not a sorted whole


@pytest.mark.parametrize(
    ("kwargs", "error"),
    [
        ({"events": -1}, ValueError),
        ({"days": 0}, ValueError),
        ({"events": 1.5}, TypeError),
        ({"seed": "1"}, TypeError),
        ({"now_ms": 1_000}, ValueError),
        ({"now_ms": 1.7e12}, TypeError),
    ],
)
def test_bad_arguments_are_refused_by_name(kwargs: dict[str, object], error: type) -> None:
    with pytest.raises(error, match=next(iter(kwargs))):
        generate(**kwargs)


# -- the organisation -----------------------------------------------------------------------------


def test_a_dozen_people_in_three_roles_at_the_org_domain(dataset: DemoDataset) -> None:
    roles = Counter(p.role for p in dataset.people)
    assert len(dataset.people) == 12
    assert 1 <= roles["owner"] <= 2 and 3 <= roles["admin"] <= 4
    assert roles["member"] == 12 - roles["owner"] - roles["admin"]
    assert all(p.email.endswith("@" + dataset.domain) for p in dataset.people)
    assert len({p.id for p in dataset.people}) == 12
    assert all(p.id.startswith("usr_") and len(p.password) >= 12 for p in dataset.people)
    assert (dataset.org_name, dataset.org_slug, dataset.plan) == (
        "Acme Robotics",
        "acme",
        "enterprise",
    )
    assert dataset.first_with_role("owner").role == "owner"


def test_about_forty_named_agents(dataset: DemoDataset) -> None:
    assert len(dataset.agents) == len(set(dataset.agents)) == len(dataset.agent_names) == 40
    assert all(a.startswith("agt_") for a in dataset.agents)
    assert len(set(dataset.agent_names)) == 40


def test_events_refer_to_known_people_and_agents(dataset: DemoDataset, stream: Stream) -> None:
    people = {p.id for p in dataset.people}
    agents = set(dataset.agents)
    for _, sub in stream:
        assert sub["user_id"] is None or sub["user_id"] in people
        assert sub["agent_id"] is None or sub["agent_id"] in agents


def test_people_sign_in_from_a_few_places_and_some_fail(stream: Stream) -> None:
    logins = [body(sub) for _, sub in stream if sub["type"] == "auth.login"]
    methods = Counter(ev["method"] for ev in logins)
    assert methods["password"] and methods["sso"]
    assert all(ev["provider"] for ev in logins if ev["method"] == "sso")
    failed = [ev for ev in logins if ev["outcome"] == "failure"]
    assert failed and all(ev["failure_reason"] for ev in failed)
    assert all(isinstance(ev["request"], dict) for ev in logins)
    per_user: dict[object, set[object]] = defaultdict(set)
    for _, sub in stream:
        if sub["type"] == "auth.login" and body(sub)["outcome"] == "success":
            request = body(sub)["request"]
            assert isinstance(request, dict)
            per_user[sub["user_id"]].add(request["ip"])
    assert all(1 <= len(ips) <= 3 for ips in per_user.values())


AGENT_DRIVEN = (
    "task.started",
    "agent.action",
    "approval.requested",
    "task.completed",
    "task.failed",
)
PERSON_DRIVEN = ("approval.approved", "approval.denied", "task.cancelled", "auth.api_key.created")


def is_system_event(sub: Submission) -> bool:
    """What the platform did by itself, with no request behind it."""
    ev = body(sub)
    kind = sub["type"]
    return (
        kind in ("billing.usage_alert", "integration.credential_refreshed")
        or (kind == "task.created" and ev.get("source") == "schedule")
        or (kind == "integration.disconnected" and sub["user_id"] is None)
    )


def test_every_event_from_a_request_says_from_where(stream: Stream) -> None:
    """The detail pane is where an investigator looks for "from where": only what the platform
    did by itself (schedules, credential refreshes, usage alerts) has no request."""
    missing = Counter(sub["type"] for _, sub in stream if "request" not in body(sub))
    system = sum(is_system_event(sub) for _, sub in stream)
    assert sum(missing.values()) == system, missing
    assert system < 0.05 * len(stream)
    for _, sub in stream:
        if is_system_event(sub):
            assert "request" not in body(sub), sub
            continue
        request = body(sub)["request"]
        assert isinstance(request, dict), sub
        assert set(request) == {"ip", "user_agent"}, sub
        assert all(isinstance(v, str) and v for v in request.values()), sub


def test_agent_events_carry_the_agent_runtimes_address(stream: Stream) -> None:
    addresses: dict[object, set[object]] = defaultdict(set)
    for _, sub in stream:
        if sub["type"] in AGENT_DRIVEN:
            request = body(sub)["request"]
            assert isinstance(request, dict)
            assert str(request["user_agent"]).startswith("agentd/")
            assert str(request["ip"]).startswith("10.")
            addresses[sub["task_id"]].add(request["ip"])
    assert addresses and all(len(ips) == 1 for ips in addresses.values())  # one runtime a task
    assert len(set().union(*addresses.values())) > 1  # and more than one runtime in all


def test_people_act_from_their_own_browsers(stream: Stream) -> None:
    for _, sub in stream:
        ev = body(sub)
        if sub["type"] in PERSON_DRIVEN or (
            sub["type"] == "task.created" and ev.get("source") == "web"
        ):
            request = ev["request"]
            assert isinstance(request, dict)
            assert not str(request["user_agent"]).startswith("agentd/"), sub


def test_the_requests_are_the_same_for_the_same_seed() -> None:
    first = generate(seed=11, events=3_000, now_ms=NOW)
    second = generate(seed=11, events=3_000, now_ms=NOW)
    requests = [body(sub).get("request") for _, sub in first.events()]
    assert requests == [body(sub).get("request") for _, sub in second.events()]


def test_activity_follows_office_hours_and_weekdays(stream: Stream) -> None:
    local = [(ts - 5 * 3_600_000) // 1000 for ts, _ in stream]
    hours = Counter(time.gmtime(s).tm_hour for s in local)
    weekdays = Counter(time.gmtime(s).tm_wday for s in local)
    assert sum(hours[h] for h in range(9, 17)) > 5 * sum(hours[h] for h in range(0, 6)) * 8 / 6
    assert min(weekdays[d] for d in range(5)) > 3 * max(weekdays[5], weekdays[6])


# -- task lifecycles ------------------------------------------------------------------------------


def test_thousands_of_tasks_interleave_in_time(stream: Stream) -> None:
    spans = sorted((events[0][0], events[-1][0]) for events in by_task(stream).values())
    assert len(spans) > 1_000
    overlapping = 0
    latest_end = 0
    for i, (start, end) in enumerate(spans):
        runs_into_next = i + 1 < len(spans) and spans[i + 1][0] < end
        overlapping += start < latest_end or runs_into_next
        latest_end = max(latest_end, end)
    # Even this small dataset (~16 tasks per day) has many tasks running side by side.
    assert overlapping > 0.25 * len(spans)


def test_task_lifecycles_are_well_formed(stream: Stream) -> None:
    unfinished = []
    for task_id, events in by_task(stream).items():
        kinds = [sub["type"] for _, sub in events]
        assert kinds[0] == "task.created", task_id
        assert kinds[1:2] in (["task.started"], []), task_id
        assert all(k not in ("task.created", "task.started") for k in kinds[2:]), task_id
        assert all(k not in TERMINAL for k in kinds[:-1]), task_id
        if kinds[-1] not in TERMINAL:
            unfinished.append(events[0][0])
            continue
        end = body(events[-1][1])
        assert end["duration_ms"] == events[-1][0] - events[1][0]
        assert len({sub["agent_id"] for _, sub in events}) == 1
        if kinds[-1] == "task.failed":
            assert end["error"]
        if kinds[-1] == "task.cancelled":
            assert end["cancelled_by"] == events[-1][1]["user_id"]
    # Only the last task started can be cut short by the exact count: it is still running.
    assert len(unfinished) <= 1
    assert all(
        t >= max(ts for ts, sub in stream if sub["type"] == "task.created") for t in unfinished
    )


def test_tasks_end_in_every_way_and_some_fail(stream: Stream) -> None:
    ends = Counter(sub["type"] for _, sub in stream if sub["type"] in TERMINAL)
    total = sum(ends.values())
    assert 0.03 <= ends["task.failed"] / total <= 0.15
    assert 0.01 <= ends["task.cancelled"] / total <= 0.10


def test_agent_actions_carry_tool_parameters_and_targets(stream: Stream) -> None:
    actions = [body(sub) for _, sub in stream if sub["type"] == "agent.action"]
    tools = Counter(ev["tool"] for ev in actions)
    for tool in ("browser.navigate", "file.read", "file.write", "code.execute", "shell.run"):
        assert tools[tool] > 100, tool
    for tool in ("http.request", "search.web"):
        assert tools[tool] > 10, tool
    for ev in actions:
        assert isinstance(ev["params"], dict) and isinstance(ev["duration_ms"], int)
        if ev["tool"] == "browser.navigate":
            assert str(ev["url"]).startswith("https://")
        if str(ev["tool"]).startswith("file."):
            assert ev["path"] == ev["params"]["path"]
        if ev["tool"] == "code.execute":
            assert ev["language"] == ev["params"]["language"]
        if ev["outcome"] == "failure":
            assert ev["error"]


def role_at(stream: Stream, dataset: DemoDataset) -> dict[str, list[tuple[int, str]]]:
    """Each person's role changes over time: (from_ms, role), from the team events."""
    roles = {p.id: [(0, p.role)] for p in dataset.people}
    changes = [(ts, body(sub)) for ts, sub in stream if sub["type"] == "team.role_changed"]
    for person, timeline in roles.items():
        mine = [(ts, ev) for ts, ev in changes if ev["member_id"] == person]
        if mine:
            timeline[:] = [(0, str(mine[0][1]["from_role"]))]
            timeline += [(ts, str(ev["to_role"])) for ts, ev in mine]
    return roles


def test_approvals_are_decided_by_owners_or_admins_after_the_request(
    dataset: DemoDataset, stream: Stream
) -> None:
    roles = role_at(stream, dataset)
    requested: dict[object, tuple[int, Submission]] = {}
    decided = 0
    for ts, sub in stream:
        ev = body(sub)
        if sub["type"] == "approval.requested":
            requested[ev["approval_id"]] = (ts, sub)
        elif sub["type"] in ("approval.approved", "approval.denied"):
            asked_at, request = requested[ev["approval_id"]]
            assert asked_at <= ts and request["task_id"] == sub["task_id"]
            assert ev["tool"] == body(request)["tool"]
            approver = str(ev["approver_id"])
            assert approver == sub["user_id"] != request["user_id"]
            role = [r for since, r in roles[approver] if since <= ts][-1]
            assert role in ("owner", "admin")
            assert ev["reason"]
            decided += 1
    assert decided >= 0.95 * len(requested) > 100


def test_gated_actions_run_only_after_an_approval_of_the_same_call(stream: Stream) -> None:
    requests: dict[object, dict[str, object]] = {}
    approved: dict[object, int] = {}
    gated = 0
    for ts, sub in stream:
        ev = body(sub)
        if sub["type"] == "approval.requested":
            requests[ev["approval_id"]] = ev
        elif sub["type"] == "approval.approved":
            approved[ev["approval_id"]] = ts
        elif sub["type"] == "agent.action" and "approval_id" in ev:
            assert approved[ev["approval_id"]] <= ts
            request = requests[ev["approval_id"]]
            assert (ev["tool"], ev["params"]) == (request["tool"], request["params"])
            gated += 1
    assert gated > 50
    denied = {body(sub)["approval_id"] for _, sub in stream if sub["type"] == "approval.denied"}
    assert denied and not denied & set(approved)


def test_no_float_hides_anywhere(stream: Stream) -> None:
    def walk(value: object) -> None:
        assert not isinstance(value, float)
        if isinstance(value, dict):
            for item in value.values():
                walk(item)
        elif isinstance(value, list):
            for item in value:
                walk(item)

    for ts, sub in stream:
        assert isinstance(ts, int)
        walk(sub)
    alerts = [body(sub) for _, sub in stream if sub["type"] == "billing.usage_alert"]
    assert alerts and all(isinstance(a["value"], str) and "." in a["value"] for a in alerts)


# The stream of (seed 1, 2,000 events, NOW) for each DATA_VERSION. A change to the generator that
# changes this digest must bump DATA_VERSION (and add its digest here), so the demo never serves
# a cached server made by an older generator.
STREAM_DIGESTS = {2: "25c99c3be00c6d299c7bef18e9d8e03ce7e024a9d005a33dc71b69a089eabf72"}


def test_a_changed_stream_comes_with_a_new_data_version() -> None:
    digest = hashlib.sha256()
    for ts, sub in generate(seed=1, events=2_000, now_ms=NOW).events():
        digest.update(orjson.dumps([ts, sub], option=orjson.OPT_SORT_KEYS))
    assert STREAM_DIGESTS.get(DATA_VERSION) == digest.hexdigest(), (
        "the demo stream changed: bump DATA_VERSION in auditlens.server.demo_data"
    )


# Byte-for-byte pins of whole datasets (the directory and every event), for arguments that reach
# the generator's corners: a large window-filling stream, a small one where the organisation events
# take the whole background share, a dense single day where tasks are squeezed to end at "now",
# and an empty stream. Restructuring the generator must leave every one of them unchanged.
DATASET_DIGESTS = {
    (7, 50_000, NOW, 90): "d67794b24ff36f697042684f8f89fc5c27b010a993e55a7dfd85c7f7ace66331",
    (
        3,
        300,
        1_772_366_400_000,
        14,
    ): "1881666c4ec3f89d9089dd993f50ad92110c7f7274c58306262f890f2c5b28c7",
    (
        5,
        5_000,
        1_772_366_400_000,
        1,
    ): "f6f16710b00dde052ea90be464ce593a41854555f5ce300d4af01f8288afdcb1",
    (
        11,
        0,
        1_772_366_400_000,
        90,
    ): "fa658678e498b7ece8d2c2d85f51e2d92bbfb7c115024a96b5d6a5a5bfd2868b",
}


@pytest.mark.parametrize(("seed", "count", "now_ms", "days"), sorted(DATASET_DIGESTS))
def test_the_same_seed_gives_the_same_bytes(seed: int, count: int, now_ms: int, days: int) -> None:
    dataset = generate(seed=seed, events=count, now_ms=now_ms, days=days)
    digest = hashlib.sha256()
    people = [[p.id, p.email, p.name, p.role, p.password] for p in dataset.people]
    digest.update(orjson.dumps(people))
    digest.update(orjson.dumps([dataset.agents, dataset.agent_names]))
    for ts, sub in dataset.events():
        digest.update(orjson.dumps([ts, sub], option=orjson.OPT_SORT_KEYS))
    assert digest.hexdigest() == DATASET_DIGESTS[(seed, count, now_ms, days)]


def test_the_viewer_tests_reach_the_generator_through_the_embedded_entry_point() -> None:
    ui_tests = Path(__file__).resolve().parents[1] / "ui"
    offenders = [
        path.name
        for path in ui_tests.glob("*.py")
        if "auditlens.server.demo_data" in path.read_text(encoding="utf-8")
        or "from auditlens.server import demo_data" in path.read_text(encoding="utf-8")
    ]
    assert not offenders, f"import the demo generator from auditlens.server.embedded: {offenders}"
