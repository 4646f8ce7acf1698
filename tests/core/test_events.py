"""Event catalogue and validation (architecture.md §3): what is accepted and how rejections read."""

from __future__ import annotations

import copy

import pytest

from auditlens.core.canonical import canonicalize
from auditlens.core.errors import FormatError
from auditlens.core.events import CATEGORIES, EVENT_TYPES, EventError, category_of
from auditlens.core.validation import validate_event, validate_submission


def stored(**changes: object) -> dict[str, object]:
    event: dict[str, object] = {
        "id": "log_01JD3Q8Z6X4T5W7Y9A1B2C3D4E",
        "timestamp": "2026-11-26T07:13:13.123Z",
        "type": "agent.action",
        "user_id": "usr_7f3a9c2e41b8",
        "task_id": "tsk_01JD3Q7ZK2M4N6P8R0S2T4V6W8",
        "agent_id": None,
        "event": {
            "outcome": "success",
            "tool": "file.write",
            "path": "/src/app.py",
            "params": {"path": "/src/app.py", "bytes": 1204},
            "duration_ms": 12,
            "request": {"ip": "203.0.113.7", "user_agent": "agent-runtime/2.4"},
        },
    }
    event.update(changes)
    return event


def submission(**changes: object) -> dict[str, object]:
    event = stored(**changes)
    del event["id"], event["timestamp"]
    return event


def body(**fields: object) -> dict[str, object]:
    return {"outcome": "success", **fields}


def rejects(obj: object, field: str, *, submit: bool = False) -> EventError:
    with pytest.raises(EventError) as info:
        (validate_submission if submit else validate_event)(obj)
    assert info.value.field == field
    assert field in str(info.value)
    return info.value


# catalogue


def test_catalogue_has_every_category_of_the_design() -> None:
    assert list(CATEGORIES) == [
        "auth", "task", "agent", "approval", "integration", "billing", "team", "audit",
    ]  # fmt: skip


def test_catalogue_types_belong_to_their_category() -> None:
    for category, types in CATEGORIES.items():
        assert all(t.startswith(category + ".") for t in types)
        assert all(category_of(t) == category for t in types)


def test_catalogue_includes_the_audit_actions() -> None:
    assert CATEGORIES["audit"] == ("audit.exported", "audit.retention_pruned")
    assert {"auth.api_key.created", "approval.denied", "billing.usage_alert"} <= EVENT_TYPES
    assert len(EVENT_TYPES) == 24


def test_category_of_unknown_but_well_formed_type_is_its_prefix() -> None:
    assert category_of("workflow.paused") == "workflow"


def test_category_of_malformed_type_is_an_error() -> None:
    with pytest.raises(EventError, match=r"<category>\.<action>"):
        category_of("nodot")


# accepted


def test_a_complete_event_is_valid() -> None:
    validate_event(stored())


def test_a_submission_is_an_event_without_id_and_timestamp() -> None:
    validate_submission(submission())


@pytest.mark.parametrize("event_type", sorted(EVENT_TYPES - {"agent.action", "approval.denied"}))
def test_every_other_type_needs_only_an_outcome(event_type: str) -> None:
    validate_event(stored(type=event_type, event={"outcome": "failure"}))


def test_null_references_and_optional_fields_are_accepted() -> None:
    validate_event(stored(user_id=None, task_id=None, agent_id=None))
    validate_event(stored(event=body(tool="x", error=None, url=None, request=None)))


def test_extra_event_fields_are_allowed() -> None:
    validate_event(stored(event=body(tool="code.execute", language="python", exit_code=1)))


def test_error_may_be_an_object_and_values_decimal_strings() -> None:
    validate_event(stored(type="task.failed", event=body(error={"code": "E1", "message": "x"})))
    validate_event(stored(type="billing.usage_alert", event=body(value="99.5", threshold=100)))


# top-level shape


def test_not_an_object() -> None:
    error = rejects([1], "")
    assert str(error) == "the event must be a JSON object, got an array"


@pytest.mark.parametrize(
    "name", ["id", "timestamp", "type", "user_id", "task_id", "agent_id", "event"]
)
def test_missing_top_level_field(name: str) -> None:
    event = stored()
    del event[name]
    assert "is required" in str(rejects(event, name))


def test_unknown_top_level_field() -> None:
    error = rejects(stored(colour="red"), "colour")
    assert "is not an event field" in str(error)


@pytest.mark.parametrize("name", ["id", "timestamp"])
def test_submission_must_not_carry_server_assigned_fields(name: str) -> None:
    item = submission()
    item[name] = stored()[name]
    assert "server assigns" in str(rejects(item, name, submit=True))


def test_stored_event_needs_the_server_assigned_fields() -> None:
    rejects(submission(), "id")


# values


def test_outcome_message_names_field_and_expectation() -> None:
    error = rejects(stored(event=body(outcome="ok", tool="t") | {"outcome": "ok"}), "event.outcome")
    assert str(error) == 'event.outcome must be "success" or "failure", got "ok"'


def test_missing_outcome() -> None:
    rejects(stored(event={"tool": "x"}), "event.outcome")


def test_floats_are_rejected_anywhere() -> None:
    error = rejects(
        stored(event=body(tool="t", params={"cost": [1, 0.25]})), "event.params.cost[1]"
    )
    assert "float" in str(error) and "0.25" in str(error)


