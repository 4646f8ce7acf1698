"""The sign-in flow shared by the window and the command line, without any Qt.

::

    attempt = sign_in(url, email=..., password=...)      # or api_key=...
    if attempt.needs_confirmation:                        # first contact: show origin + vkey
        attempt.confirm(pasted_vkey=...)                  # pins, then stores the credential
    session = attempt.session                             # ActiveSession
    engine = session.sync_engine()                        # SyncEngine for the mirror

    session = resume(url)   # later / headless: the stored credential, pin required

A credential is stored in the keyring only once the server's identity is trusted (already
pinned, or confirmed by the person), so an unconfirmed server never gets a remembered token.
A log already trusted (same origin and key) met at another URL or under another organization
id is trusted without asking (:attr:`TrustDecision.known_log`): the place is recorded in the
pins and the session syncs into that log's one mirror, where another history is LOG_FORKED.
Pin contradictions raise VerificationError (UNTRUSTED_KEY / ORIGIN_MISMATCH) before anything
is stored.
"""

from __future__ import annotations

import ssl
from dataclasses import dataclass, field
from pathlib import Path

from auditlens.client.api import AuditApiClient, Identity, normalize_server_url
from auditlens.client.credentials import CredentialStore, StoredCredential, api_key_account
from auditlens.client.sync import SyncEngine
from auditlens.client.trust import Pin, TrustDecision, TrustStore
from auditlens.client.verified import VerifiedCheckpoints
from auditlens.mirror.store import find_log_mirror


class NotSignedInError(Exception):
    """No stored credential (or pin) for the server: sign in first."""


def log_mirror_for(pin: Pin, trust: TrustStore, base_dir: Path | None = None) -> Path:
    """The mirror file of ``pin``'s log (a file of the earlier layout if that holds it)."""
    return find_log_mirror(pin.origin, pin.vkey, trust.locations(pin.origin), base_dir)


def signed_in_mirror(server_url: str, base_dir: Path | None = None) -> Path:
    """The mirror of the log read through ``server_url`` (for headless ``export --server``).

    The organization is the one of the stored credential when it names one, else the only
    organization pinned on that server. ValueError says what is missing.
    """
    from auditlens.client.credentials import CredentialStore

    url = normalize_server_url(server_url)
    trust = TrustStore()
    pins = trust.pins_at(url)
    credential = CredentialStore().load(url)
    wanted = credential.organization_id if credential is not None else None
    if wanted is not None:
        pins = [p for p in pins if p.organization_id == wanted]
    if len(pins) != 1:
        raise ValueError(
            f"no trusted log for {url}: run `auditlens login --server {url}` and "
            "`auditlens sync` first, or pass --mirror PATH"
            if not pins
            else f"several logs are pinned for {url}; pass --mirror PATH"
        )
    return log_mirror_for(pins[0], trust, base_dir)


@dataclass
class ActiveSession:
    """A signed-in, trusted connection to one organization's log."""

    client: AuditApiClient
    identity: Identity
    pin: Pin
    trust: TrustStore | None = field(default=None, repr=False)

    @property
    def server_url(self) -> str:
        return self.client.base_url

    def mirror_path(self, base_dir: Path | None = None) -> Path:
        """The mirror of this session's LOG (origin + key), whatever URL or organization id."""
        return log_mirror_for(self.pin, self.trust or TrustStore(), base_dir)

    def sync_engine(self, mirror_dir: Path | None = None) -> SyncEngine:
        trust = self.trust or TrustStore()
        return SyncEngine(
            self.client,
            self.mirror_path(mirror_dir),
            self.pin,
            organization_name=self.identity.organization.name,
            verified=VerifiedCheckpoints(trust.path.parent / "checkpoints"),  # beside the pins
        )

    def close(self) -> None:
        self.client.close()


@dataclass
class SignInAttempt:
    """A successful authentication whose server identity may still need the person's OK."""

    client: AuditApiClient
    identity: Identity
    decision: TrustDecision
    credential: StoredCredential
    trust: TrustStore
    credentials: CredentialStore
    store: bool = True
    _session: ActiveSession | None = field(default=None, repr=False)

    @property
    def needs_confirmation(self) -> bool:
        return self._session is None

    @property
    def origin(self) -> str:
        return self.decision.pin.origin

    @property
    def vkey(self) -> str:
        return self.decision.pin.vkey

    def confirm(self, pasted_vkey: str | None = None) -> ActiveSession:
        """Pin the announced origin + vkey (checked against ``pasted_vkey`` if given), store
        the credential, and return the session."""
        if self._session is None:
            pin = self.trust.confirm(self.decision.pin, pasted_vkey=pasted_vkey)
            if self.store:
                self.credentials.save(self.credential)
            self._session = ActiveSession(self.client, self.identity, pin, self.trust)
        return self._session

    def keep(self, *, to_file: bool = False) -> bool:
        """Store the credential (for a sign-in made with ``store=False``); True when it will
        outlive this process (keyring or credentials file), False when it is only in memory."""
        self.credentials.save(self.credential, to_file=to_file)
        return to_file or not self.credentials.in_memory

    @property
    def session(self) -> ActiveSession:
        if self._session is None:
            raise RuntimeError("confirm the server's origin and key first")
        return self._session


