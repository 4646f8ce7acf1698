"""A bounded login flood: ``python -m tests.server.login_flood URL CLIENTS ROUNDS``.

``CLIENTS`` concurrent clients, each from its own loopback address (127.0.1.x, 127.0.2.x, ...,
so the per-source budget does not cut the flood short), each send ``ROUNDS`` logins with random
unknown emails back to back, ignoring ``Retry-After`` as an attacker would. Prints a JSON object
``{status: count}`` on stdout.
"""

from __future__ import annotations

import asyncio
import collections
import secrets
import sys

import httpx
import orjson


def source_address(n: int) -> str:
    return f"127.0.{1 + n // 250}.{1 + n % 250}"


async def _client(url: str, n: int, rounds: int, counts: collections.Counter[str]) -> None:
    transport = httpx.AsyncHTTPTransport(local_address=source_address(n))
    async with httpx.AsyncClient(base_url=url, transport=transport, timeout=60) as http:
        for _ in range(rounds):
            email = f"{secrets.token_hex(6)}@flood.test"
            try:
                r = await http.post(
                    "/v1/auth/login", json={"email": email, "password": "not-the-password"}
                )
                counts[str(r.status_code)] += 1
            except httpx.TransportError as exc:
                counts[type(exc).__name__] += 1


async def flood(url: str, clients: int, rounds: int) -> dict[str, int]:
    counts: collections.Counter[str] = collections.Counter()
    await asyncio.gather(*(_client(url, n, rounds, counts) for n in range(clients)))
    return dict(counts)


if __name__ == "__main__":
    url, clients, rounds = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
    sys.stdout.write(orjson.dumps(asyncio.run(flood(url, clients, rounds))).decode() + "\n")
