"""Pinning a log's identity (signed origin + verifier key) on first contact.

The identity of a log, for this client, is its signed origin together with the key that signs
it: not the server URL, not the organization id the server chooses. The same origin and key
reached through another URL or under another organization id is the SAME log (one mirror, whose
history any new checkpoint must extend, else LOG_FORKED); the same origin under another key is
UNTRUSTED_KEY. A server that wants to start a new history must give it a new origin, and the
person then sees a new log to confirm.

The first time the viewer meets a log, :meth:`TrustStore.check` answers ``needs_confirmation``
with the origin and vkey the server announced; the UI (or ``auditlens login``) shows them so the
person can compare them with what they were given out of band (optionally pasting that vkey:
:meth:`TrustStore.confirm` then refuses a different one), and only :meth:`TrustStore.confirm`
pins them. Later, a different key for a pinned log or server, or a different origin for a pinned
organization, raises :class:`PinMismatchError`, a :class:`VerificationError` (``UNTRUSTED_KEY`` /
``ORIGIN_MISMATCH``) with both values in its message *and* as attributes, so the UI shows the two
keys side by side without parsing a sentence. There is no silent re-pin: replacing a pin takes
an explicit :meth:`TrustStore.forget` by the person.

Pins live in ``pins.json`` in the config directory::

    {"version": 2,
     "logs":    {origin: {"vkey": vkey}},
     "servers": {url: {"vkey": vkey, "organizations": {org_id: origin}}}}

``logs`` is the identity; ``servers`` records where each log was met (one server signs all its
organizations' logs with its one key, so a key is also pinned per server URL: a proxy swapping
the key is caught even for a log not seen yet). Files of the first layout (``{url: {"vkey",
"organizations"}}``, no ``version``) are read as they are, their logs derived from the
organizations' origins, and rewritten in this layout on the next change.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum
from pathlib import Path

from auditlens.client.paths import (
    config_dir,
    normalize_server_url,
    read_json_file,
    write_json_file,
)
from auditlens.core import note
from auditlens.core.errors import Code, FormatError, VerificationError

PINS_VERSION = 2


@dataclass(frozen=True)
class Pin:
    """The log identity trusted for one organization on one server."""

    server_url: str
    organization_id: str
    origin: str
    vkey: str


class TrustStatus(StrEnum):
    TRUSTED = "trusted"
    NEEDS_CONFIRMATION = "needs_confirmation"


@dataclass(frozen=True)
class TrustDecision:
    """What :meth:`TrustStore.check` concluded; show ``pin.origin`` and ``pin.vkey`` to confirm.

    ``key_known`` is True when the server's key is already pinned and only this organization's
    origin is new (the dialog can say so). ``known_log`` is True when the log itself (origin +
    key) is already trusted but met here for the first time (another URL or organization id):
    it is trusted without asking, and syncs into the mirror of that log.
    """

    status: TrustStatus
    pin: Pin
    key_known: bool = False
    known_log: bool = False

    @property
    def needs_confirmation(self) -> bool:
        return self.status is TrustStatus.NEEDS_CONFIRMATION


def normalize_vkey(text: str) -> str:
    """Return a vkey without surrounding whitespace, or raise ValueError saying it is malformed."""
    vkey = "".join(text.split())
    try:
        note.parse_vkey(vkey)
    except FormatError as exc:
        raise ValueError(f"The verifier key {text.strip()!r} is not a valid vkey: {exc}") from None
    return vkey


class PinMismatchError(VerificationError):
    """What a server announced contradicts the pin: both identities, as data and in words.

    ``code`` is UNTRUSTED_KEY when the verifier key differs, ORIGIN_MISMATCH when only the
    origin does. ``pinned_*`` is what the person trusted, ``offered_*`` what the server (or a
    mirror file) presents now; an origin is None where it is not known (a key can be pinned for
    the server before this organization's origin is).
    """

    def __init__(
        self,
        code: Code,
        message: str,
        *,
        server_url: str,
        pinned_origin: str | None,
        pinned_vkey: str,
        offered_origin: str | None,
        offered_vkey: str,
    ) -> None:
        super().__init__(code, message)
        self.server_url = server_url
        self.pinned_origin = pinned_origin
        self.pinned_vkey = pinned_vkey
        self.offered_origin = offered_origin
        self.offered_vkey = offered_vkey


def key_changed_error(
    server_url: str,
    trusted: str,
    announced: str,
    *,
    trusted_origin: str | None = None,
    announced_origin: str | None = None,
) -> PinMismatchError:
    """UNTRUSTED_KEY: the server presents ``announced`` where ``trusted`` was pinned."""
    return PinMismatchError(
        Code.UNTRUSTED_KEY,
        f"The server at {server_url} announced the verifier key {announced}, but the key you "
        f"trusted for it is {trusted}. The server may have been replaced or the connection "
        "intercepted; nothing was accepted from it. If the server's operator really changed "
        "the key, remove the old pin explicitly and confirm the new key out of band.",
        server_url=server_url,
        pinned_origin=trusted_origin,
        pinned_vkey=trusted,
        offered_origin=announced_origin,
        offered_vkey=announced,
    )


def origin_changed_error(pin: Pin, announced: str) -> PinMismatchError:
    """ORIGIN_MISMATCH: the organization's log presents another origin under the same key."""
    return PinMismatchError(
        Code.ORIGIN_MISMATCH,
        f"The server at {pin.server_url} announced the log origin {announced!r} for "
        f"organization {pin.organization_id}, but the origin you trusted is {pin.origin!r}. "
        "Nothing was accepted from it.",
        server_url=pin.server_url,
        pinned_origin=pin.origin,
        pinned_vkey=pin.vkey,
        offered_origin=announced,
        offered_vkey=pin.vkey,
    )


def log_key_changed_error(
    server_url: str, origin: str, trusted: str, announced: str
) -> PinMismatchError:
    """UNTRUSTED_KEY: a pinned log (origin) is presented under another key, wherever it is."""
    return PinMismatchError(
        Code.UNTRUSTED_KEY,
        f"The server at {server_url} presents the log {origin!r} signed with the verifier key "
        f"{announced}, but the key you trusted for that log is {trusted}. One origin names one "
        "log with one key: nothing was accepted from this server. A server that starts a new "
        "log must give it a new origin.",
        server_url=server_url,
        pinned_origin=origin,
        pinned_vkey=trusted,
        offered_origin=origin,
        offered_vkey=announced,
    )


@dataclass
class _Pins:
    """The pins file in memory: ``logs`` {origin: vkey}, ``servers`` {url: entry}."""

    logs: dict[str, str]
    servers: dict[str, dict[str, object]]

    @classmethod
    def parse(cls, raw: dict[str, object]) -> _Pins:
        if "version" not in raw:  # the first layout: {url: {"vkey", "organizations"}}
            servers = {k: v for k, v in raw.items() if isinstance(v, dict)}
            logs: dict[str, str] = {}
            for entry in servers.values():
                vkey, orgs = entry.get("vkey"), entry.get("organizations")
                if isinstance(vkey, str) and isinstance(orgs, dict):
                    for origin in orgs.values():
                        if isinstance(origin, str):
                            logs.setdefault(origin, vkey)
            return cls(logs, servers)
        version = raw["version"]
        if not isinstance(version, int) or version > PINS_VERSION:
            raise ValueError(
                f"The pins file is of version {version!r}, newer than this auditlens reads "
                f"({PINS_VERSION}); update auditlens rather than lose pins it cannot read."
            )
        raw_logs, raw_servers = raw.get("logs"), raw.get("servers")
        logs = {}
        if isinstance(raw_logs, dict):
            for origin, entry in raw_logs.items():
                vkey = entry.get("vkey") if isinstance(entry, dict) else None
                if isinstance(vkey, str):
                    logs[origin] = vkey
        servers = (
            {k: v for k, v in raw_servers.items() if isinstance(v, dict)}
            if isinstance(raw_servers, dict)
            else {}
        )
        return cls(logs, servers)

    def dump(self) -> dict[str, object]:
        return {
            "version": PINS_VERSION,
            "logs": {origin: {"vkey": vkey} for origin, vkey in self.logs.items()},
            "servers": self.servers,
        }

    def server_vkey(self, server: str) -> str | None:
        vkey = self.servers.get(server, {}).get("vkey")
        return vkey if isinstance(vkey, str) else None

    def organizations(self, server: str) -> dict[str, str]:
        orgs = self.servers.get(server, {}).get("organizations")
        if not isinstance(orgs, dict):
            return {}
        return {k: v for k, v in orgs.items() if isinstance(v, str)}


class TrustStore:
    """The pins file; every method re-reads it so several processes can share it."""

    def __init__(self, path: Path | None = None) -> None:
        self.path = path or (config_dir() / "pins.json")

    def _load(self) -> _Pins:
        return _Pins.parse(read_json_file(self.path))

    def pin_for(self, server_url: str, organization_id: str) -> Pin | None:
        """The pin of this server + organization, or None before first contact is confirmed."""
        server = normalize_server_url(server_url)
        pins = self._load()
        origin = pins.organizations(server).get(organization_id)
        vkey = pins.logs.get(origin) if origin is not None else None
        if origin is None or vkey is None:
            return None
        return Pin(server, organization_id, origin, vkey)

    def pins_at(self, server_url: str) -> list[Pin]:
        """Every organization's pin on this server, in the order they were pinned."""
        server = normalize_server_url(server_url)
        found = (self.pin_for(server, org) for org in self._load().organizations(server))
        return [pin for pin in found if pin is not None]

    def servers(self) -> list[str]:
        """The server URLs where a log was pinned, in the order they were first pinned."""
        return list(self._load().servers)

    def pinned_vkey(self, server_url: str) -> str | None:
        return self._load().server_vkey(normalize_server_url(server_url))

    def log_vkey(self, origin: str) -> str | None:
        """The key pinned for the log ``origin``, wherever it was met; None if not pinned."""
        return self._load().logs.get(origin)

    def locations(self, origin: str) -> list[tuple[str, str]]:
        """Where the log ``origin`` was met: (server URL, organization id) pairs."""
        pins = self._load()
        return [
            (server, org)
            for server in pins.servers
            for org, pinned in pins.organizations(server).items()
            if pinned == origin
        ]

    def pinned_origins(self, vkey: str) -> list[str]:
        """The origins of the logs pinned with this key (one server key may sign several)."""
        wanted = "".join(vkey.split())
        return [origin for origin, key in self._load().logs.items() if key == wanted]

    def check(self, server_url: str, organization_id: str, origin: str, vkey: str) -> TrustDecision:
        """Compare what a server announced with the pins.

        Returns TRUSTED when it matches a pinned organization or a pinned log (``known_log``:
        the same origin and key met at another URL or under another organization id),
        NEEDS_CONFIRMATION on first contact with a log; raises PinMismatchError
        (UNTRUSTED_KEY / ORIGIN_MISMATCH, both identities as attributes and in the message)
        when it contradicts a pin.
        """
        server = normalize_server_url(server_url)
        announced = Pin(server, organization_id, origin, "".join(vkey.split()))
        pins = self._load()
        trusted_key = pins.server_vkey(server)
        pinned_origin = pins.organizations(server).get(organization_id)
        if trusted_key is not None and trusted_key != announced.vkey:
            raise key_changed_error(
                server,
                trusted_key,
                announced.vkey,
                trusted_origin=pinned_origin,
                announced_origin=origin,
            )
        log_key = pins.logs.get(origin)
        if log_key is not None and log_key != announced.vkey:
            raise log_key_changed_error(server, origin, log_key, announced.vkey)
        if pinned_origin is not None and pinned_origin != origin:
            raise origin_changed_error(
                Pin(server, organization_id, pinned_origin, pins.logs.get(pinned_origin, "")),
                origin,
            )
        if pinned_origin is not None:
            return TrustDecision(TrustStatus.TRUSTED, announced, key_known=True)
        if log_key is not None:
            return TrustDecision(TrustStatus.TRUSTED, announced, key_known=True, known_log=True)
        key_known = trusted_key is not None or announced.vkey in pins.logs.values()
        return TrustDecision(TrustStatus.NEEDS_CONFIRMATION, announced, key_known=key_known)

    def confirm(self, pin: Pin, *, pasted_vkey: str | None = None) -> Pin:
        """Pin ``pin`` after the person confirmed it; never replaces a different existing pin.

        ``pasted_vkey`` is the key the person was given out of band: when set, it must equal
        the announced key (UNTRUSTED_KEY otherwise, both shown). Confirming a pin that holds
        already is harmless: it records where a known log was met.
        """
        server = normalize_server_url(pin.server_url)
        vkey = normalize_vkey(pin.vkey)
        if pasted_vkey is not None and pasted_vkey.strip():
            expected = normalize_vkey(pasted_vkey)
            if expected != vkey:
                raise VerificationError(
                    Code.UNTRUSTED_KEY,
                    f"The server at {server} announced the verifier key {vkey}, which is not "
                    f"the key you were given ({expected}). It was not trusted.",
                )
        self.check(server, pin.organization_id, pin.origin, vkey)  # refuses a contradiction
        pins = self._load()
        entry = pins.servers.setdefault(server, {"vkey": vkey})
        entry.setdefault("vkey", vkey)
        orgs = entry.get("organizations")
        if not isinstance(orgs, dict):
            orgs = entry["organizations"] = {}
        orgs[pin.organization_id] = pin.origin
        pins.logs.setdefault(pin.origin, vkey)
        write_json_file(self.path, pins.dump())
        return Pin(server, pin.organization_id, pin.origin, vkey)

    def forget(self, server_url: str) -> bool:
        """Remove every pin of a server (an explicit act of the person); True if one existed.

        A log stays pinned while another server or organization still leads to it; the logs
        only this server led to are forgotten with it.
        """
        server = normalize_server_url(server_url)
        pins = self._load()
        if server not in pins.servers:
            return False
        del pins.servers[server]
        still_used = {o for s in pins.servers for o in pins.organizations(s).values()}
        pins.logs = {o: k for o, k in pins.logs.items() if o in still_used}
        write_json_file(self.path, pins.dump())
        return True


def pinned_origin_for_key(vkey: str, path: Path | None = None) -> str | None:
    """The origin to expect in an export verified with ``vkey``, from the viewer's pins.

    For ``auditlens verify`` without ``--origin``: when exactly one log is pinned with this key,
    an export from another log under the same server key (another organization) must not
    verify as if it were that one. None when no log or several logs are pinned with the key, or
    when the pins cannot be read (verification then names the origin it found, as before).
    Imports nothing that talks to a network, so ``verify`` stays offline and light.
    """
    try:
        origins = TrustStore(path).pinned_origins(vkey)
    except (OSError, ValueError):
        return None
    return origins[0] if len(origins) == 1 else None