def sign_in(
    server_url: str,
    *,
    email: str | None = None,
    password: str | None = None,
    api_key: str | None = None,
    token: str | None = None,
    verify_tls: bool | ssl.SSLContext = True,
    trust: TrustStore | None = None,
    credentials: CredentialStore | None = None,
    store: bool = True,
) -> SignInAttempt:
    """Authenticate (email + password, an API key or a session token) and check the server
    against the pins. With ``store=False`` nothing is stored: call
    :meth:`SignInAttempt.keep` once the caller decided the credential is to be kept."""
    trust = trust or TrustStore()
    credentials = credentials or CredentialStore()
    client = AuditApiClient(server_url, verify_tls=verify_tls)
    try:
        if api_key is not None or token is not None:
            secret = api_key if api_key is not None else token
            assert secret is not None
            client.token = secret
            identity = client.me()
            credential = StoredCredential(
                client.base_url,
                api_key_account(secret) if api_key is not None else identity.user.email,
                "api_key" if api_key is not None else "session",
                secret,
                organization_id=identity.organization.id,
            )
        else:
            if not email or password is None:
                raise ValueError("Sign-in needs an email and a password, or an API key")
            session = client.login(email, password)
            identity = session
            credential = StoredCredential(
                client.base_url,
                email,
                "session",
                session.token,
                expires_at=session.expires_at,
                organization_id=session.organization.id,
            )
        org = identity.organization
        decision = trust.check(client.base_url, org.id, org.origin, org.vkey)
    except BaseException:
        client.close()
        raise
    attempt = SignInAttempt(client, identity, decision, credential, trust, credentials, store)
    if not decision.needs_confirmation:
        pin = trust.confirm(decision.pin) if decision.known_log else decision.pin
        if store:
            credentials.save(credential)
        attempt._session = ActiveSession(client, Identity(identity.user, org), pin, trust)
    return attempt


def resume(
    server_url: str,
    *,
    verify_tls: bool | ssl.SSLContext = True,
    trust: TrustStore | None = None,
    credentials: CredentialStore | None = None,
    credential: StoredCredential | None = None,
) -> ActiveSession:
    """The session of the stored credential for ``server_url`` (for start-up and ``sync``), or
    of ``credential`` when given (a key read from ``--api-key-file``).

    Raises NotSignedInError without a credential or pin, NotAuthenticated when the server no
    longer accepts it, VerificationError (UNTRUSTED_KEY / ORIGIN_MISMATCH) when the server
    contradicts the pin.
    """
    trust = trust or TrustStore()
    credentials = credentials or CredentialStore()
    url = normalize_server_url(server_url)
    credential = credential or credentials.load(url)
    if credential is None:
        raise NotSignedInError(
            f"You are not signed in to {url}: run `auditlens login` first (or set "
            "AUDITLENS_API_KEY / AUDITLENS_TOKEN, or pass --api-key-file)."
        )
    client = AuditApiClient(url, credential.secret, verify_tls=verify_tls)
    try:
        identity = client.me()
        org = identity.organization
        decision = trust.check(url, org.id, org.origin, org.vkey)
        if decision.needs_confirmation:
            raise NotSignedInError(
                f"The log of {org.name or org.id} on {url} is not trusted yet: sign in again "
                "and confirm its origin and key."
            )
        pin = trust.confirm(decision.pin) if decision.known_log else decision.pin
    except BaseException:  # NotAuthenticated, VerificationError, ...: close, then tell
        client.close()
        raise
    return ActiveSession(client, Identity(identity.user, org), pin, trust)


def sign_out(
    server_url: str,
    *,
    credentials: CredentialStore | None = None,
    verify_tls: bool | ssl.SSLContext = True,
) -> bool:
    """End the session on the server (best effort) and remove the stored credential."""
    credentials = credentials or CredentialStore()
    url = normalize_server_url(server_url)
    credential = credentials.load(url)
    # A token from the environment belongs to whoever set it: never end it from here.
    if (
        credential is not None
        and credential.kind == "session"
        and credential.source != "environment"
    ):
        try:
            with AuditApiClient(url, credential.secret, verify_tls=verify_tls) as client:
                client.logout()
        except Exception:
            pass  # the server may be gone; forgetting the token locally is what matters
    return credentials.delete(url)


__all__ = [
    "ActiveSession",
    "NotSignedInError",
    "SignInAttempt",
    "resume",
    "sign_in",
    "sign_out",
    "signed_in_mirror",
]
