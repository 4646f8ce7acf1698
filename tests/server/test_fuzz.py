"""A bounded, deterministic Schemathesis run against the real server (``make test`` runs it).

Every operation, with positive and negative data, once as an admin (a login session) and once
as an ingest key, a fixed seed and a bounded number of cases per operation. It fails on any 5xx,
any answer the OpenAPI document does not describe (status, media type, body, headers), any
error that is not problem+json, and any method that should be refused without an ``Allow``.
The admin run leaves out ``POST /v1/auth/logout`` (it would end the run's own session); the
ingest run covers it. Measured on a 2-core machine at load ~5: 83 s (admin) and 72 s (ingest);
the whole of ``make test`` stays well inside its 15 minutes with it.
"""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.server.conftest import Api, running_api

pytest.importorskip("schemathesis")

REPO = Path(__file__).resolve().parents[2]
SEED = 20261203
MAX_EXAMPLES = 150
CHECKS = ",".join(
    [
        "not_a_server_error",
        "status_code_conformance",
        "content_type_conformance",
        "response_schema_conformance",
        "response_headers_conformance",
        "negative_data_rejection",
        "unsupported_method",
        "allow_header_conformance",
        "missing_required_header",
        "ignored_auth",
        "errors_are_problem_json",
    ]
)


def _schemathesis(
    api: Api, workdir: Path, who: str, *extra: str
) -> subprocess.CompletedProcess[str]:
    """Run the CLI in ``workdir``, so no cache of earlier failures makes the run depend on
    what ran before (and nothing is written into the project)."""
    command = [
        sys.executable, "-m", "schemathesis.cli", "run", f"{api.url}/openapi.json",
        "--seed", str(SEED), "--max-examples", str(MAX_EXAMPLES), "--mode", "all",
        "--phases", "examples,coverage,fuzzing", "--workers", "1", "--no-shrink",
        "--checks", CHECKS, "--request-timeout", "30", "--suppress-health-check", "all",
        "--header", f"Authorization: {api.auth(who)['Authorization']}",
        *extra,
    ]  # fmt: skip
    env = {
        **os.environ,
        "SCHEMATHESIS_HOOKS": "tests.server.fuzz_hooks",
        "PYTHONPATH": os.pathsep.join(filter(None, [str(REPO), os.environ.get("PYTHONPATH")])),
    }
    return subprocess.run(
        command, cwd=workdir, env=env, capture_output=True, text=True, timeout=600, check=False
    )


@pytest.fixture(scope="module")
def sqlite_api(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Api]:
    """One server for both runs; SQLite only (the routes do not differ by backend)."""
    with running_api("sqlite", tmp_path_factory.mktemp("fuzz")) as api:
        yield api


@pytest.mark.slow
@pytest.mark.parametrize(
    ("who", "extra"),
    [("admin", ("--exclude-path", "/v1/auth/logout")), ("ingest", ())],
)
def test_fuzzing_the_api_finds_nothing(
    sqlite_api: Api, tmp_path: Path, who: str, extra: tuple[str, ...]
) -> None:
    result = _schemathesis(sqlite_api, tmp_path, who, *extra)
    assert result.returncode == 0, result.stdout[-20000:] + result.stderr[-5000:]
