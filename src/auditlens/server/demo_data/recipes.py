"""How an agent of each specialty works: phases of tool calls, and the calls that need a person.

A gated call (merging, changing production, emailing outside, writing data) is only made after
an ``approval.requested`` and an ``approval.approved`` of the same call.
"""

from __future__ import annotations

import random
from collections.abc import Callable
from typing import NamedTuple

from auditlens.server.demo_data.primitives import between, pick
from auditlens.server.demo_data.tools import (
    HTTP_ERRORS,
    SLUG,
    SQL_ERRORS,
    Call,
    Ctx,
    browser_extract,
    browser_navigate,
    code_execute,
    file_read,
    file_write,
    github_pr,
    http_request,
    jira_create,
    ops_shell,
    search_web,
    shell_run,
    slack_post,
    sql_query,
    support_api,
)
from auditlens.server.demo_data.vocabulary import COMPETITORS, CUSTOMERS, ORG_DOMAIN

# Gated calls: the platform asks a person before an agent may make them.


class Gate(NamedTuple):
    """A call that needs a person's approval, under which policy and at which risk."""

    policy: str
    risk: str
    make: Callable[[random.Random, Ctx], Call]


def _gh_merge(rng: random.Random, ctx: Ctx) -> Call:
    url = f"https://github.com/{ctx.repo}/pull/{ctx.pr}"
    params: dict[str, object] = {"repo": ctx.repo, "number": ctx.pr, "merge_method": "squash"}
    return Call(
        "github.merge_pull_request",
        params,
        {"url": url},
        {"merged": True},
        between(rng, 400, 2_500),
        ("HTTP 405: required status checks have not passed",),
    )


def _prod_change(rng: random.Random, ctx: Ctx) -> Call:
    svc = ctx.service
    command = pick(
        rng,
        (
            f"kubectl -n production rollout restart deploy/{svc}",
            f"kubectl -n production scale deploy/{svc}-worker --replicas={rng.randrange(6, 24)}",
            f"helm upgrade {svc} charts/{svc} -n production --atomic",
            f"fleetctl rollout firmware 4.{rng.randrange(2, 9)}.{rng.randrange(20)} --group canary",
        ),
    )
    return shell_run(rng, ctx, command)


def _email_send(rng: random.Random, ctx: Ctx) -> Call:
    customer = pick(rng, CUSTOMERS)
    domain = customer.split()[0].lower() + ".example"
    params: dict[str, object] = {
        "to": f"ops@{domain}",
        "subject": f"Re: {ctx.title}",
        "body_bytes": between(rng, 600, 6_000),
    }
    return Call(
        "email.send",
        params,
        {},
        {"message_id": f"<{rng.getrandbits(64):016x}@mail.{ORG_DOMAIN}>"},
        between(rng, 200, 2_000),
        ("SMTP 550: mailbox unavailable",),
    )


def _sql_write(rng: random.Random, ctx: Ctx) -> Call:
    statement = pick(
        rng,
        (
            "UPDATE invoices SET status = 'reconciled'"
            " WHERE period = '2025-05' AND payout_id IS NOT NULL",
            "DELETE FROM telemetry_staging WHERE ingested_at < now() - interval '30 days'",
        ),
    )
    params: dict[str, object] = {
        "database": "billing-primary",
        "query": statement,
        "row_limit": 50_000,
    }
    return Call(
        "sql.query",
        params,
        {},
        {"rows": between(rng, 1, 5_000)},
        between(rng, 80, 9_000),
        SQL_ERRORS,
    )


def _announce(rng: random.Random, ctx: Ctx) -> Call:
    return slack_post(rng, ctx, "#announcements")


def _zendesk_bulk(rng: random.Random, ctx: Ctx) -> Call:
    ids = ",".join(str(rng.randrange(100_000, 400_000)) for _ in range(3))
    url = f"https://acme-robotics.zendesk.com/api/v2/tickets/update_many.json?ids={ids}"
    return http_request(rng, ctx, "PUT", url)


def _drive_share(rng: random.Random, ctx: Ctx) -> Call:
    path = f"Shared drives/Research/{ctx.title}.gdoc"
    params: dict[str, object] = {
        "path": path,
        "share_with": f"partners@{pick(rng, COMPETITORS).split()[0].lower()}.example",
        "role": "reader",
    }
    return Call(
        "google_drive.share",
        params,
        {"path": path},
        {"permission_id": f"{rng.getrandbits(40):010x}"},
        between(rng, 200, 1_500),
        HTTP_ERRORS,
    )


Phases = tuple[tuple[Callable[[random.Random, Ctx], Call], int, int], ...]
"""Each phase: a call maker and how many calls (low, high, both inclusive) it makes in a row."""


class _Recipe(NamedTuple):
    """How an agent of one specialty works: phases of tool calls, then at most one gated call."""

    phases: Phases
    gates: tuple[Gate, ...]
    gate_percent: int  # how often a task of this kind needs an approval
    wrap_up: Phases = ()


def _report_write(rng: random.Random, ctx: Ctx) -> Call:
    name = SLUG.sub("-", ctx.title.lower()).strip("-")[:48]
    return file_write(rng, ctx, f"reports/{name}.md")


def _notebook_run(rng: random.Random, ctx: Ctx) -> Call:
    return code_execute(rng, ctx, "python")


RECIPES: dict[str, _Recipe] = {
    "code": _Recipe(
        phases=(
            (shell_run, 1, 2),
            (file_read, 2, 7),
            (file_write, 1, 4),
            (code_execute, 1, 3),
            (shell_run, 1, 3),
            (github_pr, 0, 1),
        ),
        gates=(Gate("code-merge", "medium", _gh_merge),),
        gate_percent=30,
    ),
    "ops": _Recipe(
        phases=((ops_shell, 2, 5), (http_request, 1, 4), (file_read, 0, 2)),
        gates=(Gate("production-changes", "high", _prod_change),),
        gate_percent=55,
        wrap_up=((ops_shell, 1, 2), (slack_post, 0, 1)),
    ),
    "support": _Recipe(
        phases=(
            (support_api, 1, 4),
            (_notebook_run, 1, 2),
            (jira_create, 0, 2),
            (_report_write, 1, 1),
        ),
        gates=(
            Gate("external-communication", "medium", _email_send),
            Gate("bulk-updates", "medium", _zendesk_bulk),
        ),
        gate_percent=35,
        wrap_up=((slack_post, 0, 1),),
    ),
    "data": _Recipe(
        phases=((sql_query, 2, 5), (_notebook_run, 1, 3), (_report_write, 1, 2)),
        gates=(Gate("data-writes", "high", _sql_write),),
        gate_percent=15,
    ),
    "research": _Recipe(
        phases=(
            (search_web, 1, 3),
            (browser_navigate, 2, 6),
            (browser_extract, 1, 4),
            (_report_write, 1, 1),
        ),
        gates=(
            Gate("external-sharing", "medium", _drive_share),
            Gate("external-communication", "medium", _email_send),
        ),
        gate_percent=15,
    ),
    "docs": _Recipe(
        phases=(
            (file_read, 2, 5),
            (browser_navigate, 0, 2),
            (http_request, 0, 1),
            (file_write, 1, 3),
        ),
        gates=(Gate("announcements", "low", _announce),),
        gate_percent=20,
    ),
}
