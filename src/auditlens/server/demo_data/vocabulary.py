"""The demo's content tables: names, addresses, user agents, task titles and people's reasons.

Plain data, no logic. The generator draws from these tuples by position, so reordering or
editing an entry changes the stream (and must bump ``DATA_VERSION``).
"""

from __future__ import annotations

ORG_NAME = "Acme Robotics"
ORG_SLUG = "acme"
ORG_DOMAIN = "acme-robotics.com"
ORG_PLAN = "enterprise"


FIRST_NAMES = (
    "Maya", "Daniel", "Priya", "Lukas", "Sofia", "Kenji", "Amara", "Mateo", "Elena", "Omar",
    "Grace", "Noah", "Aisha", "Felix", "Hannah", "Ravi", "Chloe", "Tomás", "Ingrid", "Samuel",
    "Leila", "Victor", "Zoe", "Arjun",
)  # fmt: skip
LAST_NAMES = (
    "Chen", "Okafor", "Nair", "Becker", "Rossi", "Tanaka", "Mensah", "García", "Petrova",
    "Haddad", "Kim", "Williams", "Khan", "Schneider", "Novak", "Iyer", "Dubois", "Silva",
    "Lindqvist", "Adeyemi", "Moreau", "Costa", "Fischer", "Park",
)  # fmt: skip
PASSWORD_WORDS = (
    "amber", "falcon", "harbor", "cobalt", "meadow", "quartz", "ember", "summit", "willow",
    "orbit", "canyon", "lumen", "cedar", "tundra", "signal", "beacon",
)  # fmt: skip
ASCII = str.maketrans("áéíóúñçãõäöüåø", "aeiouncaoaouao")

AGENT_CODENAMES = (
    "Atlas", "Beacon", "Cobalt", "Drift", "Ember", "Fable", "Garnet", "Harbor", "Indigo",
    "Juniper", "Kestrel", "Lumen", "Meridian", "Nimbus", "Onyx", "Pioneer", "Quill", "Relay",
    "Sable", "Tango", "Umber", "Vesper", "Willow", "Xenon", "Yarrow", "Zephyr", "Aurora",
    "Basalt", "Cedar", "Delta", "Echo", "Flint", "Gale", "Halcyon", "Iris", "Jasper", "Kite",
    "Lark", "Maple", "Nova",
)  # fmt: skip


OFFICE_IPS = ("203.0.113.10", "203.0.113.11", "2001:db8:4f2a:10::1")
USER_AGENTS = (
    "Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/537.36 (KHTML, like Gecko) "
    "Chrome/126.0.0.0 Safari/537.36",
    "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) "
    "Chrome/125.0.0.0 Safari/537.36 Edg/125.0.2535.92",
    "Mozilla/5.0 (X11; Linux x86_64; rv:127.0) Gecko/20100101 Firefox/127.0",
    "Mozilla/5.0 (Macintosh; Intel Mac OS X 14_5) AppleWebKit/605.1.15 (KHTML, like Gecko) "
    "Version/17.5 Safari/605.1.15",
    "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) "
    "Chrome/126.0.0.0 Safari/537.36",
)
MOBILE_AGENT = (
    "Mozilla/5.0 (iPhone; CPU iPhone OS 17_5 like Mac OS X) AppleWebKit/605.1.15 "
    "(KHTML, like Gecko) Version/17.5 Mobile/15E148 Safari/604.1"
)
CLI_AGENT = "acme-agents-cli/2.4.1 python-httpx/0.27.0"
RUNTIME_AGENT = "agentd/3.8.2"
RUNTIME_NODES = tuple(f"10.42.8.{21 + n}" for n in range(12))  # the agent runtime's hosts
SLACK_WEBHOOK = {
    "ip": "203.0.113.61",
    "user_agent": "Slackbot 1.0 (+https://api.slack.com/robots)",
}
ATTACK_AGENT = "python-requests/2.31.0"

SERVICES = (
    "billing", "payments", "fleet-telemetry", "firmware-updates", "identity", "notifications",
    "inventory", "robot-scheduler", "customer-portal", "warehouse-maps",
)  # fmt: skip
MODULES = ("webhooks", "handlers", "models", "client", "retry", "config", "serializers", "tasks")
DEPENDENCIES = ("requests", "sqlalchemy", "pydantic", "fastapi", "boto3", "celery", "protobuf")
PRODUCTS = ("Fleet Manager", "Acme Dock", "Acme Picker", "the customer portal", "the mobile app")
CUSTOMERS = (
    "Contoso Logistics", "Fabrikam Foods", "Tailspin Freight", "Wingtip Retail",
    "Northwind Traders",
)  # fmt: skip
SYMPTOMS = (
    "robots stuck at the charging dock", "map sync failures", "login loops in the portal",
    "late shipment notifications", "battery reports showing 0%",
)  # fmt: skip
TOPICS = (
    "multi-robot path planning", "LiDAR-based SLAM", "battery degradation models",
    "sim-to-real transfer", "safety-rated speed monitoring",
)  # fmt: skip
VENDORS = ("Twilio", "Stripe", "Zendesk", "HubSpot", "Mapbox", "Samsara")
COMPETITORS = ("Globex Automation", "Initech Mobility", "Umbrella Logistics", "Hooli Robotics")
SITES = ("Reno DC", "Rotterdam hub", "Dallas fulfillment center", "Osaka warehouse")
MONTHS = ("January", "February", "March", "April", "May", "June", "July", "August")
CHANNELS = ("#eng-billing", "#ops-alerts", "#support-escalations", "#data-team", "#releases")

