"""Pinning: first contact asks, a pin never changes silently, a pasted key must match."""

from __future__ import annotations

from contextlib import closing
from pathlib import Path

import orjson
import pytest

from auditlens.client.session import log_mirror_for
from auditlens.client.trust import Pin, PinMismatchError, TrustStore
from auditlens.core import note
from auditlens.core.errors import Code, VerificationError
from auditlens.mirror.store import log_mirror_path, mirror_path, open_writable

URL = "http://127.0.0.1:8765"
ORIGIN = "auditlens.local/acme"


@pytest.fixture
def keys() -> tuple[str, str]:
    return note.generate_keys("auditlens.local")[1], note.generate_keys("auditlens.local")[1]


def test_first_contact_needs_confirmation_and_shows_origin_and_key(keys: tuple[str, str]) -> None:
    decision = TrustStore().check(URL, "org_1", ORIGIN, keys[0])
    assert decision.needs_confirmation
    assert (decision.pin.origin, decision.pin.vkey) == (ORIGIN, keys[0])
    assert not decision.key_known


def test_confirm_pins_the_pair_for_later_checks(keys: tuple[str, str]) -> None:
    trust = TrustStore()
    trust.confirm(Pin(URL, "org_1", ORIGIN, keys[0]))
    decision = TrustStore().check(URL + "/", "org_1", ORIGIN, keys[0])
    assert not decision.needs_confirmation
    assert TrustStore().pin_for(URL, "org_1") == Pin(URL, "org_1", ORIGIN, keys[0])


def test_a_different_key_later_is_untrusted_and_names_both_keys(keys: tuple[str, str]) -> None:
    trust = TrustStore()
    trust.confirm(Pin(URL, "org_1", ORIGIN, keys[0]))
    with pytest.raises(VerificationError) as caught:
        trust.check(URL, "org_1", ORIGIN, keys[1])
    assert caught.value.code is Code.UNTRUSTED_KEY
    assert keys[0] in caught.value.message and keys[1] in caught.value.message


def test_a_different_origin_later_is_an_origin_mismatch(keys: tuple[str, str]) -> None:
    trust = TrustStore()
    trust.confirm(Pin(URL, "org_1", ORIGIN, keys[0]))
    with pytest.raises(VerificationError) as caught:
        trust.check(URL, "org_1", "auditlens.local/evil", keys[0])
    assert caught.value.code is Code.ORIGIN_MISMATCH
    assert ORIGIN in caught.value.message and "auditlens.local/evil" in caught.value.message


def test_confirm_never_replaces_a_different_pin(keys: tuple[str, str]) -> None:
    trust = TrustStore()
    trust.confirm(Pin(URL, "org_1", ORIGIN, keys[0]))
    with pytest.raises(VerificationError):
        trust.confirm(Pin(URL, "org_1", ORIGIN, keys[1]))
    assert trust.pinned_vkey(URL) == keys[0]


def test_forget_then_confirm_is_the_explicit_way_to_change_a_key(keys: tuple[str, str]) -> None:
    trust = TrustStore()
    trust.confirm(Pin(URL, "org_1", ORIGIN, keys[0]))
    assert trust.forget(URL)
    trust.confirm(Pin(URL, "org_1", ORIGIN, keys[1]))
    assert trust.pinned_vkey(URL) == keys[1]


def test_a_pasted_key_that_differs_is_refused_with_both_keys(keys: tuple[str, str]) -> None:
    trust = TrustStore()
    with pytest.raises(VerificationError) as caught:
        trust.confirm(Pin(URL, "org_1", ORIGIN, keys[0]), pasted_vkey=keys[1])
    assert caught.value.code is Code.UNTRUSTED_KEY
    assert keys[0] in caught.value.message and keys[1] in caught.value.message
    assert trust.pin_for(URL, "org_1") is None


def test_a_pasted_key_that_matches_pins_even_with_stray_whitespace(keys: tuple[str, str]) -> None:
    trust = TrustStore()
    trust.confirm(Pin(URL, "org_1", ORIGIN, keys[0]), pasted_vkey=f"  {keys[0]}\n")
    assert trust.pinned_vkey(URL) == keys[0]


