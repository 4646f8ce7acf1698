"""Specification of C2SP tlog-checkpoint bodies and signed checkpoints.

Vectors from tests/data/note_vectors.json: golang/mod sumdb/tlog/note_test.go (FormatTree /
ParseTree), transparency-dev/formats log/note_test.go (a real sum.golang.org checkpoint) and the
C2SP tlog-checkpoint spec example.
"""

from __future__ import annotations

import base64
import hashlib
import json
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from auditlens.core.checkpoint import MAX_TREE_SIZE
from auditlens.core.errors import Code, FormatError, VerificationError
from auditlens.core.note import (
    Checkpoint,
    sign,
    sign_checkpoint,
    verify_checkpoint,
)

VECTORS: dict[str, Any] = json.loads(
    (Path(__file__).parent.parent / "data" / "note_vectors.json").read_text("utf-8")
)
TREE = VECTORS["go_sumdb_tlog_tree"]
TD = VECTORS["transparency_dev_formats"]
SPEC = VECTORS["c2sp_tlog_checkpoint_example"]
LOG_SKEY, LOG_VKEY = TD["key_pairs"][0]
WITNESS_SKEY, WITNESS_VKEY = TD["key_pairs"][1]

ROOT = hashlib.sha256(b"\x00hello world").digest()
ORIGIN = "auditlens.local/acme"


def checkpoint(size: int = 7, extensions: tuple[str, ...] = ()) -> Checkpoint:
    return Checkpoint(ORIGIN, size, ROOT, extensions)


# --- Body format ---------------------------------------------------------------------------------


def test_format_matches_the_go_tlog_golden_text() -> None:
    root = hashlib.sha256(b"\x00" + TREE["leaf_data"].encode()).digest()
    assert Checkpoint(TREE["origin"], TREE["size"], root).format() == TREE["body"]


def test_parse_reads_the_go_tlog_golden_text() -> None:
    parsed = Checkpoint.parse(TREE["body"])
    assert (parsed.origin, parsed.size, parsed.extensions) == (TREE["origin"], TREE["size"], ())
    assert parsed.root == hashlib.sha256(b"\x00hello world").digest()


@pytest.mark.parametrize("body", TREE["bad_bodies"])
def test_the_go_tlog_bad_bodies_are_rejected(body: str) -> None:
    with pytest.raises(FormatError, match=r"line [23]"):
        Checkpoint.parse(body)


def test_the_c2sp_example_body_parses() -> None:
    body = SPEC["note"].split("\n\n")[0] + "\n"
    parsed = Checkpoint.parse(body)
    assert (parsed.origin, parsed.size, parsed.root_b64) == (
        SPEC["origin"],
        SPEC["size"],
        SPEC["root_b64"],
    )
    assert parsed.format() == body


def test_extension_lines_are_kept_and_formatted_after_the_root() -> None:
    cp = checkpoint(extensions=("ext one", "— ext two"))
    assert cp.format().endswith("\next one\n— ext two\n")
    assert Checkpoint.parse(cp.format()) == cp


def test_an_empty_tree_has_size_zero() -> None:
    empty = Checkpoint(ORIGIN, 0, hashlib.sha256(b"").digest())
    assert empty.format().split("\n")[1] == "0"
    assert Checkpoint.parse(empty.format()) == empty


@pytest.mark.parametrize("size", ["007", "+7", "-7", " 7", "7 ", "7_0", "٧", "", "1e3"])
def test_a_size_that_is_not_plain_decimal_is_rejected_naming_line_2(size: str) -> None:
    body = f"{ORIGIN}\n{size}\n{base64.b64encode(ROOT).decode()}\n"
    with pytest.raises(FormatError, match="line 2 \\(tree size\\)"):
        Checkpoint.parse(body)


def test_a_size_beyond_int64_is_rejected() -> None:
    body = f"{ORIGIN}\n{MAX_TREE_SIZE + 1}\n{base64.b64encode(ROOT).decode()}\n"
    with pytest.raises(FormatError, match="exceeds"):
        Checkpoint.parse(body)


@pytest.mark.parametrize(
    ("root", "why"),
    [
        (base64.b64encode(ROOT[:31]).decode(), "31 bytes, not 32"),
        (base64.b64encode(ROOT).decode().rstrip("="), "not canonical base64"),
        (base64.urlsafe_b64encode(b"\xff" * 32).decode(), "not canonical base64"),
        (base64.b64encode(ROOT).decode()[:-2] + "B=", "not canonical base64"),
        ("", "0 bytes, not 32"),
    ],
)
def test_a_root_that_is_not_canonical_base64_of_32_bytes_is_rejected(root: str, why: str) -> None:
    with pytest.raises(FormatError, match=f"line 3 \\(root hash\\).*{why}"):
        Checkpoint.parse(f"{ORIGIN}\n7\n{root}\n")


@pytest.mark.parametrize(
    ("body", "why"),
    [
        ("", "empty"),
        (f"{ORIGIN}\n7\n", "2 line"),
        (checkpoint().format()[:-1], "newline"),
        ("\n" + checkpoint().format().split("\n", 1)[1], "line 1 \\(origin\\) is empty"),
        (checkpoint().format() + "\n", "line 4 \\(extension\\) is empty"),
        (checkpoint().format() + "a\tb\n", "control character U\\+0009"),
    ],
)
def test_a_malformed_body_is_rejected_saying_what(body: str, why: str) -> None:
    with pytest.raises(FormatError, match=why):
        Checkpoint.parse(body)


