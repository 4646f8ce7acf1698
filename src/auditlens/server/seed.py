"""Seeding an organization with the deterministic demo data (``serve --demo``, ``seed``).

The demo events go through the same sequencer as live ingest (validated, numbered, hashed,
signed) with the timestamps the generator proposes, in batches of ``batch`` events: one
transaction and one signed checkpoint per batch, so a kill during seeding leaves a shorter
log that still verifies. The people become users with the generator's ids (the events refer to
them) and demo passwords; an ingest key (created by the owner) lets scripts append at once.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from auditlens.server import accounts
from auditlens.server.demo_data import DemoDataset, Person, generate
from auditlens.server.sequencer import validate_batch
from auditlens.server.state import ServerState


@dataclass(frozen=True)
class SeedResult:
    """A seeded organization and the credentials a person needs to try it."""

    org: accounts.Organization
    people: tuple[Person, ...]
    ingest_key: str
    events: int
    size: int

    def person(self, role: str) -> Person:
        return next(p for p in self.people if p.role == role)


def seed_demo(
    state: ServerState,
    *,
    seed: int = 1,
    events: int = 100_000,
    now_ms: int | None = None,
    batch: int = 10_000,
    validate: bool = True,
    progress: Callable[[int, int], None] | None = None,
) -> SeedResult:
    """Create the demo organization with its people and ``events`` events.

    Refuses (``AccountError``) when an organization with the demo's slug already exists.
    ``progress(done, total)`` is called after each committed batch.
    """
    dataset: DemoDataset = generate(seed=seed, events=events, now_ms=now_ms)
    with state.db.write() as conn:
        org = accounts.create_organization(
            conn, state.sequencer, dataset.org_name, dataset.plan, slug=dataset.org_slug
        )
        for p in dataset.people:
            accounts.create_user(
                conn, org.id, email=p.email, name=p.name, role=p.role, password=p.password,
                user_id=p.id,
            )  # fmt: skip
        owner = dataset.first_with_role("owner")
        _, ingest_key = accounts.create_api_key(conn, org.id, "demo platform", "ingest", owner.id)
    done = 0
    size = 0
    times: list[int] = []
    subs: list[dict[str, Any]] = []

    def flush() -> None:
        nonlocal done, size
        if validate:
            validate_batch(subs)
        with state.db.write() as conn:
            size = state.sequencer.append_in(conn, org.id, subs, timestamps=times).size
        done += len(subs)
        times.clear()
        subs.clear()
        if progress is not None:
            progress(done, dataset.count)

    for ts, sub in dataset.events():
        times.append(ts)
        subs.append(sub)
        if len(subs) >= batch:
            flush()
    if subs:
        flush()
    return SeedResult(org, dataset.people, ingest_key, done, size)
