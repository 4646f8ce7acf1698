"""Pinning: first contact asks, a pin never changes silently, a pasted key must match."""

from __future__ import annotations

import pytest

from auditlens.client.trust import Pin, PinMismatchError, TrustStore
from auditlens.core import note
from auditlens.core.errors import Code, VerificationError

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
