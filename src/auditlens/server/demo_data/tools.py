"""Tool calls: what the log records when an agent reads a file, runs code, browses or posts.

Each maker draws its parameters, result, duration and possible errors from the task's subject
(:class:`Ctx`); the recipes (:mod:`.recipes`) decide which calls a task makes.
"""

from __future__ import annotations

import random
import re
from collections.abc import Mapping
from typing import NamedTuple

from auditlens.server.demo_data.primitives import between, pick
from auditlens.server.demo_data.vocabulary import (
    CHANNELS,
    COMPETITORS,
    DEPENDENCIES,
    MODULES,
    SERVICES,
    SYMPTOMS,
    VENDORS,
)


class Call(NamedTuple):
    """One tool call an agent makes: what the log records about it."""

    tool: str
    params: dict[str, object]
    extra: Mapping[str, object]  # url / path / language at the top of ``event``
    result: Mapping[str, object]
    duration_ms: int
    errors: tuple[str, ...]


class Ctx:
    """The subject of one task: the service, repository and names its tool calls refer to."""

    __slots__ = ("branch", "lang", "module", "pr", "repo", "service", "title")

    def __init__(self, rng: random.Random) -> None:
        self.service = pick(rng, SERVICES)
        self.module = pick(rng, MODULES)
        self.repo = f"acme-robotics/{self.service}"
        self.pr = rng.randrange(800, 4200)
        self.lang = "python" if rng.randrange(100) < 70 else pick(rng, ("go", "typescript"))
        self.title = ""
        self.branch = ""

    def source_path(self, rng: random.Random, test: bool = False) -> str:
        if self.lang == "go":
            name = f"{self.module}_test.go" if test else f"{self.module}.go"
            return f"services/{self.service}/internal/{self.module}/{name}"
        if self.lang == "typescript":
            name = f"{self.module}.test.ts" if test else f"{self.module}.ts"
            return f"apps/{self.service}/src/{name}"
        package = self.service.replace("-", "_")
        if test:
            return f"services/{self.service}/tests/test_{self.module}.py"
        return f"services/{self.service}/src/{package}/{pick(rng, MODULES)}.py"


SLUG = re.compile(r"[^a-z0-9]+")
HTTP_ERRORS = (
    "HTTP 503 Service Unavailable",
    "ReadTimeout: no response within 30 s",
    "HTTP 401 Unauthorized: token expired",
    "HTTP 429 Too Many Requests",
)


