"""Every forced outcome of the catalogue does, through the real services, what it promises:
by `scenario`, by magic `reference`, pushed by a test helper, and with the sandbox clock."""

from __future__ import annotations

import re
import uuid
from typing import Any

import httpx
import pytest

from schemas.samples import sample_declaration
from schemas.scenarios import CATALOGUE, HELPERS_BY_NAME, STALLS, ScenarioInfo
from schemas.trade import Scenario
from tests.e2e.conftest import TERMINAL, System
from tests.e2e.steady_load import new_enterprise, register_enterprise
from tests.support import wait_for

EVENT_TYPE = re.compile(r"^[a-z]+\.[a-z_.]+$")
REASON_CODE = re.compile(r"^[CITF]\d{3}$")
# What a test helper answers each stalled agency with, to see the declaration through.
UNSTALL = {
    "customs": "customs_accepts_green",
    "inspection": "inspection_passes",
    "forex": "buyer_pays",
    "tax": "refund_paid",
}
HOUR = 3600.0


def _unique(text: str) -> str:
    return f"{text}{uuid.uuid4().hex[:10]}"


def _submit(client: httpx.Client, body: dict[str, Any]) -> str:
    resp = client.post("/v1/declarations", json=body)
    assert resp.status_code == 202, resp.text
    return str(resp.json()["id"])


def _view(client: httpx.Client, declaration_id: str) -> dict[str, Any]:
    return dict(client.get(f"/v1/declarations/{declaration_id}").json())


def _events(client: httpx.Client, declaration_id: str) -> list[dict[str, Any]]:
    return list(client.get(f"/v1/declarations/{declaration_id}/events").json()["data"])


def _wait_step(client: httpx.Client, declaration_id: str, agency: str) -> dict[str, Any]:
    """Wait until the declaration waits for `agency` alone (a parallel step has answered)."""

    def probe() -> dict[str, Any] | None:
        view = _view(client, declaration_id)
        waiting = {a for a, step in view["steps"].items() if step == "pending"}
        return view if waiting == {agency} else None

    return wait_for(probe, timeout_s=30, what=f"{declaration_id} to wait for {agency}")


def _advance(client: httpx.Client, seconds: float, declaration_id: str | None) -> dict[str, Any]:
    body: dict[str, Any] = {"seconds": seconds}
    if declaration_id:
        body["declaration_id"] = declaration_id
    resp = client.post("/v1/test_helpers/clock/advance", json=body)
    assert resp.status_code == 200, resp.text
    return dict(resp.json())


def _force(client: httpx.Client, declaration_id: str, outcome: str, **extra: Any) -> httpx.Response:
    return client.post(
        f"/v1/test_helpers/declarations/{declaration_id}/outcomes",
        json={"outcome": outcome, **extra},
    )


def _stall(client: httpx.Client, declaration_id: str, agency: str) -> dict[str, Any]:
    """Wait until the agency holds the step, then let an hour pass: every re-send unanswered."""
    _wait_step(client, declaration_id, agency)
    moved = _advance(client, HOUR, declaration_id)["declarations"][0]
    assert moved["status"] == "stalled", moved
    assert moved["resent"], moved  # the deadlines passed and the command went out again
    return _view(client, declaration_id)


def _check_codes(info: ScenarioInfo, view: dict[str, Any], events: list[dict[str, Any]]) -> None:
    types = {e["type"] for e in events}
    receipts = {
        r["status"] for e in events for r in e["payload"].get("receipts", []) if "status" in r
    }
    said = f"{view['reason'] or ''} {view['stalled_reason'] or ''}"
    for code in info.codes:
        if EVENT_TYPE.match(code):
            assert code in types, (code, sorted(types))
        elif REASON_CODE.match(code):
            assert code in said, (code, said)
        elif code.startswith("channel "):
            assert view["channel"] == code.removeprefix("channel "), view
        elif code.startswith("customs status "):
            assert code.removeprefix("customs status ") in receipts, (code, receipts)
        elif code.startswith("no answer from "):
            assert code in said, (code, said)
        elif code.startswith("match "):
            settled = [e for e in events if e["type"] == "forex.receipt.settled"]
            assert settled[0]["payload"]["match"] == code.removeprefix("match "), settled


