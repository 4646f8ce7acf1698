"""An in-memory tlog-tiles server built with auditlens.core, served through httpx.MockTransport.

It exists to drive the sync engine into the cases a well-behaved real server never produces
(forks, truncation, bytes that do not match the hashes, a changed key), cheaply and exactly.
Integration tests against the real server live in test_sync_server.py.
"""

from __future__ import annotations

import base64
from collections.abc import Callable
from dataclasses import dataclass, field

import httpx
import orjson

from auditlens.core import merkle, note, tiles
from auditlens.core.checkpoint import Checkpoint
from auditlens.core.event_ids import EventIdGenerator
from auditlens.core.timestamps import format_timestamp

ORIGIN = "test.local/acme"
T0 = 1_767_225_600_000  # 2026-01-01T00:00:00Z


def make_event(i: int, *, event_type: str = "agent.action", **extra: object) -> bytes:
    """The canonical bytes of a small valid event number ``i``."""
    body: dict[str, object] = {
        "outcome": "failure" if i % 7 == 0 else "success",
        "tool": "browser.navigate",
        "url": f"https://example.com/{i}",
    }
    body.update(extra)
    obj = {
        "id": EventIdGenerator().new(T0 + i),
        "timestamp": format_timestamp(T0 + i * 1000),
        "type": event_type,
        "user_id": f"usr_{i % 5}",
        "task_id": f"tsk_{i % 13}",
        "agent_id": f"agt_{i % 3}",
        "event": body,
    }
    return orjson.dumps(obj, option=orjson.OPT_SORT_KEYS)


@dataclass
class FakeLog:
    """A log of entry bytes with the server's key; ``handler`` answers the audit API."""

    origin: str = ORIGIN
    server_name: str = "test.local"
    entries: list[bytes] = field(default_factory=list)
    min_index: int = 0
    #: bytes served instead of the logged ones (the hashes stay those of ``entries``)
    served: dict[int, bytes] = field(default_factory=dict)
    #: when set, replaces the checkpoint note served
    checkpoint_override: str | None = None
    requests: list[str] = field(default_factory=list)
    #: called before answering each request (e.g. to cancel a sync mid-way)
    on_request: Callable[[httpx.Request], None] | None = None
    role: str = "admin"
    #: entries left out at the end of every entry bundle served
    drop_from_bundles: int = 0

    def __post_init__(self) -> None:
        self.skey, self.vkey = note.generate_keys(self.server_name)

    @classmethod
    def with_entries(cls, count: int) -> FakeLog:
        """A log already holding ``count`` events."""
        log = cls()
        log.append(count)
        return log

    def append(self, count: int) -> None:
        start = len(self.entries)
        self.entries.extend(make_event(i) for i in range(start, start + count))

    def leaf_hashes(self, size: int | None = None) -> list[bytes]:
        return [merkle.leaf_hash(e) for e in self.entries[: size if size is not None else None]]

    def checkpoint(self, size: int | None = None, skey: str | None = None) -> str:
        size = len(self.entries) if size is None else size
        cp = Checkpoint(self.origin, size, merkle.root(self.leaf_hashes(size)))
        signed: str = note.sign_checkpoint(cp, skey or self.skey)
        return signed

    # -- HTTP ---------------------------------------------------------------------------------

    def transport(self) -> httpx.MockTransport:
        return httpx.MockTransport(self.handler)

    def handler(self, request: httpx.Request) -> httpx.Response:
        path = request.url.path.removeprefix("/v1/")
        self.requests.append(path)
        if self.on_request is not None:
            self.on_request(request)
        if path == "auth/login":
            body = orjson.loads(request.content)
            if body.get("password") != "right":
                return _problem(401, "Unauthorized", "wrong email or password")
            return httpx.Response(
                200,
                json={
                    "token": "tok-secret-123",
                    "token_type": "bearer",
                    "expires_at": "2030-01-01T00:00:00.000Z",
                    "user": self._user(),
                    "organization": self._org(),
                },
            )
        if request.headers.get("Authorization") != "Bearer tok-secret-123":
            return _problem(401, "Unauthorized", "missing or bad credential")
        if path == "me":
            return httpx.Response(200, json={"user": self._user(), "organization": self._org()})
        if self.role == "member":
            return _problem(403, "Forbidden", "owners and admins only")
        if path == "users":
            return httpx.Response(200, json={"items": [self._user()]})
        if path == "log/info":
            return httpx.Response(
                200,
                json={
                    "origin": self.origin,
                    "vkey": self.vkey,
                    "size": len(self.entries),
                    "min_index": self.min_index,
                },
            )
        if path == "log/checkpoint":
            return httpx.Response(200, text=self.checkpoint_override or self.checkpoint())
        if path == "log/proof/consistency":
            first, second = int(request.url.params["from"]), int(request.url.params["to"])
            proof = merkle.consistency_proof(self.leaf_hashes(), first, second)
            return httpx.Response(
                200,
                json={"from": first, "to": second, "proof": [_b64(h) for h in proof]},
            )
        if path.startswith("log/tile/"):
            return self._tile(path.removeprefix("log/"))
        return _problem(404, "Not Found", path)

    def _tile(self, path: str) -> httpx.Response:
        ref = tiles.parse_tile_path(path)
        first = ref.n * tiles.TILE_WIDTH
        if ref.level is None:
            if first < self.min_index:
                return _problem(410, "Gone", "pruned")
            items = [self.served.get(i, self.entries[i]) for i in range(first, first + ref.width)]
            if self.drop_from_bundles:
                items = items[: -self.drop_from_bundles]
            return httpx.Response(200, content=tiles.encode_entry_bundle(items))
        span = tiles.TILE_WIDTH ** (ref.level + 1)
        leaves = self.leaf_hashes()[ref.n * span : (ref.n + 1) * span]
        hashes = tiles.level_hashes(leaves, ref.level)[: ref.width]
        return httpx.Response(200, content=tiles.encode_hash_tile(hashes))

    def _user(self) -> dict[str, str]:
        return {"id": "usr_0", "email": "ada@example.com", "name": "Ada", "role": self.role}

    def _org(self) -> dict[str, str]:
        return {
            "id": "org_1",
            "name": "Acme",
            "plan": "business",
            "origin": self.origin,
            "vkey": self.vkey,
        }


def _b64(data: bytes) -> str:
    return base64.b64encode(data).decode()


def _problem(status: int, title: str, detail: str) -> httpx.Response:
    return httpx.Response(
        status,
        json={"type": "about:blank", "title": title, "status": status, "detail": detail},
        headers={"Content-Type": "application/problem+json"},
    )
