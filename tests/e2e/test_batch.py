"""POST /v1/declarations/batch through the real processes: all or none, in order."""

from __future__ import annotations

import uuid
from typing import Any

from schemas.samples import sample_declaration
from tests.e2e.conftest import System


def _with_reference(reference: str) -> dict[str, Any]:
    body = sample_declaration("export", "0110", "happy")
    body["reference"] = reference
    return body


def test_a_batch_creates_each_declaration_in_order_and_each_completes(system: System) -> None:
    run = uuid.uuid4().hex[:8]
    bodies = [_with_reference(f"BATCH-{run}-{i}") for i in range(3)]
    with system.client() as client:
        resp = client.post("/v1/declarations/batch", json={"declarations": bodies})
        assert resp.status_code == 202, resp.text
        created = resp.json()["data"]
        assert len(created) == 3 and len({c["id"] for c in created}) == 3
        assert all(c["status"] == "submitted" for c in created)
        views = [system.wait_terminal(client, c["id"]) for c in created]
    assert [v["status"] for v in views] == ["completed"] * 3
    assert [v["declaration"]["reference"] for v in views] == [b["reference"] for b in bodies]


def test_a_batch_with_one_bad_declaration_creates_none_and_names_it(system: System) -> None:
    run = uuid.uuid4().hex[:8]
    with system.client() as client:
        listed = client.get("/v1/declarations", params={"limit": 200}).json()["data"]
        before = {d["id"] for d in listed}
        bad = _with_reference(f"BAD-{run}-1")
        bad["items"][0]["hs_code"] = "12AB"
        invalid = client.post(
            "/v1/declarations/batch",
            json={"declarations": [_with_reference(f"BAD-{run}-0"), bad]},
        )
        assert invalid.status_code == 422, invalid.text
        assert invalid.headers["content-type"].startswith("application/problem+json")
        fields = [e["field"] for e in invalid.json()["errors"]]
        assert any(f.startswith("declarations[1].items[0].hs_code") for f in fields), fields

        twice = client.post(
            "/v1/declarations/batch",
            json={"declarations": [_with_reference(f"DUP-{run}"), _with_reference(f"DUP-{run}")]},
        )
        assert twice.status_code == 409, twice.text
        assert twice.json()["field"] == "declarations[1].reference"

        empty = client.post("/v1/declarations/batch", json={"declarations": []})
        assert empty.status_code == 422, empty.text
        listed = client.get("/v1/declarations", params={"limit": 200}).json()["data"]
        after = {d["id"] for d in listed}
        # The first of each refused batch was valid on its own, and none of them was created.
        assert after == before
        free = client.post(
            "/v1/declarations/batch", json={"declarations": [_with_reference(f"DUP-{run}")]}
        )
        assert free.status_code == 202, "the refused batch left its reference unclaimed"
