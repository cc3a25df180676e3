"""Every forced outcome of the catalogue does, through the real services, what it promises."""

from __future__ import annotations

import re

import httpx
import pytest

from schemas.scenarios import CATALOGUE, ScenarioInfo
from singlewindow.samples import sample_declaration
from tests.e2e.conftest import System

EVENT_TYPE = re.compile(r"^[a-z]+\.[a-z_.]+$")
REASON_CODE = re.compile(r"^[CITF]\d{3}$")


@pytest.mark.parametrize("info", CATALOGUE, ids=lambda i: i.scenario.value)
def test_scenario_ends_as_the_catalogue_says(system: System, info: ScenarioInfo) -> None:
    direction, mode = info.example
    with system.client() as client:
        resp = client.post(
            "/v1/declarations", json=sample_declaration(direction, mode, info.scenario.value)
        )
        assert resp.status_code == 202, resp.text
        declaration_id = resp.json()["id"]
        view = system.wait_terminal(client, declaration_id)
        assert view["status"] == info.final_status, view
        events = client.get(f"/v1/declarations/{declaration_id}/events").json()["data"]
    types = {e["type"] for e in events}
    for code in info.codes:
        if EVENT_TYPE.match(code):
            assert code in types, (code, sorted(types))
        elif REASON_CODE.match(code):
            assert code in (view["reason"] or ""), (code, view["reason"])
    if "channel red" in info.codes:
        assert view["channel"] == "red"


def test_the_api_lists_every_scenario_with_its_outcome(system: System) -> None:
    body = httpx.get(system.url("gateway") + "/v1/scenarios", timeout=10).json()
    listed = {s["scenario"]: s for s in body["data"]}
    assert set(listed) == {i.scenario.value for i in CATALOGUE}
    assert listed["inspection_fail"]["final_status"] == "failed"
    assert "I301" in listed["inspection_fail"]["codes"]
    assert listed["refund_denied"]["example"] == {"direction": "export", "trade_mode": "9710"}


@pytest.mark.parametrize(
    ("hs_code", "inspected", "status", "reason_code"),
    [
        ("6109100021", True, "completed", None),  # statutory export inspection, then refunded
        ("2208902000", True, "completed", "T202"),  # 0% refund rate: refund denied
        ("9301100000", False, "rejected", "C101"),  # licence required
    ],
)
def test_the_test_hs_codes_do_what_the_page_says(
    system: System, hs_code: str, inspected: bool, status: str, reason_code: str | None
) -> None:
    body = sample_declaration("export", "0110", "happy")
    body["items"][0]["hs_code"] = hs_code
    with system.client() as client:
        resp = client.post("/v1/declarations", json=body)
        assert resp.status_code == 202, resp.text
        declaration_id = resp.json()["id"]
        view = system.wait_terminal(client, declaration_id)
        events = client.get(f"/v1/declarations/{declaration_id}/events").json()["data"]
    assert view["status"] == status, view
    assert ("inspection.goods.inspect" in {e["type"] for e in events}) is inspected
    if reason_code:
        assert reason_code in view["reason"]
