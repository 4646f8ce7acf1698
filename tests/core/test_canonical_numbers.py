"""ECMAScript number serialization against cyberphone's published ES6 number test file.

The file (100 million ``hex-ieee,expected`` lines) is generated deterministically; its README
(copied into tests/data/jcs/README.md) publishes the SHA-256 of the first N lines. Regenerating
the inputs here and writing the expected column with our serializer must reproduce those hashes:
one wrong digit anywhere changes the hash.
"""

from __future__ import annotations

import hashlib
import math
import re
import struct
from collections.abc import Iterator
from pathlib import Path

import pytest

from auditlens.core.canonical import format_number

README = Path(__file__).resolve().parents[1] / "data" / "jcs" / "README.md"


def _static_values() -> list[int]:
    text = README.read_text()
    block = text[text.index("staticU64s = new BigUint64Array([") : text.index("])\nstaticF64s")]
    return [int(h, 16) for h in re.findall(r"0x([0-9a-f]+)n", block)]


def _es6_test_values() -> Iterator[int]:
    """The numgen.js sequence: static edge cases, 2000 serial subnormals, then SHA-256 chained."""
    yield from _static_values()
    for i in range(2000):
        yield 0x0010000000000000 + i
    block, pending = bytes(32), list[float]()
    while True:
        value = 0.0
        while value == 0.0 or not math.isfinite(value):
            if not pending:
                block = hashlib.sha256(block).digest()
                pending = list(struct.unpack("<4d", block))
            value = pending.pop(0)
        yield struct.unpack("<Q", struct.pack("<d", value))[0]


def _hash_of_first(lines: int) -> tuple[str, int]:
    digest, size = hashlib.sha256(), 0
    for _, bits in zip(range(lines), _es6_test_values(), strict=False):
        value = struct.unpack("<d", struct.pack("<Q", bits))[0]
        line = f"{bits:x},{format_number(value)}\n".encode()
        digest.update(line)
        size += len(line)
    return digest.hexdigest(), size


def test_static_edge_cases_are_read_from_the_published_readme() -> None:
    assert len(_static_values()) == 168


@pytest.mark.parametrize(
    ("lines", "sha256", "size"),
    [
        (1000, "be18b62b6f69cdab33a7e0dae0d9cfa869fda80ddc712221570f9f40a5878687", 37967),
        (10000, "b9f7a8e75ef22a835685a52ccba7f7d6bdc99e34b010992cbc5864cd12be6892", 399022),
        (100000, "22776e6d4b49fa294a0d0f349268e5c28808fe7e0cb2bcbe28f63894e494d4c7", 4031728),
    ],
)
def test_es6_number_file_hash(lines: int, sha256: str, size: int) -> None:
    assert _hash_of_first(lines) == (sha256, size)


@pytest.mark.slow
def test_es6_number_file_hash_first_million() -> None:
    expected = "49415fee2c56c77864931bd3624faad425c3c577d6d74e89a83bc725506dad16"
    assert _hash_of_first(1_000_000) == (expected, 40357417)
