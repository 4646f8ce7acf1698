"""Organizations, users, passwords, login sessions and API keys.

Decisions:

* Passwords are argon2id hashes (argon2-cffi's defaults, the RFC 9106 low-memory profile).
  A login for an unknown email still runs one argon2 verification against a dummy hash, so the
  answer time does not reveal which emails exist.
* Session tokens (``als_…``) and API keys (``alk_…``) are 256-bit random strings from
  :func:`secrets.token_urlsafe`; the database keeps only their SHA-256. A fast hash is right
  here (unlike for passwords): the input has 256 bits of entropy, so there is nothing to
  brute-force, and every request can be checked with one indexed lookup.
* An email is unique across the server (lower-cased), so a login needs no organization name.
* Roles: ``owner`` and ``admin`` may read the audit log and manage API keys; ``member`` may log
  in and see who they are, nothing more. A ``read`` key acts as its creator, with the creator's
  *current* role (a demoted admin's keys lose access at once), so it cannot be created without
  an owner; an ``ingest`` key may only append events.
* Deleting an API key revokes it (``revoked_at``); the row stays so the audit events that name
  the key keep meaning something.
* An organization's origin is ``<server-name>/<slug>`` and never changes (a trigger keeps it).
"""

from __future__ import annotations

import hashlib
import re
import secrets
from dataclasses import dataclass
from functools import lru_cache
from typing import Any, Literal

import sqlalchemy as sa
from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError, VerifyMismatchError
from sqlalchemy.engine import Connection

from auditlens.core.timestamps import format_timestamp
from auditlens.server.schema import api_keys, organizations, sessions, users
from auditlens.server.sequencer import Sequencer, now_ms

ROLES = ("owner", "admin", "member")
READER_ROLES = frozenset({"owner", "admin"})
PLANS: dict[str, int] = {"business": 90, "enterprise": 730}
"""Plan -> retention in days."""
SCOPES = ("read", "ingest")
SESSION_PREFIX = "als_"
KEY_PREFIX = "alk_"
MIN_PASSWORD_LENGTH = 8

_EMAIL = re.compile(r"[^@\s]+@[^@\s]+\.[^@\s]+")
_SLUG = re.compile(r"[a-z0-9](?:[a-z0-9-]{0,62}[a-z0-9])?")

_hasher = PasswordHasher()


class AccountError(ValueError):
    """A request about accounts names something invalid; ``field`` says which input."""

    def __init__(self, field: str, message: str) -> None:
        self.field = field
        super().__init__(message)


@dataclass(frozen=True)
class Organization:
    id: str
    slug: str
    name: str
    plan: str
    origin: str
    min_index: int

    def to_dict(self, vkey: str) -> dict[str, Any]:
        return {
            "id": self.id,
            "name": self.name,
            "plan": self.plan,
            "origin": self.origin,
            "vkey": vkey,
        }


@dataclass(frozen=True)
class User:
    id: str
    org_id: str
    email: str
    name: str
    role: str

    def to_dict(self) -> dict[str, Any]:
        return {"id": self.id, "email": self.email, "name": self.name, "role": self.role}


def set_password_hasher(hasher: PasswordHasher) -> None:
    """Replace the argon2id parameters (tests and benchmarks use cheaper ones; a server keeps
    the defaults). Existing hashes keep verifying: argon2 stores its parameters in the hash."""
    global _hasher  # noqa: PLW0603 - one process-wide policy, like the hash format itself
    _hasher = hasher
    _dummy_hash.cache_clear()


def hash_password(password: str) -> str:
    return _hasher.hash(password)


@lru_cache(maxsize=1)
def _dummy_hash() -> str:
    return _hasher.hash(secrets.token_urlsafe(16))


def verify_password(password_hash: str | None, password: str) -> bool:
    """Check ``password`` against an argon2 hash; with no hash, spend the same time and fail."""
    try:
        return _hasher.verify(password_hash or _dummy_hash(), password) and bool(password_hash)
    except (VerifyMismatchError, VerificationError, InvalidHashError):
        return False


def new_secret(prefix: str) -> str:
    """A fresh bearer secret: ``prefix`` + 43 URL-safe characters (256 bits)."""
    return prefix + secrets.token_urlsafe(32)


def secret_hash(secret: str) -> bytes:
    return hashlib.sha256(secret.encode("utf-8")).digest()


def new_id(prefix: str) -> str:
    return f"{prefix}_{secrets.token_hex(8)}"


def normalize_email(email: str) -> str:
    email = email.strip().lower()
    if not _EMAIL.fullmatch(email) or len(email) > 320:
        raise AccountError("email", "email must look like name@example.com")
    return email


def slugify(name: str) -> str:
    """``"Acme Corp."`` -> ``"acme-corp"``: the organization part of its origin."""
    slug = re.sub(r"[^a-z0-9]+", "-", name.lower()).strip("-")[:64].strip("-")
    if not slug:
        raise AccountError("name", "the organization name needs at least one letter or digit")
    return slug


def _org(row: Any) -> Organization:
    return Organization(row.id, row.slug, row.name, row.plan, row.origin, int(row.min_index))


