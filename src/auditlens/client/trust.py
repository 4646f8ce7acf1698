"""Pinning a server's log identity (origin + verifier key) on first contact.

The first time the viewer meets a server + organization, :meth:`TrustStore.check` answers
``needs_confirmation`` with the origin and vkey the server announced; the UI (or ``auditlens
login``) shows them so the person can compare them with what they were given out of band
(optionally pasting that vkey: :meth:`TrustStore.confirm` then refuses a different one), and
only :meth:`TrustStore.confirm` pins them. Later, a different key for the server or a different
origin for the organization raises :class:`PinMismatchError`, a :class:`VerificationError`
(``UNTRUSTED_KEY`` / ``ORIGIN_MISMATCH``) with both values in its message *and* as attributes, so
the UI shows the two keys side by side without parsing a sentence. There is no silent re-pin:
replacing a pin takes an explicit :meth:`TrustStore.forget` by the person.

Pins live in ``pins.json`` in the config directory, keyed by normalized server URL. One server
signs every organization's log with its one key, so the vkey is pinned per server and the origin
per organization: ``{url: {"vkey": ..., "organizations": {org_id: origin}}}``. The sync engine
also records the pair in the mirror's ``meta`` and checks the two agree.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum
from pathlib import Path

from auditlens.client.api import normalize_server_url
from auditlens.client.paths import config_dir, read_json_file, write_json_file
from auditlens.core import note
from auditlens.core.errors import Code, FormatError, VerificationError


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
    origin is new (the dialog can say so).
    """

    status: TrustStatus
    pin: Pin
    key_known: bool = False

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


class TrustStore:
    """The pins file; every method re-reads it so several processes can share it."""

    def __init__(self, path: Path | None = None) -> None:
        self.path = path or (config_dir() / "pins.json")

    def _server_entry(self, server_url: str) -> dict[str, object] | None:
        entry = read_json_file(self.path).get(server_url)
        return entry if isinstance(entry, dict) else None

    def pin_for(self, server_url: str, organization_id: str) -> Pin | None:
        """The pin of this server + organization, or None before first contact is confirmed."""
        server = normalize_server_url(server_url)
        entry = self._server_entry(server)
        if entry is None:
            return None
        orgs = entry.get("organizations")
        vkey = entry.get("vkey")
        if not isinstance(orgs, dict) or not isinstance(vkey, str):
            return None
        origin = orgs.get(organization_id)
        if not isinstance(origin, str):
            return None
        return Pin(server, organization_id, origin, vkey)

    def pinned_vkey(self, server_url: str) -> str | None:
        entry = self._server_entry(normalize_server_url(server_url))
        vkey = entry.get("vkey") if entry else None
        return vkey if isinstance(vkey, str) else None

    def check(self, server_url: str, organization_id: str, origin: str, vkey: str) -> TrustDecision:
        """Compare what a server announced with the pins.

        Returns TRUSTED when it matches, NEEDS_CONFIRMATION on first contact; raises
        PinMismatchError (UNTRUSTED_KEY / ORIGIN_MISMATCH, both identities as attributes and in
        the message) when it contradicts a pin.
        """
        server = normalize_server_url(server_url)
        announced = Pin(server, organization_id, origin, vkey.strip())
        trusted_key = self.pinned_vkey(server)
        pin = self.pin_for(server, organization_id)
        if trusted_key is not None and trusted_key != announced.vkey:
            raise key_changed_error(
                server,
                trusted_key,
                announced.vkey,
                trusted_origin=pin.origin if pin else None,
                announced_origin=origin,
            )
        if pin is None:
            return TrustDecision(
                TrustStatus.NEEDS_CONFIRMATION, announced, key_known=trusted_key is not None
            )
        if pin.origin != origin:
            raise origin_changed_error(pin, origin)
        return TrustDecision(TrustStatus.TRUSTED, pin, key_known=True)

    def confirm(self, pin: Pin, *, pasted_vkey: str | None = None) -> Pin:
        """Pin ``pin`` after the person confirmed it; never replaces a different existing pin.

        ``pasted_vkey`` is the key the person was given out of band: when set, it must equal
        the announced key (UNTRUSTED_KEY otherwise, both shown).
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
        pins = read_json_file(self.path)
        entry = pins.get(server)
        if not isinstance(entry, dict):
            entry = {"vkey": vkey, "organizations": {}}
        orgs = entry.setdefault("organizations", {})
        assert isinstance(orgs, dict)
        orgs[pin.organization_id] = pin.origin
        pins[server] = entry
        write_json_file(self.path, pins)
        return Pin(server, pin.organization_id, pin.origin, vkey)

    def forget(self, server_url: str) -> bool:
        """Remove every pin of a server (an explicit act of the person); True if one existed."""
        server = normalize_server_url(server_url)
        pins = read_json_file(self.path)
        if server not in pins:
            return False
        del pins[server]
        write_json_file(self.path, pins)
        return True
