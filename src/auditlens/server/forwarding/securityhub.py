"""AWS Security Hub: selected events as findings (ASFF), sent with ``BatchImportFindings``.

Security Hub is for findings, not for every event, so this destination needs ``types`` (event
types or categories, e.g. ``["auth.login", "approval.denied", "auth.api_key.created",
"team.role_changed"]``; combine with ``outcome: "failure"`` for failed logins only).

Each event becomes one finding (AWS Security Finding Format, schema 2018-10-08): ``Id`` is the
event id (a resend updates the same finding, so at-least-once delivery creates no duplicate),
``ProductArn`` the account's default product for custom findings, ``GeneratorId``
``auditlens/<type>``, ``Types`` ``Unusual Behaviors/User/<type>`` for failures and denials,
else ``Software and Configuration Checks/Audit/<type>``, ``Severity`` MEDIUM for a denial, LOW
for another failure, INFORMATIONAL otherwise, ``Title`` the event's one-line summary,
``Description`` its canonical JSON (cut to 1,024 characters), and ``ProductFields``
``auditlens/index``, ``auditlens/id``, ``auditlens/origin`` and ``auditlens/checkpoint``.

Options: ``region`` and ``account_id`` (required), ``endpoint_url`` (a VPC endpoint or a test
server), ``product_arn``. Credentials: boto3's usual chain (instance role, environment), or a
secret ``ACCESS_KEY_ID:SECRET_ACCESS_KEY``. At most 100 findings per call (the API's limit);
a finding Security Hub refuses (``FailedFindings``) goes to the dead letters; failures that
name no finding of the batch make the batch be retried. Needs ``boto3``
(``pip install auditlens[aws]``).
"""

from __future__ import annotations

import re
from typing import Any

import orjson

from auditlens.core.summaries import summarize, verdict_of
from auditlens.core.timestamps import format_timestamp
from auditlens.server.forwarding.destination import (
    Batch,
    ConfigError,
    FatalError,
    RefusedError,
    RetryError,
)

KIND = "securityhub"
LABEL = "AWS Security Hub"
SECRET = False
MAX_FINDINGS = 100
_FATAL = {
    "AccessDeniedException", "UnrecognizedClientException", "InvalidAccessException",
    "InvalidClientTokenId", "SignatureDoesNotMatch", "ResourceNotFoundException",
}  # fmt: skip
_REFUSED = {"InvalidInputException", "ValidationException"}


def check_config(config: dict[str, Any]) -> dict[str, Any]:
    out = dict(config)
    if not isinstance(out.get("region"), str) or not re.fullmatch(r"[a-z0-9-]+", out["region"]):
        raise ConfigError("region", "must be an AWS region such as eu-west-1")
    account = out.get("account_id")
    if not isinstance(account, str) or not re.fullmatch(r"\d{12}", account):
        raise ConfigError("account_id", "must be the 12-digit AWS account id")
    if not out.get("types"):
        raise ConfigError("types", "Security Hub takes findings: select the event types to send")
    out.setdefault(
        "product_arn",
        f"arn:aws:securityhub:{out['region']}:{account}:product/{account}/default",
    )
    if "endpoint_url" in out and not str(out["endpoint_url"]).startswith(("https://", "http://")):
        raise ConfigError("endpoint_url", "must be an http(s):// URL")
    return out


def finding(config: dict[str, Any], batch: Batch, index: int) -> dict[str, Any]:
    """The ASFF finding of ``batch.records[index]``."""
    rec = batch.records[index]
    event = orjson.loads(rec.body)
    verdict = verdict_of(event)
    severity = {"denied": "MEDIUM", "failure": "LOW"}.get(verdict, "INFORMATIONAL")
    namespace = (
        "Unusual Behaviors/User"
        if verdict in ("denied", "failure")
        else "Software and Configuration Checks/Audit"
    )
    when = format_timestamp(rec.ts_ms)
    title = f"{rec.type}: {summarize(event)}"[:256]
    return {
        "SchemaVersion": "2018-10-08",
        "Id": rec.id,
        "ProductArn": config["product_arn"],
        "GeneratorId": f"auditlens/{rec.type}",
        "AwsAccountId": config["account_id"],
        "Types": [f"{namespace}/{rec.type}"],
        "CreatedAt": when,
        "UpdatedAt": when,
        "Severity": {"Label": severity},
        "Title": title,
        "Description": rec.body.decode("utf-8")[:1024],
        "Resources": [{"Type": "Other", "Id": f"{batch.origin}/{rec.index}"}],
        "ProductFields": {
            "auditlens/index": str(rec.index),
            "auditlens/id": rec.id,
            "auditlens/origin": batch.origin,
            "auditlens/checkpoint": batch.checkpoint,
        },
    }


def _check_failed(findings: list[dict[str, Any]], failed: list[dict[str, Any]]) -> None:
    """Raise for ``FailedFindings``: the first refused finding of the batch goes to the dead
    letters (the ones before it were imported).

    Failures that name no finding of this batch cannot be placed, so none may be dead-lettered:
    the whole batch is retried (safe: a finding's Id is the event id, a resend updates it) and
    the error names what Security Hub said, for the status an admin reads."""
    if not failed:
        return
    ids = [f["Id"] for f in findings]
    placed = [f for f in failed if f.get("Id") in ids]
    if not placed:
        said = "; ".join(
            f"{f.get('Id', '(no Id)')}: {f.get('ErrorCode')}: {f.get('ErrorMessage')}"
            for f in failed[:3]
        )
        raise RetryError(
            f"Security Hub failed {len(failed)} finding(s) naming none of this batch's "
            f"{len(ids)}: {said}"
        )
    first = min(ids.index(f["Id"]) for f in placed)
    bad = next(f for f in placed if f["Id"] == ids[first])
    raise RefusedError(
        f"Security Hub refused the finding: {bad.get('ErrorCode')}: {bad.get('ErrorMessage')}",
        position=first,
        accepted=first,
    )


class SecurityHub:
    max_records = MAX_FINDINGS

    def __init__(self, config: dict[str, Any], secret: str | None) -> None:
        try:
            import boto3
        except ImportError:
            raise ConfigError(
                "kind", "Security Hub needs boto3: pip install auditlens[aws]"
            ) from None
        options: dict[str, Any] = {"region_name": config["region"]}
        if config.get("endpoint_url"):
            options["endpoint_url"] = config["endpoint_url"]
        if secret:
            key_id, sep, key = secret.partition(":")
            if not sep:
                raise ConfigError("secret", "must be ACCESS_KEY_ID:SECRET_ACCESS_KEY")
            options |= {"aws_access_key_id": key_id, "aws_secret_access_key": key}
        self.config = config
        self.client = boto3.client("securityhub", **options)

    def send(self, batch: Batch) -> None:
        import botocore.exceptions

        findings = [finding(self.config, batch, i) for i in range(len(batch.records))]
        try:
            answer = self.client.batch_import_findings(Findings=findings)
        except botocore.exceptions.ClientError as exc:
            code = exc.response.get("Error", {}).get("Code", "")
            reason = f"Security Hub: {code}: {exc}"
            if code in _FATAL:
                raise FatalError(reason) from None
            if code in _REFUSED:
                raise RefusedError(reason) from None
            raise RetryError(reason) from None
        except botocore.exceptions.BotoCoreError as exc:
            raise RetryError(f"Security Hub unreachable: {exc}") from None
        _check_failed(findings, answer.get("FailedFindings") or [])

    def close(self) -> None:
        self.client.close()


def connect(config: dict[str, Any], secret: str | None) -> SecurityHub:
    return SecurityHub(config, secret)