TITLES: dict[str, tuple[str, ...]] = {
    "code": (
        "Refactor {service} webhook handler",
        "Fix flaky test in {service} integration suite",
        "Upgrade {dep} to {depver} in {service}",
        "Add retry with exponential backoff to the {service} client",
        "Review pull request #{pr} in {repo}",
        "Write unit tests for the {service} {module} module",
        "Remove dead feature flags from {service}",
    ),
    "ops": (
        "Rotate TLS certificates for {service}",
        "Investigate elevated 5xx errors on {service}",
        "Scale {service} workers ahead of peak season",
        "Roll out firmware {fw} to the canary fleet",
        "Clean up stale preview environments",
        "Restart stuck jobs in the {service} queue",
    ),
    "support": (
        "Summarize Q{q} support tickets",
        "Triage new bug reports for {product}",
        "Draft replies for overdue {product} tickets",
        "Tag escalations from {customer}",
        "Find duplicate tickets about {symptom}",
    ),
    "data": (
        "Build the weekly fleet uptime report",
        "Analyze churn by signup cohort for {month}",
        "Reconcile {month} invoices with Stripe payouts",
        "Forecast battery replacements for Q{q}",
        "Find robots with abnormal motor temperature at the {site}",
    ),
    "research": (
        "Compile competitor pricing from {competitor}",
        "Summarize recent papers on {topic}",
        "Research {vendor} API rate limits and quotas",
        "Brief on EU machinery regulation for mobile robots",
        "Collect customer reviews of {competitor} AMRs",
    ),
    "docs": (
        "Draft release notes for v{ver}",
        "Update the onboarding guide for {product}",
        "Write the postmortem for the {service} outage",
        "Translate the {product} quick-start guide to German",
        "Refresh the API reference for {service} endpoints",
    ),
}
SCHEDULED_TITLES: dict[str, tuple[str, str]] = {
    "code": ("Nightly dependency audit for {service}", "0 2 * * *"),
    "support": ("Daily support digest", "0 7 * * 1-5"),
    "ops": ("Weekly SOC 2 evidence collection", "0 5 * * 1"),
    "data": ("Hourly fleet telemetry anomaly scan", "0 * * * *"),
    "research": ("Weekly competitor news roundup", "0 6 * * 1"),
    "docs": ("Weekly changelog digest", "0 16 * * 5"),
}
MODELS = ("claude-sonnet-4", "gpt-4.1", "gemini-2.5-pro", "claude-opus-4")

# Why a person approved or denied a gated call, by approval policy: (approve, deny).
REASONS: dict[str, tuple[tuple[str, ...], tuple[str, ...]]] = {
    "code-merge": (
        ("Reviewed the diff, CI is green.", "LGTM, merge it.", "Approved; tag me on the release."),
        (
            "Needs a second review from the service owner first.",
            "The migration has no rollback plan.",
            "Code freeze until Tuesday's release train.",
        ),
    ),
    "production-changes": (
        (
            "Inside the change window, go ahead.",
            "Approved. Ping #ops-alerts if error rates move.",
            "OK, the rollback plan is in the ticket.",
        ),
        (
            "Outside the change window: wait for Tuesday's release train.",
            "Use the staging cluster first.",
            "Duplicate of a change already in progress.",
        ),
    ),
    "external-communication": (
        ("Draft reads well, send it.", "OK for this customer; support lead signed off."),
        (
            "Customer emails need a human review first; send me the draft instead.",
            "Recipient is outside our contract contacts.",
        ),
    ),
    "bulk-updates": (
        ("Tags look right, apply them.",),
        ("Too many tickets at once; do ten and let me check.",),
    ),
    "data-writes": (
        ("Verified the WHERE clause against the replica.",),
        (
            "This touches billing data without a backup; take a snapshot first.",
            "Run it on the replica and show me the row count first.",
        ),
    ),
    "external-sharing": (
        ("Fine, it contains public information only.",),
        ("Shares internal notes outside Acme; export a cleaned copy instead.",),
    ),
    "announcements": (
        ("Good to post.", "Approved, thanks for the summary."),
        ("Hold until the incident review is finished.",),
    ),
}
CANCEL_REASONS = (
    "No longer needed",
    "Superseded by a newer task",
    "Wrong repository",
    "Taking it over manually",
)
# Errors that mean the call ran into its time limit: the recorded duration is that limit.
TIMEOUTS = {
    "command timed out after 300 s": 300_000,
    "TimeoutError: execution exceeded 120 s": 120_000,
    "ReadTimeout: no response within 30 s": 30_000,
    "TimeoutError: navigation exceeded 30000 ms": 30_000,
    "canceling statement due to statement timeout": 60_000,
}
TASK_ERRORS = (
    "agent exceeded the step budget (60 steps)",
    "context window exhausted while summarizing tool output",
    "upstream tool kept failing; giving up after 3 retries",
)