def _walk(system: System, info: ScenarioInfo, body: dict[str, Any]) -> None:
    with system.client() as client:
        declaration_id = _submit(client, body)
        if info.scenario in STALLS:
            agency = STALLS[info.scenario]
            view = _stall(client, declaration_id, agency)
            assert view["status"] == info.final_status == "stalled", view
            _check_codes(info, view, _events(client, declaration_id))
            resp = _force(client, declaration_id, UNSTALL[agency])
            assert resp.status_code == 200, resp.text
            view = system.wait_terminal(client, declaration_id)
            assert view["status"] == "completed", view
            return
        if info.scenario is Scenario.DELAYED:
            assert _view(client, declaration_id)["status"] == "submitted"

            def moved_on() -> dict[str, Any] | None:  # each move releases the stage held
                _advance(client, 30, declaration_id)
                view = _view(client, declaration_id)
                return view if view["status"] in TERMINAL else None

            view = wait_for(moved_on, timeout_s=30, what="the delayed stages", every_s=0.3)
        else:
            view = system.wait_terminal(client, declaration_id)
        assert view["status"] == info.final_status, view
        _check_codes(info, view, _events(client, declaration_id))


@pytest.mark.parametrize("info", CATALOGUE, ids=lambda i: i.scenario.value)
def test_scenario_ends_as_the_catalogue_says(system: System, info: ScenarioInfo) -> None:
    direction, mode = info.example
    _walk(system, info, sample_declaration(direction, mode, info.scenario.value))


@pytest.mark.parametrize("info", CATALOGUE, ids=lambda i: i.magic)
def test_magic_reference_forces_the_same_outcome(system: System, info: ScenarioInfo) -> None:
    direction, mode = info.example
    body = sample_declaration(direction, mode, reference=_unique(info.magic))
    _walk(system, info, body)


def test_shortpay_percent_and_delay_seconds_come_from_the_reference(system: System) -> None:
    with system.client() as client:
        short = _submit(client, sample_declaration(reference=_unique("SW-SHORTPAY65-")))
        # A 1 s delay a stage runs on real time too: four stages, no clock moved.
        delayed = _submit(client, sample_declaration(reference=_unique("SW-DELAY-1S-")))
        view = system.wait_terminal(client, short)
        settled = [e for e in _events(client, short) if e["type"] == "forex.receipt.settled"]
        assert view["status"] == "completed"
        # declared 100 × 120.00 = 12000.00 USD; 65% paid = 7800.00, 4200.00 outstanding
        assert settled[0]["payload"]["amount"] == "7800.00"
        assert settled[0]["payload"]["outstanding"] == "4200.00"
        assert settled[0]["payload"]["reason_code"] == "F201"
        assert view["reason"].startswith("F201 short receipt: 7800.00 USD received of 12000")
        assert system.wait_terminal(client, delayed, timeout_s=40)["status"] == "completed"


def test_references_are_unique_per_enterprise(system: System) -> None:
    reference = _unique("PO-")
    with system.client() as client:
        first = _submit(client, sample_declaration(reference=reference))
        again = client.post("/v1/declarations", json=sample_declaration(reference=reference))
        assert again.status_code == 409, again.text
        problem = again.json()
        assert problem["type"].endswith("/reference-in-use")
        assert problem["declaration_id"] == first and problem["field"] == "reference"
    with system.client(
        new_enterprise(system, system.admin_token, "Other Co.")
    ) as other:  # another enterprise may use it
        _submit(other, sample_declaration(reference=reference))


@pytest.mark.parametrize(
    ("body", "says"),
    [
        ({"reference": "SW-BLUE-1"}, "SW- prefix is reserved"),
        ({"reference": "SW-RED"}, "needs your own text"),
        ({"reference": "SW-SHORTPAY100-x"}, "1 to 99"),
        ({"reference": "SW-RED-1", "scenario": "happy"}, "forces red_channel but scenario"),
    ],
)
def test_malformed_magic_references_are_refused_naming_the_rule(
    system: System, body: dict[str, Any], says: str
) -> None:
    with system.client() as client:
        resp = client.post("/v1/declarations", json={**sample_declaration(), **body})
    assert resp.status_code == 422, resp.text
    assert resp.headers["content-type"].startswith("application/problem+json")
    assert says in resp.json()["detail"]


def test_helper_pushes_a_stalled_payment_to_a_partial_one(system: System) -> None:
    with system.client() as client:
        declaration_id = _submit(client, sample_declaration(reference=_unique("SW-STALL-FOREX-")))
        _stall(client, declaration_id, "forex")
        resp = _force(client, declaration_id, "buyer_pays", share="0.5")
        assert resp.status_code == 200, resp.text
        assert resp.json()["command"] == "forex.receipt.settle"
        view = system.wait_terminal(client, declaration_id)
        events = _events(client, declaration_id)
    settled = [e for e in events if e["type"] == "forex.receipt.settled"]
    # 12000.00 USD × 0.5 = 6000.00 received; the forced command superseded the stalled one
    assert settled[0]["payload"]["amount"] == "6000.00"
    assert settled[0]["causation_id"] == resp.json()["command_id"]
    assert view["status"] == "completed" and view["reason"].startswith("F201")