@pytest.mark.parametrize(
    "kwargs",
    [
        {"origin": ""},
        {"origin": "a\nb"},
        {"size": -1},
        {"size": True},
        {"size": MAX_TREE_SIZE + 1},
        {"root": b"\x00" * 31},
        {"extensions": ("",)},
        {"extensions": ("a\nb",)},
    ],
)
def test_a_checkpoint_cannot_be_built_from_invalid_fields(kwargs: dict[str, Any]) -> None:
    fields: dict[str, Any] = {"origin": ORIGIN, "size": 7, "root": ROOT} | kwargs
    with pytest.raises(FormatError):
        Checkpoint(**fields)


@settings(max_examples=200, deadline=None)
@given(
    st.text(st.characters(min_codepoint=0x20, codec="utf-8"), min_size=1),
    st.integers(0, MAX_TREE_SIZE),
    st.binary(min_size=32, max_size=32),
    st.lists(
        st.text(st.characters(min_codepoint=0x20, codec="utf-8"), min_size=1),
        max_size=3,
    ),
)
def test_format_and_parse_round_trip(origin: str, size: int, root: bytes, ext: list[str]) -> None:
    cp = Checkpoint(origin, size, root, tuple(ext))
    assert Checkpoint.parse(cp.format()) == cp


# --- Signed checkpoints --------------------------------------------------------------------------


def test_a_real_sum_golang_org_checkpoint_verifies() -> None:
    cp = verify_checkpoint(TD["sumdb_checkpoint"], TD["sumdb_vkey"], TD["sumdb_origin"])
    assert cp.size == TD["sumdb_size"]


def test_the_real_checkpoint_with_another_expected_origin_is_an_origin_mismatch() -> None:
    with pytest.raises(VerificationError) as info:
        verify_checkpoint(TD["sumdb_checkpoint"], TD["sumdb_vkey"], "Go rocks")
    assert info.value.code is Code.ORIGIN_MISMATCH
    assert "'go.sum database tree'" in info.value.message
    assert "'Go rocks'" in info.value.message


def test_the_c2sp_example_checkpoint_is_untrusted_without_its_key() -> None:
    with pytest.raises(VerificationError) as info:
        verify_checkpoint(SPEC["note"], TD["sumdb_vkey"], SPEC["origin"])
    assert info.value.code is Code.UNTRUSTED_KEY


def test_a_signed_checkpoint_verifies_to_the_same_checkpoint() -> None:
    cp = checkpoint(extensions=("ext",))
    assert verify_checkpoint(sign_checkpoint(cp, LOG_SKEY), LOG_VKEY, ORIGIN) == cp


def test_witness_signatures_by_unknown_keys_are_ignored() -> None:
    note = sign_checkpoint(checkpoint(), [LOG_SKEY, WITNESS_SKEY])
    assert verify_checkpoint(note, LOG_VKEY, ORIGIN) == checkpoint()
    assert verify_checkpoint(note, [WITNESS_VKEY, LOG_VKEY], ORIGIN) == checkpoint()


def test_a_checkpoint_signed_only_by_a_witness_is_untrusted() -> None:
    note = sign_checkpoint(checkpoint(), WITNESS_SKEY)
    with pytest.raises(VerificationError) as info:
        verify_checkpoint(note, LOG_VKEY, ORIGIN)
    assert info.value.code is Code.UNTRUSTED_KEY


def test_a_changed_size_fails_the_signature() -> None:
    note = sign_checkpoint(checkpoint(7), LOG_SKEY).replace("\n7\n", "\n8\n", 1)
    with pytest.raises(VerificationError) as info:
        verify_checkpoint(note, LOG_VKEY, ORIGIN)
    assert info.value.code is Code.CHECKPOINT_BAD_SIGNATURE


def test_the_signature_is_checked_before_the_origin() -> None:
    note = sign_checkpoint(checkpoint(), LOG_SKEY).replace(ORIGIN, "evil.example/acme", 1)
    with pytest.raises(VerificationError) as info:
        verify_checkpoint(note, LOG_VKEY, ORIGIN)
    assert info.value.code is Code.CHECKPOINT_BAD_SIGNATURE


def test_the_origin_is_checked_before_the_body() -> None:
    note = sign("other.example/log\nnot a size\n", LOG_SKEY)
    with pytest.raises(VerificationError) as info:
        verify_checkpoint(note, LOG_VKEY, ORIGIN)
    assert info.value.code is Code.ORIGIN_MISMATCH


def test_a_validly_signed_bad_body_is_proof_malformed_saying_what() -> None:
    # transparency-dev/formats "bad body good sigs", with our origin first.
    note = sign(f"{ORIGIN}\nif this is a valid checkpoint then I'll eat my hat\nx\n", LOG_SKEY)
    with pytest.raises(VerificationError) as info:
        verify_checkpoint(note, LOG_VKEY, ORIGIN)
    assert info.value.code is Code.PROOF_MALFORMED
    assert "line 2 (tree size)" in info.value.message


def test_a_malformed_checkpoint_note_is_a_bad_signature() -> None:
    with pytest.raises(VerificationError) as info:
        verify_checkpoint(checkpoint().format(), LOG_VKEY, ORIGIN)
    assert info.value.code is Code.CHECKPOINT_BAD_SIGNATURE
    assert "malformed note" in info.value.message
