"""Specification of auditlens.core.note: C2SP signed notes with Ed25519.

Interop vectors come from tests/data/note_vectors.json, copied from golang/mod
(sumdb/note/note_test.go), transparency-dev/formats (log/note_test.go) and the C2SP spec; each
group there names its source.
"""

from __future__ import annotations

import base64
import hashlib
import json
import re
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from auditlens.core.errors import Code, FormatError, VerificationError
from auditlens.core.note import (
    MAX_NOTE_BYTES,
    MAX_SIGNATURES,
    VerifierKey,
    generate_keys,
    key_id,
    open_note,
    parse_skey,
    parse_vkey,
    sign,
    verify_note,
    vkey_from_public_key,
    vkey_of,
)

VECTORS: dict[str, Any] = json.loads(
    (Path(__file__).parent.parent / "data" / "note_vectors.json").read_text("utf-8")
)
GO = VECTORS["go_sumdb_note"]
TD = VECTORS["transparency_dev_formats"]
C2SP = VECTORS["c2sp_signed_note_example"]

PETER_SKEY: str = GO["peter_skey"]
PETER_VKEY: str = GO["peter_vkey"]
ENOCH_VKEY: str = GO["enoch_vkey"]
TEXT: str = GO["text"]
PETER_SIG: str = GO["peter_sig_line"]
ENOCH_SIG: str = GO["enoch_sig_line"]
PETER_SECRET = PETER_SKEY.rsplit("+", 1)[1]


def skey_from_seed(name: str, seed: bytes) -> tuple[str, str]:
    """Build (skey, vkey) from the spec's formulas, independently of the code under test."""
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

    public = Ed25519PrivateKey.from_private_bytes(seed).public_key().public_bytes_raw()
    ident = hashlib.sha256(name.encode() + b"\n\x01" + public).digest()[:4].hex()
    seed64 = base64.b64encode(b"\x01" + seed).decode()
    public64 = base64.b64encode(b"\x01" + public).decode()
    return f"PRIVATE+KEY+{name}+{ident}+{seed64}", f"{name}+{ident}+{public64}"


TRUSTED_SKEY, TRUSTED_VKEY = skey_from_seed("auditlens.test/log", bytes(range(32)))
OTHER_SKEY, OTHER_VKEY = skey_from_seed("witness.example/w1", bytes(range(32, 64)))


def rejected(note: str | bytes, vkeys: str | list[str] = PETER_VKEY) -> VerificationError:
    with pytest.raises(VerificationError) as info:
        verify_note(note, vkeys)
    return info.value


# --- Keys ----------------------------------------------------------------------------------------


def test_the_go_verifier_key_parses_to_its_name_id_and_public_key() -> None:
    key = parse_vkey(PETER_VKEY)
    assert key.name == "PeterNeumann"
    assert key.key_id == 0xC74F20A3
    assert len(key.public_key) == 32
    assert key.vkey == PETER_VKEY


def test_key_id_is_the_first_four_bytes_of_sha256_of_name_newline_type_and_key() -> None:
    key = parse_vkey(PETER_VKEY)
    digest = hashlib.sha256(b"PeterNeumann\n\x01" + key.public_key).digest()
    assert key_id("PeterNeumann", b"\x01" + key.public_key) == int.from_bytes(digest[:4], "big")


def test_the_go_signer_key_derives_the_published_verifier_key() -> None:
    assert vkey_of(PETER_SKEY) == PETER_VKEY


@pytest.mark.parametrize("pair", TD["key_pairs"], ids=lambda p: p[1].split("+")[0])
def test_transparency_dev_signer_keys_derive_their_published_verifier_keys(
    pair: list[str],
) -> None:
    assert vkey_of(pair[0]) == pair[1]


def test_a_verifier_key_is_rebuilt_from_a_raw_public_key() -> None:
    key = parse_vkey(PETER_VKEY)
    assert vkey_from_public_key("PeterNeumann", key.public_key) == PETER_VKEY


