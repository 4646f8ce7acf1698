"""The log read API: a third party verifies checkpoint, tiles and proofs over real HTTP."""

from __future__ import annotations

import base64

import pytest

from auditlens.core import merkle, note
from auditlens.core.tiles import decode_entry_bundle
from tests.server.conftest import Api, sample_event
from tests.server.thirdparty import fetch_checkpoint, verify_log

ORIGIN = "auditlens.local/acme"


@pytest.fixture(scope="module")
def grown(api: Api) -> Api:
    """The acme log with a few batches (crossing tile boundaries: > 256 and > 512 leaves)."""
    for batch in range(3):
        assert api.ingest([sample_event(batch * 1000 + i) for i in range(300)]).status_code == 201
    return api


def _b64(items: list[str]) -> list[bytes]:
    return [base64.b64decode(h) for h in items]


def test_third_party_verifies_the_whole_log_from_tiles(grown: Api) -> None:
    cp = verify_log(grown.http, grown.auth("admin"), ORIGIN, grown.state.vkey)
    assert cp.size == grown.size()


def test_read_key_sees_the_same_checkpoint(grown: Api) -> None:
    a = fetch_checkpoint(grown.http, grown.auth("read"), ORIGIN, grown.state.vkey)
    b = fetch_checkpoint(grown.http, grown.auth("owner"), ORIGIN, grown.state.vkey)
    assert a == b


def test_checkpoint_does_not_verify_under_another_origin(grown: Api) -> None:
    text = grown.http.get("/v1/log/checkpoint", headers=grown.auth("admin")).text
    with pytest.raises(Exception, match="not the expected"):
        note.verify_checkpoint(text, grown.state.vkey, "auditlens.local/globex")


def test_inclusion_proofs_verify_against_the_checkpoint(grown: Api) -> None:
    headers = grown.auth("admin")
    cp = fetch_checkpoint(grown.http, headers, ORIGIN, grown.state.vkey)
    bundle = decode_entry_bundle(
        grown.http.get("/v1/log/tile/entries/001", headers=headers).content, 256
    )
    for index in (256, 300, 511):
        r = grown.http.get(
            "/v1/log/proof/inclusion", params={"index": index, "size": cp.size}, headers=headers
        )
        assert r.status_code == 200
        leaf = merkle.leaf_hash(bundle[index - 256])
        merkle.verify_inclusion(leaf, index, cp.size, _b64(r.json()["proof"]), cp.root)


def test_consistency_proof_links_an_old_checkpoint_to_the_new(grown: Api) -> None:
    headers = grown.auth("admin")
    old = fetch_checkpoint(grown.http, headers, ORIGIN, grown.state.vkey)
    grown.ingest([sample_event(i) for i in range(10)])
    new = fetch_checkpoint(grown.http, headers, ORIGIN, grown.state.vkey)
    r = grown.http.get(
        "/v1/log/proof/consistency", params={"from": old.size, "to": new.size}, headers=headers
    )
    assert r.status_code == 200
    merkle.verify_consistency(old.size, new.size, _b64(r.json()["proof"]), old.root, new.root)


def test_full_tiles_are_immutable_and_partial_ones_are_not(grown: Api) -> None:
    headers = grown.auth("admin")
    full = grown.http.get("/v1/log/tile/0/000", headers=headers)
    assert full.status_code == 200 and len(full.content) == 256 * 32
    assert "immutable" in full.headers["cache-control"]
    partial = grown.http.get("/v1/log/tile/0/000.p/7", headers=headers)
    assert partial.content == full.content[: 7 * 32]
    assert "no-cache" in partial.headers["cache-control"]


def test_tile_beyond_the_log_is_404_and_malformed_path_400(grown: Api) -> None:
    headers = grown.auth("admin")
    r = grown.http.get("/v1/log/tile/0/x001/000", headers=headers)
    assert r.status_code == 404 and r.headers["content-type"] == "application/problem+json"
    for bad in ("tile/0/0001", "tile/x/000", "tile/0/000.p/0", "tile/0/000.p/256"):
        r = grown.http.get(f"/v1/log/{bad}", headers=headers)
        assert r.status_code == 400, bad
        assert "tile path" in r.json()["detail"]


@pytest.mark.parametrize(
    ("path", "name"),
    [
        ("/v1/log/proof/inclusion?index=5&size=999999999", "size"),
        ("/v1/log/proof/inclusion?index=9&size=9", "index"),
        ("/v1/log/proof/inclusion?index=-1", "index"),
        ("/v1/log/proof/consistency?from=9&to=5", "from"),
        ("/v1/log/proof/consistency?from=0", "from"),
        ("/v1/log/proof/consistency?from=1&to=999999999", "to"),
    ],
)
def test_impossible_proof_requests_are_422(grown: Api, path: str, name: str) -> None:
    r = grown.http.get(path, headers=grown.auth("admin"))
    assert r.status_code == 422
    assert r.json()["invalid_params"][0]["name"] == name


def test_info_matches_the_checkpoint(grown: Api) -> None:
    info = grown.http.get("/v1/log/info", headers=grown.auth("admin")).json()
    cp = fetch_checkpoint(grown.http, grown.auth("admin"), ORIGIN, grown.state.vkey)
    assert info == {"origin": ORIGIN, "vkey": grown.state.vkey, "size": cp.size, "min_index": 0}


@pytest.mark.parametrize(
    "path",
    [
        "/v1/log/tile/0/x999/999/999/999/999/999/999",
        "/v1/log/tile/entries/x999/999/999/999/999/999/999",
        "/v1/log/tile/3/x999/999/999/999/999/999/999.p/7",
        f"/v1/log/proof/inclusion?index={2**70}",
        f"/v1/log/proof/inclusion?index=0&size={2**64}",
        f"/v1/log/proof/consistency?from={2**63}",
        f"/v1/log/proof/consistency?from=1&to={2**63}",
    ],
)
def test_huge_numbers_in_log_requests_are_refused_not_a_500(grown: Api, path: str) -> None:
    r = grown.http.get(path, headers=grown.auth("admin"))
    assert r.status_code in (400, 404, 422), r.text
    assert r.headers["content-type"] == "application/problem+json"