def test_a_whole_float_is_still_a_float() -> None:
    rejects(stored(event=body(tool="t", duration_ms=12.0)), "event.duration_ms")


@pytest.mark.parametrize("value", [2**53, -(2**53)])
def test_integers_outside_the_safe_range(value: int) -> None:
    rejects(stored(event=body(tool="t", params={"n": value})), "event.params.n")


def test_booleans_are_not_integers() -> None:
    error = rejects(stored(event=body(tool="t", duration_ms=True)), "event.duration_ms")
    assert "non-negative integer" in str(error)


def test_negative_durations_are_rejected() -> None:
    rejects(stored(type="task.completed", event=body(duration_ms=-1)), "event.duration_ms")


def test_non_json_values_are_rejected() -> None:
    rejects(stored(event=body(tool="t", params={"when": {1, 2}})), "event.params.when")


def test_lone_surrogates_are_rejected() -> None:
    rejects(stored(event=body(tool="t", path="/x\udc80")), "event.path")


def test_non_string_member_names_are_rejected() -> None:
    rejects(stored(event=body(tool="t", params={1: "x"})), "event.params")


def test_excessive_nesting_is_rejected() -> None:
    deep: object = "x"
    for _ in range(40):
        deep = {"d": deep}
    error = rejects(stored(event=body(tool="t", params=deep)), "event.params" + ".d" * 30)
    assert "deeper than 32" in str(error)


@pytest.mark.parametrize(
    "value",
    ["log_01JD3Q8Z6X4T5W7Y9A1B2C3D4", "evt_01JD3Q8Z6X4T5W7Y9A1B2C3D4E",
     "log_01jd3q8z6x4t5w7y9a1b2c3d4e", "log_01JD3Q8Z6X4T5W7Y9A1B2C3D4U",
     "log_81JD3Q8Z6X4T5W7Y9A1B2C3D4E", 7],
)  # fmt: skip
def test_malformed_ids(value: object) -> None:
    rejects(stored(id=value), "id")


@pytest.mark.parametrize(
    "value",
    ["2026-11-26T07:13:13Z", "2026-11-26T07:13:13.1234Z", "2026-11-26T07:13:13.123+00:00",
     "2026-02-30T07:13:13.123Z", "2026-11-26 07:13:13.123Z", "2026-11-26t07:13:13.123z", 1],
)  # fmt: skip
def test_timestamps_must_be_canonical_utc_milliseconds(value: object) -> None:
    error = rejects(stored(timestamp=value), "timestamp")
    assert "2026-11-26T07:13:13.123Z" in str(error)


def test_unknown_type_suggests_the_closest() -> None:
    error = rejects(stored(type="agent.actoin"), "type")
    assert 'did you mean "agent.action"' in str(error)


def test_unknown_types_can_be_allowed_for_readers() -> None:
    validate_event(stored(type="workflow.paused"), allow_unknown_types=True)
    with pytest.raises(EventError):
        validate_event(stored(type="Workflow paused"), allow_unknown_types=True)


@pytest.mark.parametrize("value", ["", "x" * 257, 12])
def test_references_are_short_non_empty_strings_or_null(value: object) -> None:
    rejects(stored(agent_id=value), "agent_id")


def test_agent_action_requires_a_tool() -> None:
    error = rejects(stored(event=body()), "event.tool")
    assert "agent.action" in str(error) and "is required" in str(error)


def test_approval_denied_requires_a_reason() -> None:
    rejects(stored(type="approval.denied", event=body(approval_id="apr_1")), "event.reason")
    rejects(stored(type="approval.denied", event=body(reason="  ")), "event.reason")


@pytest.mark.parametrize(
    ("fields", "field"),
    [
        ({"url": 5}, "event.url"),
        ({"params": "a=b"}, "event.params"),
        ({"error": 5}, "event.error"),
        ({"direction": "sideways"}, "event.direction"),
        ({"request": "1.2.3.4"}, "event.request"),
        ({"request": {"ip": 1234}}, "event.request.ip"),
        ({"count": "12"}, "event.count"),
        ({"value": True}, "event.value"),
    ],
)
def test_common_fields_have_the_types_consumers_expect(
    fields: dict[str, object], field: str
) -> None:
    rejects(stored(type="audit.exported", event=body(**fields)), field)


def test_canonical_size_limit() -> None:
    at_limit = stored(event=body(tool="t", blob=""))
    room = 65_535 - len(canonicalize(at_limit))
    validate_event(stored(event=body(tool="t", blob="x" * room)))
    error = rejects(stored(event=body(tool="t", blob="x" * (room + 1))), "")
    assert "65,536 bytes" in str(error) and "65,535" in str(error)


def test_validation_does_not_modify_the_event() -> None:
    event = stored()
    before = copy.deepcopy(event)
    validate_event(event)
    assert event == before


def test_event_error_is_a_format_error_and_can_be_located_in_a_batch() -> None:
    error = rejects(stored(type="nope.nope"), "type")
    assert isinstance(error, FormatError)
    located = error.prefixed("events[3]")
    assert located.field == "events[3].type"
    assert str(located).startswith("events[3].type must be a known event type")
    assert EventError("", "is too big").prefixed("[2]").field == "[2]"