def test_generated_keys_are_a_matching_pair_in_the_text_forms() -> None:
    skey, vkey = generate_keys("auditlens.local")
    assert skey.startswith("PRIVATE+KEY+auditlens.local+")
    assert vkey_of(skey) == vkey
    assert verify_note(sign("hello\n", skey), vkey) == "hello\n"


def test_every_truncation_of_the_go_verifier_key_is_rejected() -> None:
    # golang/mod TestNewVerifier: every proper substring fails.
    for i in range(len(PETER_VKEY)):
        for j in range(i + 1, len(PETER_VKEY) + 1):
            if (i, j) != (0, len(PETER_VKEY)) and PETER_VKEY[i:j].strip() != PETER_VKEY:
                with pytest.raises(FormatError):
                    parse_vkey(PETER_VKEY[i:j])


def test_every_single_character_change_of_the_go_verifier_key_is_rejected() -> None:
    for i, char in enumerate(PETER_VKEY):
        with pytest.raises(FormatError):
            parse_vkey(PETER_VKEY[:i] + chr(ord(char) + 1) + PETER_VKEY[i + 1 :])


def test_the_go_wrong_length_verifier_key_is_rejected() -> None:
    # Its base64 ("...BADKEY==") is not canonical, which we refuse before the length check.
    with pytest.raises(FormatError, match="not canonical base64"):
        parse_vkey(GO["bad_vkeys"]["wrong_length_key_adjusted_hash"])


def test_a_verifier_key_of_the_wrong_length_is_rejected_even_with_a_matching_id() -> None:
    data = b"\x01" + parse_vkey(PETER_VKEY).public_key + b"\x00"
    ident = key_id("PeterNeumann", data)
    with pytest.raises(FormatError, match="33 bytes, not 32"):
        parse_vkey(f"PeterNeumann+{ident:08x}+{base64.b64encode(data).decode()}")


def test_a_verifier_key_with_an_unknown_algorithm_byte_is_rejected() -> None:
    with pytest.raises(FormatError, match="unknown signature algorithm 0x65"):
        parse_vkey(GO["bad_vkeys"]["unknown_algorithm_adjusted_hash"])


def test_a_verifier_key_whose_id_does_not_match_names_both_ids() -> None:
    with pytest.raises(FormatError, match=r"key ID c74f20a4 does not match.*c74f20a3"):
        parse_vkey(PETER_VKEY.replace("c74f20a3", "c74f20a4"))


def test_a_verifier_key_with_non_canonical_base64_is_rejected() -> None:
    with pytest.raises(FormatError, match="not canonical base64"):
        parse_vkey(PETER_VKEY + "=")


def test_a_verifier_key_surrounded_by_whitespace_is_accepted() -> None:
    assert parse_vkey(f"  {PETER_VKEY}\n").vkey == PETER_VKEY


def test_every_truncation_and_character_change_of_the_go_signer_key_is_rejected() -> None:
    # golang/mod TestNewSigner; and no error message may leak any of the secret.
    candidates = [
        PETER_SKEY[i:j]
        for i in range(len(PETER_SKEY))
        for j in range(i + 1, len(PETER_SKEY) + 1)
        if (i, j) != (0, len(PETER_SKEY))
    ]
    candidates += [
        PETER_SKEY[:i] + chr(ord(c) + 1) + PETER_SKEY[i + 1 :] for i, c in enumerate(PETER_SKEY)
    ]
    for candidate in candidates:
        with pytest.raises(FormatError) as info:
            parse_skey(candidate)
        assert PETER_SECRET[:12] not in str(info.value)
        assert PETER_SECRET[-12:] not in str(info.value)


def test_a_signer_key_given_as_a_verifier_key_is_refused_without_echoing_it() -> None:
    with pytest.raises(FormatError, match="signer \\(PRIVATE\\) key") as info:
        parse_vkey(PETER_SKEY)
    assert PETER_SECRET not in str(info.value)


