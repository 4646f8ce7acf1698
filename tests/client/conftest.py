"""Client tests never touch the person's keyring, settings or data: all of it is redirected."""

from __future__ import annotations

from tests.helpers.isolation import (  # the fixtures, registered for this package
    MemoryKeyring,
    isolated_home,
    memory_keyring,
)

__all__ = ["MemoryKeyring", "isolated_home", "memory_keyring"]