def file_read(rng: random.Random, ctx: Ctx, path: str = "") -> Call:
    path = path or ctx.source_path(rng, test=rng.randrange(100) < 25)
    size = between(rng, 600, 48_000)
    result = {"bytes": size, "lines": size // 38 + 1}
    errors = (f"FileNotFoundError: [Errno 2] No such file or directory: '{path}'",)
    return Call("file.read", {"path": path}, {"path": path}, result, between(rng, 3, 90), errors)


def file_write(rng: random.Random, ctx: Ctx, path: str = "") -> Call:
    path = path or ctx.source_path(rng, test=rng.randrange(100) < 30)
    size = between(rng, 400, 30_000)
    params: dict[str, object] = {"path": path, "bytes": size, "mode": "overwrite"}
    errors = (
        f"PermissionError: [Errno 13] Permission denied: '{path}'",
        "OSError: disk quota exceeded",
    )
    return Call(
        "file.write", params, {"path": path}, {"bytes_written": size}, between(rng, 4, 120), errors
    )


_SNIPPETS: dict[str, tuple[str, ...]] = {
    "python": (
        "import pytest\nraise SystemExit(pytest.main(['-q', 'tests/test_{module}.py']))",
        "from {package}.{module} import handle\nprint(handle(load_fixture('stripe_event.json')))",
        "import pandas as pd\ndf = pd.read_parquet('{file}')\nprint(df.describe())",
        "from collections import Counter\n"
        "print(Counter(t['tags'][0] for t in tickets).most_common(10))",
    ),
    "go": ("go test ./internal/{module}/... -run Test -count=1",),
    "typescript": ("npx vitest run src/{module}.test.ts",),
}
_CODE_ERRORS = (
    "exit code 1: 2 failed, 48 passed in 6.31s",
    "TimeoutError: execution exceeded 120 s",
    "ModuleNotFoundError: No module named 'stripe_webhooks'",
    "MemoryError: sandbox limit of 2 GiB exceeded",
)


def code_execute(rng: random.Random, ctx: Ctx, language: str = "") -> Call:
    language = language or ctx.lang
    snippet = pick(rng, _SNIPPETS[language]).format(
        module=ctx.module,
        package=ctx.service.replace("-", "_"),
        file=f"{ctx.service}_daily.parquet",
    )
    params: dict[str, object] = {"language": language, "code": snippet, "timeout_s": 120}
    result = {"exit_code": 0, "stdout_bytes": between(rng, 40, 20_000)}
    return Call(
        "code.execute",
        params,
        {"language": language},
        result,
        between(rng, 350, 60_000),
        _CODE_ERRORS,
    )


_SHELL_ERRORS = (
    "exit status 1",
    "exit status 128: fatal: could not read Username for 'https://github.com'",
    "command timed out after 300 s",
)


def shell_run(rng: random.Random, ctx: Ctx, command: str = "") -> Call:
    if not command:
        command = pick(
            rng,
            (
                f"git checkout -b {ctx.branch}",
                f"ruff check services/{ctx.service}",
                f"pytest -q services/{ctx.service}/tests -x",
                f"git commit -am '{ctx.title}'",
                f"git push origin {ctx.branch}",
            ),
        )
    params: dict[str, object] = {
        "command": command,
        "cwd": f"/workspace/{ctx.service}",
        "timeout_s": 300,
    }
    result = {"exit_code": 0}
    return Call("shell.run", params, {}, result, between(rng, 120, 40_000), _SHELL_ERRORS)


def ops_shell(rng: random.Random, ctx: Ctx) -> Call:
    svc = ctx.service
    command = pick(
        rng,
        (
            f"kubectl -n production get pods -l app={svc}",
            f"kubectl -n production logs deploy/{svc} --since=1h --tail=500",
            "kubectl -n production top pods --sort-by=cpu",
            f"openssl x509 -in certs/{svc}.pem -noout -enddate",
            f"kubectl -n production describe hpa {svc}-worker",
        ),
    )
    return shell_run(rng, ctx, command)


def http_request(rng: random.Random, ctx: Ctx, method: str = "GET", url: str = "") -> Call:
    url = url or pick(
        rng,
        (
            f"https://grafana.acme-robotics.internal/api/dashboards/uid/{ctx.service}-overview",
            f"https://prometheus.acme-robotics.internal/api/v1/query?query=rate(http_requests_total%7Bservice%3D%22{ctx.service}%22%7D%5B5m%5D)",
            f"https://api.github.com/repos/{ctx.repo}/actions/runs?branch=main&per_page=20",
            f"https://acme-robotics.atlassian.net/rest/api/3/search?jql=project%3DOPS%20AND%20component%3D{ctx.service}",
        ),
    )
    params: dict[str, object] = {"method": method, "url": url, "timeout_s": 30}
    if method != "GET":
        params["body_bytes"] = between(rng, 200, 9_000)
    result = {"status": 201 if method == "POST" else 200, "bytes": between(rng, 300, 180_000)}
    return Call("http.request", params, {"url": url}, result, between(rng, 60, 8_000), HTTP_ERRORS)


def support_api(rng: random.Random, ctx: Ctx) -> Call:
    status = pick(rng, ("open", "pending", "new"))
    url = (
        "https://acme-robotics.zendesk.com/api/v2/search.json"
        f"?query=type%3Aticket%20status%3A{status}&page={rng.randrange(1, 9)}"
    )
    return http_request(rng, ctx, "GET", url)


_PAGES = (
    "https://en.wikipedia.org/wiki/Simultaneous_localization_and_mapping",
    "https://arxiv.org/abs/2405.{n:05d}",
    "https://www.{competitor}.example/pricing",
    "https://docs.{vendor}.com/api/rate-limits",
    "https://eur-lex.europa.eu/eli/reg/2023/1230/oj",
    "https://news.ycombinator.com/item?id=4{n:07d}",
    "https://github.com/{repo}/pull/{pr}",
    "https://pypi.org/project/{dep}/",
)
_BROWSER_ERRORS = (
    "TimeoutError: navigation exceeded 30000 ms",
    "net::ERR_NAME_NOT_RESOLVED",
    "HTTP 403 Forbidden (bot protection challenge)",
)
_PAGE_TITLES = ("Pricing", "Rate limits", "Pull request", "Abstract", "Regulation (EU) 2023/1230")


def _page_url(rng: random.Random, ctx: Ctx) -> str:
    return pick(rng, _PAGES).format(
        n=rng.randrange(1, 99999),
        competitor=pick(rng, COMPETITORS).split()[0].lower(),
        vendor=pick(rng, VENDORS).lower(),
        repo=ctx.repo,
        pr=ctx.pr,
        dep=pick(rng, DEPENDENCIES),
    )


def browser_navigate(rng: random.Random, ctx: Ctx) -> Call:
    url = _page_url(rng, ctx)
    params: dict[str, object] = {"url": url, "wait_until": pick(rng, ("load", "networkidle"))}
    result = {"status": 200, "title": pick(rng, _PAGE_TITLES)}
    return Call(
        "browser.navigate", params, {"url": url}, result, between(rng, 350, 9_000), _BROWSER_ERRORS
    )


def browser_extract(rng: random.Random, ctx: Ctx) -> Call:
    url = _page_url(rng, ctx)
    params: dict[str, object] = {"url": url, "selector": pick(rng, ("main", "article", "table"))}
    params["format"] = "markdown"
    result = {"chars": between(rng, 800, 60_000)}
    return Call(
        "browser.extract", params, {"url": url}, result, between(rng, 150, 3_000), _BROWSER_ERRORS
    )


def search_web(rng: random.Random, ctx: Ctx) -> Call:
    query = ctx.title.lower()
    params: dict[str, object] = {"query": query, "max_results": 10}
    errors = ("HTTP 429: search quota exceeded",)
    return Call("search.web", params, {}, {"results": 10}, between(rng, 300, 2_500), errors)


_QUERIES = (
    "SELECT site, date_trunc('day', ts) AS day, avg(uptime_pct) FROM fleet_uptime"
    " WHERE ts > now() - interval '7 days' GROUP BY 1, 2",
    "SELECT robot_id, max(motor_temp_c) FROM telemetry WHERE ts > now() - interval '24 hours'"
    " GROUP BY robot_id HAVING max(motor_temp_c) > 70",
    "SELECT invoice_id, amount_cents, status FROM invoices"
    " WHERE period = date_trunc('month', now() - interval '1 month')",
    "SELECT cohort_month, count(*) FILTER (WHERE churned) FROM accounts"
    " GROUP BY cohort_month ORDER BY 1",
)
SQL_ERRORS = (
    "canceling statement due to statement timeout",
    'relation "fleet_events_2024" does not exist',
    "could not connect to server: Connection refused",
)


def sql_query(rng: random.Random, ctx: Ctx) -> Call:
    params: dict[str, object] = {"database": "analytics-replica", "query": pick(rng, _QUERIES)}
    params["row_limit"] = 10_000
    result = {"rows": between(rng, 0, 10_000)}
    return Call("sql.query", params, {}, result, between(rng, 40, 25_000), SQL_ERRORS)


def slack_post(rng: random.Random, ctx: Ctx, channel: str = "") -> Call:
    channel = channel or pick(rng, CHANNELS)
    params: dict[str, object] = {
        "channel": channel,
        "text": f"Update on '{ctx.title}': done, details in thread.",
    }
    url = f"https://acme-robotics.slack.com/archives/{channel.lstrip('#')}"
    return Call(
        "slack.post_message",
        params,
        {"url": url},
        {
            "ok": True,
            "ts": f"{rng.randrange(1_700_000_000, 1_800_000_000)}.{rng.randrange(10**6):06d}",
        },
        between(rng, 120, 1_500),
        ("channel_not_found",),
    )


def jira_create(rng: random.Random, ctx: Ctx) -> Call:
    key = f"OPS-{rng.randrange(1000, 9999)}"
    url = f"https://acme-robotics.atlassian.net/browse/{key}"
    params: dict[str, object] = {
        "project": "OPS",
        "issue_type": "Bug",
        "summary": f"{ctx.service}: {pick(rng, SYMPTOMS)}",
    }
    return Call(
        "jira.create_issue",
        params,
        {"url": url},
        {"key": key},
        between(rng, 300, 2_500),
        HTTP_ERRORS,
    )


def github_pr(rng: random.Random, ctx: Ctx) -> Call:
    url = f"https://github.com/{ctx.repo}/pull/{ctx.pr}"
    params: dict[str, object] = {
        "repo": ctx.repo,
        "base": "main",
        "head": ctx.branch,
        "title": ctx.title,
    }
    errors = (f"HTTP 422: A pull request already exists for {ctx.branch}",)
    return Call(
        "github.create_pull_request",
        params,
        {"url": url},
        {"number": ctx.pr},
        between(rng, 500, 3_000),
        errors,
    )