def test_a_malformed_pasted_key_is_a_clear_error(keys: tuple[str, str]) -> None:
    with pytest.raises(ValueError, match="not a valid vkey"):
        TrustStore().confirm(Pin(URL, "org_1", ORIGIN, keys[0]), pasted_vkey="hello")


def test_another_organization_on_a_pinned_server_asks_again_with_the_key_known(
    keys: tuple[str, str],
) -> None:
    trust = TrustStore()
    trust.confirm(Pin(URL, "org_1", ORIGIN, keys[0]))
    decision = trust.check(URL, "org_2", "auditlens.local/globex", keys[0])
    assert decision.needs_confirmation and decision.key_known


def test_a_changed_key_carries_both_identities_as_data(keys: tuple[str, str]) -> None:
    trust = TrustStore()
    trust.confirm(Pin(URL, "org_1", ORIGIN, keys[0]))
    with pytest.raises(PinMismatchError) as caught:
        trust.check(URL, "org_1", ORIGIN, keys[1])
    error = caught.value
    assert isinstance(error, VerificationError) and error.code is Code.UNTRUSTED_KEY
    assert (error.pinned_origin, error.pinned_vkey) == (ORIGIN, keys[0])
    assert (error.offered_origin, error.offered_vkey) == (ORIGIN, keys[1])
    assert error.server_url == URL


def test_a_changed_origin_carries_both_origins_and_the_unchanged_key(
    keys: tuple[str, str],
) -> None:
    trust = TrustStore()
    trust.confirm(Pin(URL, "org_1", ORIGIN, keys[0]))
    with pytest.raises(PinMismatchError) as caught:
        trust.check(URL, "org_1", "auditlens.local/evil", keys[0])
    error = caught.value
    assert error.code is Code.ORIGIN_MISMATCH
    assert (error.pinned_origin, error.offered_origin) == (ORIGIN, "auditlens.local/evil")
    assert error.pinned_vkey == error.offered_vkey == keys[0]


def test_a_changed_key_for_a_new_organization_has_no_pinned_origin(
    keys: tuple[str, str],
) -> None:
    trust = TrustStore()
    trust.confirm(Pin(URL, "org_1", ORIGIN, keys[0]))
    with pytest.raises(PinMismatchError) as caught:
        trust.check(URL, "org_2", "auditlens.local/globex", keys[1])
    assert caught.value.pinned_origin is None
    assert caught.value.offered_origin == "auditlens.local/globex"
    assert caught.value.pinned_vkey == keys[0]


# -- the log's identity is its origin and key, not the URL or the organization id --------------

OTHER_URL = "http://127.0.0.1:9999"


def test_a_pinned_log_met_under_another_organization_id_is_the_same_log(
    keys: tuple[str, str],
) -> None:
    trust = TrustStore()
    trust.confirm(Pin(URL, "org_1", ORIGIN, keys[0]))
    decision = trust.check(URL, "org_new", ORIGIN, keys[0])
    assert not decision.needs_confirmation and decision.known_log
    decision = trust.check(OTHER_URL, "org_x", ORIGIN, keys[0])
    assert not decision.needs_confirmation and decision.known_log


def test_a_pinned_log_under_another_key_at_another_url_is_untrusted(
    keys: tuple[str, str],
) -> None:
    trust = TrustStore()
    trust.confirm(Pin(URL, "org_1", ORIGIN, keys[0]))
    with pytest.raises(PinMismatchError) as caught:
        trust.check(OTHER_URL, "org_9", ORIGIN, keys[1])
    error = caught.value
    assert error.code is Code.UNTRUSTED_KEY
    assert (error.pinned_origin, error.pinned_vkey, error.offered_vkey) == (
        ORIGIN,
        keys[0],
        keys[1],
    )
    assert "new origin" in error.message