def test_a_signer_key_repr_does_not_show_the_private_key() -> None:
    key = parse_skey(PETER_SKEY)
    assert PETER_SECRET not in repr(key)
    assert "PeterNeumann" in repr(key)


@pytest.mark.parametrize(
    ("name", "why"),
    [
        ("", "is empty"),
        ("a+b", "contains '+'"),
        ("a b", "U+0020"),
        ("a\tb", "U+0009"),
        ("a\u00a0b", "U+00A0"),
        ("a\u3000b", "U+3000"),
        ("a\u2028b", "U+2028"),
        ("a\x1fb", "control character U+001F"),
        ("a\ud800b", "lone surrogate"),
    ],
)
def test_key_names_must_be_non_empty_without_plus_spaces_or_controls(name: str, why: str) -> None:
    with pytest.raises(FormatError, match=re.escape(why)):
        generate_keys(name)


def test_key_names_may_be_any_other_unicode() -> None:
    _, vkey = generate_keys("Señor-1/ログ")
    assert parse_vkey(vkey).name == "Señor-1/ログ"


# --- Signing -------------------------------------------------------------------------------------


def test_signing_the_go_text_with_the_go_key_reproduces_the_published_note_exactly() -> None:
    assert sign(TEXT, PETER_SKEY) == GO["signed_note"]


def test_signing_with_two_keys_writes_their_lines_in_order() -> None:
    note = sign(TEXT, [PETER_SKEY, TRUSTED_SKEY])
    lines = note.split("\n\n", 1)[1].splitlines()
    assert lines[0] + "\n" == PETER_SIG
    assert lines[1].startswith("— auditlens.test/log ")


@pytest.mark.parametrize(
    ("text", "why"),
    [
        ("", "ending with a newline"),
        ("abc", "ending with a newline"),
        ("a\rb\n", "control character U+000D at line 1, column 2"),
        ("ok\n\x00\n", "control character U+0000 at line 2, column 1"),
    ],
)
def test_sign_rejects_texts_that_no_verifier_could_accept(text: str, why: str) -> None:
    with pytest.raises(FormatError, match=re.escape(why)) as info:
        sign(text, PETER_SKEY)
    assert PETER_SECRET not in str(info.value)


def test_sign_rejects_a_text_larger_than_the_note_limit() -> None:
    with pytest.raises(FormatError, match="exceeds"):
        sign("a" * MAX_NOTE_BYTES + "\n", PETER_SKEY)


# --- Verifying the published notes ---------------------------------------------------------------


def test_the_published_go_note_verifies_and_returns_its_text() -> None:
    assert verify_note(GO["signed_note"], PETER_VKEY) == TEXT


def test_a_note_given_as_utf8_bytes_verifies_like_text() -> None:
    assert verify_note(GO["signed_note"].encode(), [PETER_VKEY]) == TEXT


def test_a_signature_by_an_unknown_key_is_ignored() -> None:
    opened = open_note(TEXT + "\n" + PETER_SIG + ENOCH_SIG, PETER_VKEY)
    assert opened.text == TEXT
    assert [s.label for s in opened.signatures] == ["PeterNeumann+c74f20a3"]
    assert [s.label for s in opened.unverified] == ["EnochRoot+af0cfe78"]


def test_a_note_signed_by_two_trusted_keys_verifies_both() -> None:
    opened = open_note(TEXT + "\n" + PETER_SIG + ENOCH_SIG, [PETER_VKEY, ENOCH_VKEY])
    assert [s.name for s in opened.signatures] == ["PeterNeumann", "EnochRoot"]
    assert opened.unverified == ()


def test_the_enoch_signature_alone_verifies_with_the_enoch_key() -> None:
    assert verify_note(TEXT + "\n" + ENOCH_SIG, ENOCH_VKEY) == TEXT


