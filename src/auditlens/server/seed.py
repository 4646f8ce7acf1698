"""Seeding an organization with the deterministic demo data (``serve --demo``, ``seed``).

The people become users with the generator's ids (the events refer to them) and demo
passwords; an ingest key (created by the owner) lets scripts append at once. The events reach
the log one of two ways, which write the same signed log (the same entries, tree and
checkpoints, one every ``batch`` events; a test compares them):

- ``bulk=True`` (the default): :mod:`auditlens.server.bulk_append`, the log written in
  transactions of up to 100,000 events, the generator and the events' canonical bytes in a
  second process when a core is idle (``bench/seed.py`` measures it against the sequencer);
- ``bulk=False``: the sequencer, as live ingest does, one transaction and one signed checkpoint
  per batch.

Either way a kill during seeding leaves a shorter log that still verifies.

The events are not validated one by one unless ``validate=True``: the generator's events are
valid by construction, its tests validate every event of whole streams, and checking them again
costs about a third of a seed.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from auditlens.server import accounts
from auditlens.server.bulk_append import bulk_append
from auditlens.server.bulk_prepare import prepared
from auditlens.server.bulk_process import prepared_in_subprocess
from auditlens.server.demo_data import DemoDataset, Person, generate
from auditlens.server.sequencer import validate_batch
from auditlens.server.state import ServerState

PARALLEL_FROM = 20_000
"""From this many events the bulk path prepares them in a second process, when a core is idle
(below it, starting the process costs more than it saves)."""


def _idle_core() -> bool:
    """Whether another process would get a core of its own (load average below cores - 1).

    The second process only pays when it runs beside the writer: on a busy machine it adds its
    start-up and the batches' pickling to a CPU that is already shared (measured: slower).
    """
    try:
        load = os.getloadavg()[0]
    except OSError:  # not available on this platform
        return True
    return load < (os.cpu_count() or 1) - 1


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
    validate: bool = False,
    bulk: bool = True,
    progress: Callable[[int, int], None] | None = None,
) -> SeedResult:
    """Create the demo organization with its people and ``events`` events.

    Refuses (``AccountError``) when an organization with the demo's slug already exists.
    ``progress(done, total)`` is called after each commit.
    """
    dataset: DemoDataset = generate(seed=seed, events=events, now_ms=now_ms)
    org, ingest_key = create_demo_organization(state, dataset)
    size = append_demo_events(
        state, org.id, dataset, batch=batch, validate=validate, bulk=bulk, progress=progress
    )
    return SeedResult(org, dataset.people, ingest_key, dataset.count, size)


def create_demo_organization(
    state: ServerState, dataset: DemoDataset
) -> tuple[accounts.Organization, str]:
    """Create the organization, its people and an ingest key; return it and the key."""
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
    return org, ingest_key


def append_demo_events(
    state: ServerState,
    org_id: str,
    dataset: DemoDataset,
    *,
    batch: int = 10_000,
    validate: bool = False,
    bulk: bool = True,
    progress: Callable[[int, int], None] | None = None,
) -> int:
    """Append the dataset's events to ``org_id``'s log; return the log's size."""

    def report(done: int) -> None:
        if progress is not None:
            progress(done, dataset.count)

    append = _bulk if bulk else _through_sequencer
    return append(state, org_id, dataset, batch=batch, validate=validate, progress=report)


def _bulk(
    state: ServerState,
    org_id: str,
    dataset: DemoDataset,
    *,
    batch: int,
    validate: bool,
    progress: Callable[[int], None],
) -> int:
    if dataset.count >= PARALLEL_FROM and _idle_core():
        batches = prepared_in_subprocess(dataset.events, validate=validate)
    else:
        batches = prepared(dataset.events(), validate=validate)
    commit_every = max(1, 100_000 // batch) * batch
    return bulk_append(
        state.db, state.sequencer, org_id, batches, checkpoint_every=batch,
        commit_every=commit_every, progress=progress,
    )  # fmt: skip


def _through_sequencer(
    state: ServerState,
    org_id: str,
    dataset: DemoDataset,
    *,
    batch: int,
    validate: bool,
    progress: Callable[[int], None],
) -> int:
    done = 0
    size = 0
    times: list[int] = []
    subs: list[dict[str, Any]] = []

    def flush() -> None:
        nonlocal done, size
        if validate:
            validate_batch(subs)
        with state.db.write() as conn:
            size = state.sequencer.append_in(conn, org_id, subs, timestamps=times).size
        done += len(subs)
        times.clear()
        subs.clear()
        progress(done)

    for ts, sub in dataset.events():
        times.append(ts)
        subs.append(sub)
        if len(subs) >= batch:
            flush()
    if subs:
        flush()
    return size