# Each test helper outcome, on a declaration stalled at the agency it answers, and how it ends.
HELPER_CASES = [
    ("customs_accepts_green", "SW-STALL-CUSTOMS-", "export", "completed", "channel green"),
    ("customs_accepts_yellow", "SW-STALL-CUSTOMS-", "export", "completed", "channel yellow"),
    ("customs_accepts_red", "SW-STALL-CUSTOMS-", "export", "completed", "channel red"),
    ("customs_rejects", "SW-STALL-CUSTOMS-", "export", "rejected", "C199"),
    ("inspection_passes", "SW-STALL-INSPECTION-", "export", "completed", "inspection passed"),
    ("inspection_fails", "SW-STALL-INSPECTION-", "export", "failed", "I301"),
    ("buyer_pays", "SW-STALL-FOREX-", "import", "completed", "forex registered"),
    ("refund_paid", "SW-STALL-TAX-", "export", "completed", "tax refund_paid"),
    ("refund_denied", "SW-STALL-TAX-", "export", "completed", "T201"),
    ("taxes_collected", "SW-STALL-TAX-", "import", "completed", "tax collected"),
]


def test_every_helper_outcome_is_proven() -> None:
    assert {case[0] for case in HELPER_CASES} == set(HELPERS_BY_NAME)


@pytest.mark.parametrize(
    ("outcome", "magic", "direction", "status", "shows"), HELPER_CASES, ids=lambda c: str(c)
)
def test_helper_forces_each_agencys_decision(
    system: System, outcome: str, magic: str, direction: str, status: str, shows: str
) -> None:
    agency = HELPERS_BY_NAME[outcome].agency
    mode = "0110"
    with system.client() as client:
        body = sample_declaration(direction, mode, reference=_unique(magic))
        declaration_id = _submit(client, body)
        _wait_step(client, declaration_id, agency)  # not stalled yet: a helper needs no stall
        resp = _force(client, declaration_id, outcome)
        assert resp.status_code == 200, resp.text
        assert resp.json()["command"] in HELPERS_BY_NAME[outcome].commands
        view = system.wait_terminal(client, declaration_id)
    assert view["status"] == status, view
    if REASON_CODE.match(shows):
        assert shows in view["reason"], view
    elif shows.startswith("channel "):
        assert view["channel"] == shows.removeprefix("channel "), view
    else:  # "<agency> <step state>"
        step_agency, state = shows.split(" ")
        assert view["steps"][step_agency] == state, view


def test_helper_refuses_what_it_cannot_do(system: System) -> None:
    with system.client() as client:
        declaration_id = _submit(client, sample_declaration(reference=_unique("SW-STALL-TAX-")))
        _wait_step(client, declaration_id, "tax")
        wrong_step = _force(client, declaration_id, "inspection_passes")
        assert wrong_step.status_code == 409, wrong_step.text
        assert "waits for tax.refund.apply" in wrong_step.json()["detail"]
        unknown = _force(client, declaration_id, "bribe_the_officer")
        assert unknown.status_code == 422 and "outcome" in unknown.json()["detail"]
        share = _force(client, declaration_id, "refund_paid", share="0.5")
        assert share.status_code == 422, share.text
        assert _force(client, declaration_id, "refund_paid").status_code == 200
        system.wait_terminal(client, declaration_id)
        ended = _force(client, declaration_id, "refund_paid")
        assert ended.status_code == 409 and "has ended" in ended.json()["detail"]
    anonymous = httpx.post(
        system.url("gateway") + f"/v1/test_helpers/declarations/{declaration_id}/outcomes",
        json={"outcome": "refund_paid"},
        timeout=10,
    )
    assert anonymous.status_code == 401
    with system.client(
        new_enterprise(system, system.admin_token, "Nosy Co.")
    ) as other:  # another enterprise's: invisible
        assert _force(other, declaration_id, "refund_paid").status_code == 404


def test_the_admin_token_may_push_any_declaration(system: System) -> None:
    with system.client() as client:
        declaration_id = _submit(client, sample_declaration(reference=_unique("SW-STALL-TAX-")))
        _wait_step(client, declaration_id, "tax")
        with system.client(system.admin_token) as admin:
            assert _force(admin, declaration_id, "refund_paid").status_code == 200
        assert system.wait_terminal(client, declaration_id)["status"] == "completed"