def test_a_note_with_no_trusted_signature_is_untrusted_and_names_its_signers() -> None:
    error = rejected(TEXT + "\n" + PETER_SIG + ENOCH_SIG, TRUSTED_VKEY)
    assert error.code is Code.UNTRUSTED_KEY
    assert "PeterNeumann+c74f20a3" in error.message
    assert "EnochRoot+af0cfe78" in error.message


def test_a_note_checked_against_no_keys_is_untrusted() -> None:
    assert rejected(GO["signed_note"], []).code is Code.UNTRUSTED_KEY


def test_a_trusted_name_with_another_key_id_is_untrusted_and_says_the_key_changed() -> None:
    other = parse_vkey(TRUSTED_VKEY)
    impostor = vkey_from_public_key("PeterNeumann", other.public_key)
    error = rejected(GO["signed_note"], impostor)
    assert error.code is Code.UNTRUSTED_KEY
    assert "c74f20a3" in error.message
    assert f"{parse_vkey(impostor).key_id:08x}" in error.message


def test_a_trusted_key_s_bad_signature_is_a_bad_signature_naming_the_key() -> None:
    # golang/mod TestOpen "Invalid signature".
    note = TEXT + "\n" + PETER_SIG[:60] + "ABCD" + PETER_SIG[60:]
    error = rejected(note)
    assert error.code is Code.CHECKPOINT_BAD_SIGNATURE
    assert "PeterNeumann+c74f20a3" in error.message
    assert "line 4" in error.message


def test_a_bad_signature_by_a_trusted_key_fails_even_beside_a_good_one() -> None:
    # Stricter than Go (which skips repeats by one key): the spec says MUST verify each one.
    note = TEXT + "\n" + PETER_SIG + PETER_SIG[:60] + "ABCD" + PETER_SIG[60:]
    assert rejected(note).code is Code.CHECKPOINT_BAD_SIGNATURE


def test_repeated_identical_signatures_verify() -> None:
    # golang/mod TestOpen "Duplicated verified and unverified signatures".
    enoch_abcd = ENOCH_SIG[:60] + "ABCD" + ENOCH_SIG[60:]
    note = TEXT + "\n" + PETER_SIG + PETER_SIG + ENOCH_SIG + ENOCH_SIG + enoch_abcd
    opened = open_note(note, PETER_VKEY)
    assert len(opened.signatures) == 1
    assert len(opened.unverified) == 2


def test_a_changed_text_fails_the_trusted_signature() -> None:
    note = GO["signed_note"].replace("cryptography", "cryptographY")
    assert rejected(note).code is Code.CHECKPOINT_BAD_SIGNATURE


def test_the_c2sp_example_note_parses_but_is_untrusted_without_its_key() -> None:
    error = rejected(C2SP["note"], PETER_VKEY)
    assert error.code is Code.UNTRUSTED_KEY
    sig = base64.b64decode(C2SP["note"].rsplit(" ", 1)[1])
    assert f"{C2SP['key_name']}+{sig[:4].hex()}" in error.message


def test_a_note_text_may_contain_blank_lines_the_last_one_separates_signatures() -> None:
    # The C2SP example's text has a blank line inside; sign our own copy to verify it.
    note = sign(C2SP["text"], TRUSTED_SKEY)
    assert verify_note(note, TRUSTED_VKEY) == C2SP["text"]


def test_two_different_keys_sharing_name_and_id_are_refused() -> None:
    # A key-ID collision cannot be written as vkey text (its ID check fails), so build it.
    key = parse_vkey(PETER_VKEY)
    twin = VerifierKey("PeterNeumann", key.key_id, parse_vkey(TRUSTED_VKEY).public_key)
    with pytest.raises(FormatError, match="share the name and key ID PeterNeumann\\+c74f20a3"):
        verify_note(GO["signed_note"], [key, twin])


# --- Malformed notes -----------------------------------------------------------------------------


@pytest.mark.parametrize("index", range(len(GO["bad_notes"])))
def test_the_go_malformed_notes_are_rejected_as_malformed(index: int) -> None:
    error = rejected(GO["bad_notes"][index])
    assert error.code is Code.CHECKPOINT_BAD_SIGNATURE
    assert error.message.startswith("malformed note")


