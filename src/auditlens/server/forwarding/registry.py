"""The destination kinds: each is one module implementing :mod:`.destination`'s interface."""

from __future__ import annotations

import importlib
from types import ModuleType

MODULES = {
    "splunk_hec": "auditlens.server.forwarding.splunk_hec",
    "datadog": "auditlens.server.forwarding.datadog",
    "webhook": "auditlens.server.forwarding.webhook",
    "syslog": "auditlens.server.forwarding.syslog",
    "securityhub": "auditlens.server.forwarding.securityhub",
}
KINDS = tuple(MODULES)


def module(kind: str) -> ModuleType:
    """The module of destination ``kind``; ValueError naming the known kinds otherwise."""
    if kind not in MODULES:
        raise ValueError(f"unknown destination kind {kind!r}; use one of {', '.join(KINDS)}")
    return importlib.import_module(MODULES[kind])
