"""auditlens: a desktop viewer for a verifiable, append-only audit log.

The package is layered (architecture.md §2): ``core`` holds formats and cryptography with no I/O;
``server`` is the reference audit API; ``client``, ``mirror`` and ``export`` are the viewer's
engine; ``ui`` is Qt only. Dependencies point one way: ui -> export, mirror, client -> core;
server -> core.
"""

__version__ = "0.2.0"