def test_a_note_that_is_not_utf8_is_malformed_and_says_where() -> None:
    error = rejected(bytes.fromhex(GO["bad_note_invalid_utf8_hex"]))
    assert "not valid UTF-8 (byte offset 0)" in error.message


def test_a_note_with_a_lone_surrogate_is_malformed() -> None:
    assert "lone surrogate" in rejected("\udcff" + GO["signed_note"]).message


def test_every_truncation_of_a_signed_note_is_rejected() -> None:
    note = GO["signed_note"]
    for end in range(len(note)):
        with pytest.raises(VerificationError):
            verify_note(note[:end], PETER_VKEY)


def test_a_note_without_the_blank_line_is_malformed() -> None:
    error = rejected(TEXT + PETER_SIG)
    assert "no blank line" in error.message


def test_an_extra_blank_line_before_the_signatures_changes_the_text_and_fails() -> None:
    assert rejected(TEXT + "\n\n" + PETER_SIG).code is Code.CHECKPOINT_BAD_SIGNATURE


def test_a_blank_line_after_the_signatures_is_malformed() -> None:
    error = rejected(GO["signed_note"] + "\n")
    assert "no signature lines" in error.message


def test_a_blank_line_between_signatures_moves_the_split_and_fails() -> None:
    assert rejected(TEXT + "\n" + PETER_SIG + "\n" + PETER_SIG).code is (
        Code.CHECKPOINT_BAD_SIGNATURE
    )


@pytest.mark.parametrize("dash", ["-", "\u2013", "\u2015", "\u2014\u2014"])
def test_a_signature_line_without_the_em_dash_is_malformed_and_names_the_line(dash: str) -> None:
    error = rejected(TEXT + "\n" + PETER_SIG.replace("\u2014", dash, 1))
    assert "line 4 is not a signature line" in error.message


def test_an_extra_line_after_the_signatures_is_malformed_and_names_it() -> None:
    error = rejected(GO["signed_note"] + "Unexpected line.\n")
    assert "line 5 is not a signature line" in error.message


def test_windows_line_endings_are_malformed() -> None:
    error = rejected(GO["signed_note"].replace("\n", "\r\n"))
    assert "control character U+000D at line 1" in error.message


@pytest.mark.parametrize(
    ("b64", "why"),
    [
        ("x08go/ZJ!uBS9UG", "not canonical base64"),
        (PETER_SIG.split()[2].rstrip("="), "not canonical base64"),
        (PETER_SIG.split()[2][:-2] + "N=", "not canonical base64"),  # nonzero trailing bits
        ("AAAAAA==", "too short"),
    ],
)
def test_a_signature_that_is_not_canonical_base64_of_enough_bytes_is_malformed(
    b64: str, why: str
) -> None:
    error = rejected(f"{TEXT}\n— PeterNeumann {b64}\n")
    assert why in error.message
    assert error.code is Code.CHECKPOINT_BAD_SIGNATURE


def test_a_signature_line_without_a_signature_is_malformed() -> None:
    assert "no signature after key name" in rejected(f"{TEXT}\n— PeterNeumann\n").message


def test_a_wrong_key_id_in_the_signature_makes_it_unknown_so_the_note_is_untrusted() -> None:
    raw = base64.b64decode(PETER_SIG.split()[2])
    wrong = base64.b64encode(b"\xc7\x4f\x20\xa4" + raw[4:]).decode()
    assert rejected(f"{TEXT}\n— PeterNeumann {wrong}\n").code is Code.UNTRUSTED_KEY


def test_a_short_signature_by_a_trusted_key_is_a_bad_signature() -> None:
    raw = base64.b64decode(PETER_SIG.split()[2])
    short = base64.b64encode(raw[:40]).decode()
    error = rejected(f"{TEXT}\n— PeterNeumann {short}\n")
    assert error.code is Code.CHECKPOINT_BAD_SIGNATURE
    assert "36 bytes, not 64" in error.message