def test_a_new_origin_is_a_new_log_to_confirm_even_under_a_pinned_key(
    keys: tuple[str, str],
) -> None:
    trust = TrustStore()
    trust.confirm(Pin(URL, "org_1", ORIGIN, keys[0]))
    decision = trust.check(OTHER_URL, "org_1", ORIGIN + "/2", keys[0])
    assert decision.needs_confirmation and decision.key_known and not decision.known_log


def test_confirming_a_known_log_elsewhere_records_where_it_was_met(keys: tuple[str, str]) -> None:
    trust = TrustStore()
    trust.confirm(Pin(URL, "org_1", ORIGIN, keys[0]))
    trust.confirm(Pin(OTHER_URL, "org_2", ORIGIN, keys[0]))
    assert trust.locations(ORIGIN) == [(URL, "org_1"), (OTHER_URL, "org_2")]
    assert trust.pinned_origins(keys[0]) == [ORIGIN]
    pins = orjson.loads(trust.path.read_bytes())
    assert pins["version"] == 2 and list(pins["logs"]) == [ORIGIN]


def test_forget_keeps_a_log_that_another_server_still_leads_to(keys: tuple[str, str]) -> None:
    trust = TrustStore()
    trust.confirm(Pin(URL, "org_1", ORIGIN, keys[0]))
    trust.confirm(Pin(OTHER_URL, "org_2", ORIGIN, keys[0]))
    assert trust.forget(URL)
    assert trust.log_vkey(ORIGIN) == keys[0]
    with pytest.raises(PinMismatchError):
        trust.check(URL, "org_1", ORIGIN, keys[1])


def test_a_pins_file_of_the_first_layout_is_read_then_rewritten(keys: tuple[str, str]) -> None:
    trust = TrustStore()
    trust.path.parent.mkdir(parents=True)
    trust.path.write_bytes(
        orjson.dumps({URL: {"vkey": keys[0], "organizations": {"org_1": ORIGIN}}})
    )
    assert trust.pin_for(URL, "org_1") == Pin(URL, "org_1", ORIGIN, keys[0])
    assert trust.check(OTHER_URL, "org_2", ORIGIN, keys[0]).known_log
    with pytest.raises(PinMismatchError):
        trust.check(OTHER_URL, "org_2", ORIGIN, keys[1])
    trust.confirm(Pin(OTHER_URL, "org_2", ORIGIN, keys[0]))
    pins = orjson.loads(trust.path.read_bytes())
    assert pins["version"] == 2
    assert pins["servers"][URL]["organizations"] == {"org_1": ORIGIN}
    assert trust.locations(ORIGIN) == [(URL, "org_1"), (OTHER_URL, "org_2")]


def test_a_mirror_of_the_first_layout_keeps_serving_its_log(
    keys: tuple[str, str], tmp_path: Path
) -> None:
    trust = TrustStore()
    trust.confirm(Pin(URL, "org_1", ORIGIN, keys[0]))
    legacy = mirror_path(URL, "org_1", tmp_path)
    with closing(open_writable(legacy)) as conn:
        conn.executemany(
            "INSERT INTO meta(key, value) VALUES (?, ?)", [("origin", ORIGIN), ("vkey", keys[0])]
        )
    # Met again elsewhere (another URL, another organization id): the same file.
    assert log_mirror_for(Pin(OTHER_URL, "org_2", ORIGIN, keys[0]), trust, tmp_path) == legacy
    # A legacy file of another log is never taken for this one.
    assert log_mirror_for(Pin(URL, "org_1", ORIGIN, keys[1]), trust, tmp_path) == (
        log_mirror_path(ORIGIN, keys[1], tmp_path)
    )


def test_a_pins_file_of_a_newer_version_is_refused_not_rewritten(keys: tuple[str, str]) -> None:
    trust = TrustStore()
    trust.path.parent.mkdir(parents=True)
    newer = orjson.dumps({"version": 3, "logs": {}, "servers": {}, "more": 1})
    trust.path.write_bytes(newer)
    with pytest.raises(ValueError, match="newer"):
        trust.confirm(Pin(URL, "org_1", ORIGIN, keys[0]))
    assert trust.path.read_bytes() == newer