def _user(row: Any) -> User:
    return User(row.id, row.org_id, row.email, row.name, row.role)


def create_organization(
    conn: Connection,
    sequencer: Sequencer,
    name: str,
    plan: str,
    *,
    slug: str | None = None,
    org_id: str | None = None,
) -> Organization:
    """Create an organization with an empty, signed log at origin ``<server>/<slug>``."""
    if plan not in PLANS:
        raise AccountError("plan", f"plan must be one of {', '.join(PLANS)}, not {plan!r}")
    if not name.strip():
        raise AccountError("name", "the organization needs a name")
    slug = slug or slugify(name)
    if not _SLUG.fullmatch(slug):
        raise AccountError("slug", "slug must be lower-case letters, digits and inner dashes")
    if conn.execute(sa.select(organizations.c.id).where(organizations.c.slug == slug)).first():
        raise AccountError("slug", f"an organization with slug {slug!r} already exists")
    org = Organization(
        org_id or new_id("org"),
        slug,
        name.strip(),
        plan,
        f"{sequencer.signer.name}/{slug}",
        0,
    )
    conn.execute(
        sa.insert(organizations).values(
            id=org.id,
            slug=org.slug,
            name=org.name,
            plan=org.plan,
            origin=org.origin,
            tree_size=0,
            frontier=b"",
            last_ts=0,
            min_index=0,
            created_at=now_ms(),
        )
    )
    sequencer.start_log(conn, org.id, org.origin)
    return org


def find_organization(conn: Connection, ref: str) -> Organization | None:
    """Find an organization by id, slug or exact name."""
    row = conn.execute(
        sa.select(organizations).where(
            sa.or_(
                organizations.c.id == ref,
                organizations.c.slug == ref,
                organizations.c.name == ref,
            )
        )
    ).first()
    return _org(row) if row else None


def get_organization(conn: Connection, org_id: str) -> Organization:
    row = conn.execute(sa.select(organizations).where(organizations.c.id == org_id)).one()
    return _org(row)


def list_organizations(conn: Connection) -> list[Organization]:
    rows = conn.execute(sa.select(organizations).order_by(organizations.c.slug)).all()
    return [_org(r) for r in rows]


def create_user(
    conn: Connection,
    org_id: str,
    *,
    email: str,
    name: str,
    role: str,
    password: str,
    user_id: str | None = None,
) -> User:
    """Create a user; the password is stored as an argon2id hash only."""
    if role not in ROLES:
        raise AccountError("role", f"role must be one of {', '.join(ROLES)}, not {role!r}")
    if len(password) < MIN_PASSWORD_LENGTH:
        raise AccountError(
            "password", f"the password must have at least {MIN_PASSWORD_LENGTH} characters"
        )
    email = normalize_email(email)
    if conn.execute(sa.select(users.c.id).where(users.c.email == email)).first():
        raise AccountError("email", f"a user with email {email} already exists")
    user = User(user_id or new_id("usr"), org_id, email, name.strip() or email, role)
    conn.execute(
        sa.insert(users).values(
            id=user.id,
            org_id=org_id,
            email=user.email,
            name=user.name,
            role=role,
            password_hash=hash_password(password),
            created_at=now_ms(),
        )
    )
    return user


def find_user(conn: Connection, org_id: str, email: str) -> User | None:
    """The user of ``org_id`` with ``email`` (any case), or None."""
    row = conn.execute(
        sa.select(users).where(users.c.org_id == org_id, users.c.email == email.strip().lower())
    ).first()
    return _user(row) if row else None


def user_for_login(conn: Connection, email: str) -> tuple[User, str] | None:
    """The user with ``email`` and their password hash, or None."""
    row = conn.execute(sa.select(users).where(users.c.email == email.strip().lower())).first()
    return (_user(row), row.password_hash) if row else None


def list_users(conn: Connection, org_id: str) -> list[User]:
    rows = conn.execute(
        sa.select(users).where(users.c.org_id == org_id).order_by(users.c.email)
    ).all()
    return [_user(r) for r in rows]


# --- sessions and keys ------------------------------------------------------------------------


def create_session(conn: Connection, user: User, ttl_seconds: int) -> tuple[str, int]:
    """Store a new session for ``user``; return ``(token, expires_at_ms)``.

    Expired sessions of the same user are removed on the way (sessions are not audit data).
    """
    now = now_ms()
    conn.execute(
        sa.delete(sessions).where(sessions.c.user_id == user.id, sessions.c.expires_at <= now)
    )
    token = new_secret(SESSION_PREFIX)
    expires = now + ttl_seconds * 1000
    conn.execute(
        sa.insert(sessions).values(
            token_hash=secret_hash(token),
            user_id=user.id,
            org_id=user.org_id,
            created_at=now,
            expires_at=expires,
        )
    )
    return token, expires


def end_session(conn: Connection, token: str) -> None:
    conn.execute(sa.delete(sessions).where(sessions.c.token_hash == secret_hash(token)))