def test_up_to_the_signature_limit_is_accepted_one_more_is_malformed() -> None:
    assert verify_note(TEXT + "\n" + PETER_SIG * MAX_SIGNATURES, PETER_VKEY) == TEXT
    error = rejected(TEXT + "\n" + PETER_SIG * (MAX_SIGNATURES + 1))
    assert f"more than {MAX_SIGNATURES}" in error.message


def test_an_oversized_note_is_malformed_before_it_is_parsed() -> None:
    huge = "a" * MAX_NOTE_BYTES + "\n\n" + PETER_SIG
    assert "more than" in rejected(huge).message
    assert "more than" in rejected(huge.encode()).message


def test_a_note_of_another_type_is_malformed_not_a_crash() -> None:
    assert rejected(12345).code is Code.CHECKPOINT_BAD_SIGNATURE  # type: ignore[arg-type]


def test_verification_messages_never_contain_the_signer_key() -> None:
    for note in [*GO["bad_notes"], TEXT + "\n" + PETER_SIG[:60] + "ABCD" + PETER_SIG[60:]]:
        assert PETER_SECRET not in rejected(note).message


# --- Properties ----------------------------------------------------------------------------------

LINE = st.text(st.characters(min_codepoint=0x20, codec="utf-8"), max_size=40)
TEXTS = st.lists(LINE, min_size=1, max_size=6).map(lambda lines: "\n".join(lines) + "\n")


@settings(max_examples=150, deadline=None)
@given(TEXTS)
def test_any_valid_text_signs_and_verifies_to_itself(text: str) -> None:
    assert verify_note(sign(text, TRUSTED_SKEY), TRUSTED_VKEY) == text


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(TEXTS, st.booleans(), st.data())
def test_any_single_byte_change_is_rejected_unless_it_only_touches_an_untrusted_signature(
    text: str, trusted_first: bool, data: st.DataObject
) -> None:
    signers = [TRUSTED_SKEY, OTHER_SKEY] if trusted_first else [OTHER_SKEY, TRUSTED_SKEY]
    note = sign(text, signers).encode()
    block = note.rindex(b"\n\n") + 2
    start = note.index("— witness.example/w1 ".encode(), block)
    untrusted = range(start, note.index(b"\n", start))  # the line without its newline
    position = data.draw(st.integers(0, len(note) - 1), label="position")
    value = data.draw(st.integers(0, 255).filter(lambda b: b != note[position]), label="byte")
    changed = note[:position] + bytes([value]) + note[position + 1 :]
    try:
        verified = verify_note(changed, TRUSTED_VKEY)
    except VerificationError:
        return
    assert position in untrusted
    assert verified == text


def test_a_changed_signature_by_an_unknown_key_is_still_ignored() -> None:
    note = sign(TEXT, [TRUSTED_SKEY, OTHER_SKEY])
    head, last = note[:-1].rsplit("\n", 1)
    changed = head + "\n" + last[:40] + ("A" if last[40] != "A" else "B") + last[41:] + "\n"
    assert changed != note
    assert verify_note(changed, TRUSTED_VKEY) == TEXT
    assert rejected(changed, OTHER_VKEY).code is Code.CHECKPOINT_BAD_SIGNATURE


def test_every_bit_flip_of_the_go_note_is_rejected_unless_it_is_in_the_unknown_signature() -> None:
    note = (TEXT + "\n" + PETER_SIG + ENOCH_SIG).encode()
    enoch = range(note.index("— EnochRoot".encode()), len(note) - 1)  # not its newline
    for position in range(len(note)):
        for bit in range(8):
            changed = bytearray(note)
            changed[position] ^= 1 << bit
            try:
                verified = verify_note(bytes(changed), PETER_VKEY)
            except VerificationError:
                continue
            assert position in enoch, (position, bit)
            assert verified == TEXT