def test_moving_a_runs_clock_stalls_its_open_declarations_and_is_stored(system: System) -> None:
    created = register_enterprise(system, system.admin_token, "Clockwork Co.")
    with system.client(created["api_key"]) as client:
        stalling = _submit(client, sample_declaration(reference=_unique("SW-STALL-TAX-")))
        _wait_step(client, stalling, "tax")
        moved = _advance(client, HOUR, None)
        assert moved["scope"] == created["id"] and moved["offset_s"] == HOUR
        assert [d["id"] for d in moved["declarations"]] == [stalling]
        assert moved["declarations"][0]["status"] == "stalled"
        assert "no answer from tax" in _view(client, stalling)["stalled_reason"]
        clock = client.get("/v1/test_helpers/clock").json()
        assert clock["offset_s"] == HOUR
    with system.client() as demo:  # the demo enterprise's run did not move
        assert demo.get("/v1/test_helpers/clock").json()["offset_s"] == 0
    with system.client(system.admin_token) as admin:  # the operator moves every run
        everyone = _advance(admin, 1, None)
        assert everyone["scope"] == "all" and everyone["offset_s"] == 1
    with system.client() as demo, system.client(created["api_key"]) as client:
        assert demo.get("/v1/test_helpers/clock").json()["offset_s"] == 1
        assert client.get("/v1/test_helpers/clock").json()["offset_s"] == HOUR + 1


def test_scenarios_list_the_test_helper_outcomes(system: System) -> None:
    body = httpx.get(system.url("gateway") + "/v1/scenarios", timeout=10).json()
    listed = {s["scenario"]: s for s in body["data"]}
    assert set(listed) == {i.scenario.value for i in CATALOGUE}
    assert listed["inspection_fail"]["final_status"] == "failed"
    assert "I301" in listed["inspection_fail"]["codes"]
    assert listed["refund_denied"]["example"] == {"direction": "export", "trade_mode": "9710"}
    assert listed["stall_tax"]["reference"] == "SW-STALL-TAX-<your text>"
    helpers = {h["name"]: h for h in body["test_helpers"]}
    assert helpers["buyer_pays"]["commands"] == ["forex.receipt.settle", "forex.payment.register"]


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
        declaration_id = _submit(client, body)
        view = system.wait_terminal(client, declaration_id)
        events = _events(client, declaration_id)
    assert view["status"] == status, view
    assert ("inspection.goods.inspect" in {e["type"] for e in events}) is inspected
    if reason_code:
        assert reason_code in view["reason"]


DAYS_100 = 100 * 24 * HOUR


def _settled(client: httpx.Client, declaration_id: str) -> dict[str, Any]:
    return next(
        e["payload"]
        for e in _events(client, declaration_id)
        if e["type"] == "forex.receipt.settled"
    )


def test_moving_the_clock_past_the_receipt_deadline_makes_the_buyers_receipt_late(
    system: System,
) -> None:
    """Released, forex silent; 100 sandbox days pass; the buyer pays (day 30 by the draw):
    forex settles it on day 100 by its own clock, so the receipt is late (F203)."""
    with system.client() as client:
        declaration_id = _submit(client, sample_declaration(reference=_unique("SW-STALL-FOREX-")))
        _stall(client, declaration_id, "forex")
        moved = _advance(client, DAYS_100, declaration_id)["declarations"][0]
        assert moved["clock_offset_s"] >= DAYS_100
        assert _force(client, declaration_id, "buyer_pays").status_code == 200
        view = system.wait_terminal(client, declaration_id)
        settled = _settled(client, declaration_id)
    assert view["status"] == "completed", view
    assert (settled["match"], settled["reason_code"]) == ("late", "F203")
    assert any("days after export (> 90)" in c for c in settled["checks"])


def test_a_receipt_filed_100_sandbox_days_after_release_is_late(system: System) -> None:
    """The trader files the receipt through the API without a value date: the day is the
    sandbox's, 100 days after release, so forex reports it late (F203)."""
    body = sample_declaration("export", "0110", "happy")
    body["payments"] = "api"
    with system.client() as client:
        declaration_id = _submit(client, body)

        def awaiting() -> bool:
            return bool(_view(client, declaration_id)["steps"]["forex"] == "awaiting_trader")

        wait_for(awaiting, timeout_s=30, what="the receipt to be awaited")
        _advance(client, DAYS_100, declaration_id)
        filed = client.post(
            f"/v1/declarations/{declaration_id}/payments",
            json={"amount": "12000.00", "currency": "USD"},
        )
        assert filed.status_code == 202, filed.text
        assert filed.json()["days_after_release"] == 100
        view = system.wait_terminal(client, declaration_id)
        settled = _settled(client, declaration_id)
    assert view["status"] == "completed", view
    assert (settled["match"], settled["reason_code"]) == ("late", "F203")