@dataclass(frozen=True)
class ApiKey:
    id: str
    org_id: str
    name: str
    scope: str
    prefix: str
    created_by: str | None
    created_at: int

    def to_dict(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "name": self.name,
            "scope": self.scope,
            "prefix": self.prefix,
            "created_by": self.created_by,
            "created_at": format_timestamp(self.created_at),
        }


def _api_key(row: Any) -> ApiKey:
    return ApiKey(
        row.id, row.org_id, row.name, row.scope, row.prefix, row.created_by, int(row.created_at)
    )


def create_api_key(
    conn: Connection, org_id: str, name: str, scope: str, created_by: str | None
) -> tuple[ApiKey, str]:
    """Create an API key; return it and its secret (shown once, stored only as a hash)."""
    if scope not in SCOPES:
        raise AccountError("scope", f"scope must be one of {', '.join(SCOPES)}, not {scope!r}")
    if scope == "read" and created_by is None:
        raise AccountError(
            "user", "a read key acts as its owner, with the owner's role: name an owner or admin"
        )
    name = name.strip()
    if not name or len(name) > 200:
        raise AccountError("name", "the key needs a name of 1 to 200 characters")
    secret = new_secret(KEY_PREFIX)
    key = ApiKey(new_id("key"), org_id, name, scope, secret[:12], created_by, now_ms())
    conn.execute(
        sa.insert(api_keys).values(
            id=key.id,
            org_id=org_id,
            name=name,
            scope=scope,
            prefix=key.prefix,
            key_hash=secret_hash(secret),
            created_by=created_by,
            created_at=key.created_at,
        )
    )
    return key, secret


def list_api_keys(conn: Connection, org_id: str) -> list[ApiKey]:
    rows = conn.execute(
        sa.select(api_keys)
        .where(api_keys.c.org_id == org_id, api_keys.c.revoked_at.is_(None))
        .order_by(api_keys.c.created_at, api_keys.c.id)
    ).all()
    return [_api_key(r) for r in rows]


def revoke_api_key(conn: Connection, org_id: str, key_id: str) -> ApiKey | None:
    """Revoke a live key of ``org_id``; None when there is no such key."""
    row = conn.execute(
        sa.select(api_keys).where(
            api_keys.c.id == key_id,
            api_keys.c.org_id == org_id,
            api_keys.c.revoked_at.is_(None),
        )
    ).first()
    if row is None:
        return None
    conn.execute(sa.update(api_keys).where(api_keys.c.id == key_id).values(revoked_at=now_ms()))
    return _api_key(row)


# --- credentials ------------------------------------------------------------------------------

CredentialKind = Literal["session", "read_key", "ingest_key"]


@dataclass(frozen=True)
class Principal:
    """Who a bearer credential speaks for."""

    kind: CredentialKind
    org: Organization
    user: User | None
    key_id: str | None = None

    @property
    def can_read(self) -> bool:
        return (
            self.kind in ("session", "read_key")
            and self.user is not None
            and self.user.role in READER_ROLES
        )


#: The organization's columns a credential lookup selects beside its own (with ``org_id``):
#: the session and the API-key query each return the principal's organization in the same row.
_CREDENTIAL_ORG = (
    organizations.c.slug,
    organizations.c.name.label("org_name"),
    organizations.c.plan,
    organizations.c.origin,
    organizations.c.min_index,
)


def _credential_org(row: Any) -> Organization:
    return Organization(
        row.org_id, row.slug, row.org_name, row.plan, row.origin, int(row.min_index)
    )


def resolve_credential(conn: Connection, secret: str) -> Principal | None:
    """The principal of a session token or API key, or None when it is unknown or expired."""
    digest = secret_hash(secret)
    if secret.startswith(SESSION_PREFIX):
        row = conn.execute(
            sa.select(users, *_CREDENTIAL_ORG)
            .select_from(
                sessions.join(users).join(organizations, organizations.c.id == users.c.org_id)
            )
            .where(sessions.c.token_hash == digest, sessions.c.expires_at > now_ms())
        ).first()
        if row is None:
            return None
        return Principal("session", _credential_org(row), _user(row))
    if secret.startswith(KEY_PREFIX):
        # One query for the key, its organization and its creator: every API-key request
        # runs it, and on PostgreSQL each query is a round trip to a busy server.
        row = conn.execute(
            sa.select(
                api_keys.c.id.label("key_id"),
                api_keys.c.scope,
                organizations.c.id.label("org_id"),
                *_CREDENTIAL_ORG,
                users.c.id.label("user_id"),
                users.c.org_id.label("user_org_id"),
                users.c.email,
                users.c.name.label("user_name"),
                users.c.role,
            )
            .select_from(
                api_keys.join(organizations, organizations.c.id == api_keys.c.org_id).outerjoin(
                    users, users.c.id == api_keys.c.created_by
                )
            )
            .where(api_keys.c.key_hash == digest, api_keys.c.revoked_at.is_(None))
        ).first()
        if row is None:
            return None
        user = None
        if row.user_id is not None:
            user = User(row.user_id, row.user_org_id, row.email, row.user_name, row.role)
        kind: CredentialKind = "ingest_key" if row.scope == "ingest" else "read_key"
        return Principal(kind, _credential_org(row), user, row.key_id)
    return None
