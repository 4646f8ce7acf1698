"""The log read API (C2SP tlog-tiles under ``/v1/log/``) and proof helpers.

Decisions:

* Everything is answered from one read snapshot, bounded by the newest checkpoint's size, so
  a client never gets a tile or proof for entries its checkpoint does not cover yet.
* A full tile never changes: it is served with ``Cache-Control: private, max-age=31536000,
  immutable`` (private: it needs a credential). A partial tile ``.p/W`` is served whenever the
  tree has at least ``W`` nodes there (its content is the prefix of the growing tile) and is
  marked ``no-cache``; a tile the tree does not have yet is 404.
* Entry bundles below ``min_index`` answer 410 (pruned by retention); their hash tiles remain.
* A malformed tile path is 400 naming what is wrong.
* Proof sizes default to the current size; ``0 <= index < size <= current`` and
  ``1 <= from <= to <= current`` are required (422 otherwise). Hashes are standard base64.
"""

from __future__ import annotations

import base64
from typing import Annotated

import sqlalchemy as sa
from fastapi import APIRouter, Query, Response
from sqlalchemy.engine import Connection

from auditlens.core.errors import FormatError
from auditlens.core.tiles import encode_entry_bundle, parse_tile_path
from auditlens.server import models
from auditlens.server.deps import ReaderDep, StateDep
from auditlens.server.models import problems
from auditlens.server.problems import ProblemError, invalid
from auditlens.server.responses import JSONBytes
from auditlens.server.schema import checkpoints, organizations
from auditlens.server.tree import PrunedError, TreeReader

router = APIRouter(prefix="/v1/log", tags=["log"])

IMMUTABLE = "private, max-age=31536000, immutable"
MUTABLE = "private, no-cache"


def _state(conn: Connection, org_id: str) -> tuple[int, int, str]:
    """``(size, min_index, checkpoint note)`` of the newest checkpoint."""
    row = conn.execute(
        sa.select(checkpoints.c.size, checkpoints.c.note, organizations.c.min_index)
        .join(organizations, organizations.c.id == checkpoints.c.org_id)
        .where(checkpoints.c.org_id == org_id)
        .order_by(checkpoints.c.size.desc())
        .limit(1)
    ).one()
    return int(row.size), int(row.min_index), row.note


def _b64(hashes: list[bytes]) -> list[str]:
    return [base64.b64encode(h).decode("ascii") for h in hashes]


@router.get(
    "/checkpoint",
    summary="The newest signed checkpoint (C2SP tlog-checkpoint)",
    response_class=Response,
    responses={200: {"content": {"text/plain": {}}}, **problems(401, 403)},
)
def checkpoint(state: StateDep, principal: ReaderDep) -> Response:
    with state.db.read() as conn:
        _, _, note = _state(conn, principal.org.id)
    return Response(
        note, media_type="text/plain; charset=utf-8", headers={"Cache-Control": "no-store"}
    )


@router.get(
    "/info",
    summary="Origin, verifier key, size and min_index of this log",
    response_model=models.LogInfoOut,
    responses=problems(401, 403),
)
def info(state: StateDep, principal: ReaderDep) -> Response:
    with state.db.read() as conn:
        size, min_index, _ = _state(conn, principal.org.id)
    return JSONBytes(
        {
            "origin": principal.org.origin,
            "vkey": state.vkey,
            "size": size,
            "min_index": min_index,
        },
        headers={"Cache-Control": "no-store"},
    )


@router.get(
    "/tile/{path:path}",
    summary="A tlog-tiles hash tile or entry bundle",
    response_class=Response,
    responses={
        200: {"content": {"application/octet-stream": {}}},
        **problems(400, 401, 403, 404, 410),
    },
)
def tile(path: str, state: StateDep, principal: ReaderDep) -> Response:
    try:
        ref = parse_tile_path("tile/" + path)
    except FormatError as exc:
        raise ProblemError(400, f"malformed tile path: {exc}", slug="bad-tile-path") from None
    with state.db.read() as conn:
        size, min_index, _ = _state(conn, principal.org.id)
        reader = TreeReader(conn, principal.org.id, size)
        data: bytes | None
        if ref.level is None:
            if ref.first < min_index:
                raise ProblemError(
                    410,
                    f"entries {ref.first}-{ref.first + ref.width - 1} were removed by the "
                    f"retention policy (min_index {min_index}); their hashes remain",
                    slug="pruned",
                )
            try:
                bodies = reader.entry_bodies(ref.n, ref.width)
            except PrunedError as exc:
                raise ProblemError(410, str(exc), slug="pruned") from None
            data = encode_entry_bundle(bodies) if bodies is not None else None
        else:
            data = reader.hash_tile(ref.level, ref.n, ref.width)
    if data is None:
        raise ProblemError(404, f"the log (size {size}) has no tile {ref.path} yet")
    return Response(
        data,
        media_type="application/octet-stream",
        headers={"Cache-Control": MUTABLE if ref.is_partial else IMMUTABLE},
    )


@router.get(
    "/proof/inclusion",
    summary="Inclusion proof of one entry in a tree size",
    response_model=models.InclusionOut,
    responses=problems(401, 403, 422),
)
def inclusion(
    state: StateDep,
    principal: ReaderDep,
    index: Annotated[int, Query(ge=0)],
    size: Annotated[int | None, Query(ge=1)] = None,
) -> Response:
    with state.db.read() as conn:
        current, _, _ = _state(conn, principal.org.id)
        size = current if size is None else size
        if size > current:
            raise invalid("size", f"exceeds the log's size {current}")
        if index >= size:
            raise invalid("index", f"must be below size {size}")
        proof = TreeReader(conn, principal.org.id, current).inclusion_proof(index, size)
    return JSONBytes({"index": index, "size": size, "proof": _b64(proof)})


@router.get(
    "/proof/consistency",
    summary="Consistency proof between two tree sizes",
    response_model=models.ConsistencyOut,
    responses=problems(401, 403, 422),
)
def consistency(
    state: StateDep,
    principal: ReaderDep,
    from_: Annotated[int, Query(alias="from", ge=1)],
    to: Annotated[int | None, Query(ge=1)] = None,
) -> Response:
    with state.db.read() as conn:
        current, _, _ = _state(conn, principal.org.id)
        to = current if to is None else to
        if to > current:
            raise invalid("to", f"exceeds the log's size {current}")
        if from_ > to:
            raise invalid("from", f"must not exceed to ({to})")
        proof = TreeReader(conn, principal.org.id, current).consistency_proof(from_, to)
    return JSONBytes({"from": from_, "to": to, "proof": _b64(proof)})
