"""Receipts and payments the trader files through the API, on the real processes (domain.md §4)."""

from __future__ import annotations

from datetime import date, timedelta
from decimal import Decimal
from typing import Any

import httpx

from schemas.samples import sample_declaration
from tests.e2e.conftest import System
from tests.support import wait_for

CLASS_C = "91330100MA2CBE00XU"  # services/forex/data/reference.json: SAFE class C


def _submit(client: httpx.Client, body: dict[str, Any]) -> str:
    resp = client.post("/v1/declarations", json=body)
    assert resp.status_code == 202, resp.text
    return str(resp.json()["id"])


def _forex_step(client: httpx.Client, declaration_id: str, *wanted: str) -> dict[str, Any]:
    def probe() -> dict[str, Any] | None:
        view = client.get(f"/v1/declarations/{declaration_id}").json()
        return view if view["steps"]["forex"] in wanted else None

    return wait_for(probe, timeout_s=30, what=f"forex step in {wanted}", every_s=0.1)


def _usd(amount: str, **more: str) -> dict[str, str]:
    """A receipt filed by the trader: an amount in USD, and what else the filing says."""
    return {"amount": amount, "currency": "USD", **more}


def _timeline(client: httpx.Client, declaration_id: str) -> list[dict[str, Any]]:
    return list(client.get(f"/v1/declarations/{declaration_id}/events").json()["data"])


def test_class_c_receipt_is_refused_without_registration_then_settled_short(
    system: System,
) -> None:
    """USD 12,000.00 declared; class C files 9,000.00 through the API.

    First without its SAFE registration: refused F101, the declaration keeps waiting. Then with
    it: settled as received (9,000.00 × the day's rate), 3,000.00 outstanding (F201), and the
    refund follows: 100 phones × USD 120 × customs rate 7.1 = CNY 85,200.00 × 13% = 11,076.00.
    """
    body = sample_declaration("export", "0110", "happy")
    body["declarant"] = {"uscc": CLASS_C, "name": "Hangzhou Class C Trading Co."}
    body["payments"] = "api"
    with system.client() as client:
        declaration_id = _submit(client, body)
        waiting = _forex_step(client, declaration_id, "awaiting_trader")
        assert waiting["status"] == "in_progress"
        url = f"/v1/declarations/{declaration_id}/payments"
        filed = client.post(url, json={"amount": "9000.00", "currency": "USD"})
        assert filed.status_code == 202, filed.text
        assert filed.json()["command"] == "forex.receipt.settle"
        refused = _forex_step(client, declaration_id, "refused")
        assert refused["reason"].startswith("F101 registration_no:")
        assert "[rule forex.class_c.registration]" in refused["reason"]
        assert "逐笔" in refused["reason"]
        again = client.post(url, json=_usd("9000.00", registration_no="SAFE2026112300000042"))
        assert again.status_code == 202, again.text
        view = system.wait_terminal(client, declaration_id)
        timeline = _timeline(client, declaration_id)
    assert view["status"] == "completed", view
    assert view["reason"] == (
        "F201 short receipt: 9000.00 USD received of 12000.00, 3000.00 outstanding (收汇不足)"
    )
    assert Decimal(view["figures"]["forex_outstanding"]) == Decimal("3000.00")
    assert Decimal(view["figures"]["refund"]) == Decimal("11076.00")
    settled = next(e["payload"] for e in timeline if e["type"] == "forex.receipt.settled")
    assert (settled["match"], settled["fx_class"]) == ("partial", "C")
    assert settled["registration_no"] == "SAFE2026112300000042"
    assert [f["code"] for f in settled["findings"]] == ["F201"]
    rate = Decimal(settled["rate"])
    assert Decimal(settled["amount_cny"]) == (Decimal("9000.00") * rate).quantize(Decimal("0.01"))
    types = [e["type"] for e in timeline]
    assert types.count("forex.receipt.settle") == 2
    assert "forex.transaction.refused" in types
    # The balance comes later, after completion: tranche 2 of 3,000.00 settles it.
    with system.client() as client:
        balance = client.post(url, json=_usd("3000.00", registration_no="SAFE2026112300000043"))
        assert balance.status_code == 202, balance.text

        def topped() -> dict[str, Any] | None:
            view = client.get(f"/v1/declarations/{declaration_id}").json()
            return view if Decimal(view["figures"]["forex_outstanding"]) == 0 else None

        view = wait_for(topped, timeout_s=30, what="the balance to be settled")
        timeline = _timeline(client, declaration_id)
        third = client.post(url, json={"amount": "1.00", "currency": "USD"})
        assert third.status_code == 409, third.text
    assert view["status"] == "completed"
    assert view["reason"] is None  # the balance came: nothing is short any more
    tranches = [e["payload"] for e in timeline if e["type"] == "forex.receipt.settled"]
    assert [t["tranche"] for t in tranches] == [1, 2]
    assert (tranches[1]["match"], Decimal(tranches[1]["received_total"])) == (
        "matched",
        Decimal("12000.00"),
    )
    total = sum(Decimal(t["amount_cny"]) for t in tranches)
    assert Decimal(view["figures"]["settled_amount_cny"]) == total


def test_a_late_import_payment_and_filings_that_do_not_apply(system: System) -> None:
    """An import paid through the API 100 days after release: registered (imports have no
    late rule), matched in full. A second filing, a filing on a simulated declaration and one
    dated before release are refused with problems naming why."""
    body = sample_declaration("import", "0110", "happy")
    body["payments"] = "api"
    with system.client() as client:
        declaration_id = _submit(client, body)
        _forex_step(client, declaration_id, "awaiting_trader")
        url = f"/v1/declarations/{declaration_id}/payments"
        view = client.get(f"/v1/declarations/{declaration_id}").json()
        early = client.post(
            url,
            json={
                "amount": "1",
                "currency": view["figures"]["currency"],
                "received_on": "2000-01-01",
            },
        )
        assert early.status_code == 422 and early.json()["errors"][0]["field"] == "received_on"
        later = (date.today() + timedelta(days=100)).isoformat()
        declared = view["figures"]["declared_value"]
        currency = view["figures"]["currency"]
        filed = client.post(
            url, json={"amount": declared, "currency": currency, "received_on": later}
        )
        assert filed.status_code == 202, filed.text
        assert filed.json()["command"] == "forex.payment.register"
        twice = client.post(url, json={"amount": declared, "currency": currency})
        assert twice.status_code == 409, twice.text
        done = system.wait_terminal(client, declaration_id)
        assert done["status"] == "completed" and done["steps"]["forex"] == "registered"
        simulated = _submit(client, sample_declaration("export", "0110", "happy"))
        system.wait_terminal(client, simulated)
        refused = client.post(
            f"/v1/declarations/{simulated}/payments", json={"amount": "1", "currency": "USD"}
        )
        assert refused.status_code == 409
        assert refused.headers["content-type"].startswith("application/problem+json")
        assert '"payments": "api"' in refused.json()["detail"]
        other = client.post(
            "/v1/declarations/nope/payments", json={"amount": "1", "currency": "USD"}
        )
        assert other.status_code == 404


def test_an_administrator_sets_a_days_rate_and_the_receipt_of_that_day_settles_at_it(
    system: System,
) -> None:
    """GBP at 9.1234 on 2099-01-04 (a day no other test files on). A GBP 1,000.00 export paid
    that day settles at 1,000.00 × 9.1234 = CNY 9,123.40; the other currencies of the day fall
    back to the latest shipped table."""
    forex = system.url("forex")
    admin = {"Authorization": f"Bearer {system.admin_token}"}
    day = "2099-01-04"
    body = {"rates": {"GBP": "9.1234"}}
    assert httpx.put(f"{forex}/v1/admin/rates/{day}", json=body, timeout=10).status_code == 403
    bad = httpx.put(
        f"{forex}/v1/admin/rates/{day}", json={"rates": {"XXX": "1"}}, headers=admin, timeout=10
    )
    assert bad.status_code == 422 and "XXX" in bad.json()["detail"]
    set_ = httpx.put(f"{forex}/v1/admin/rates/{day}", json=body, headers=admin, timeout=10)
    assert set_.status_code == 200, set_.text
    tables = httpx.get(f"{forex}/v1/rates", timeout=10).json()
    assert tables["tables"][day] == {"GBP": "9.1234"}
    declaration = sample_declaration("export", "0110", "happy")
    declaration["currency"] = "GBP"
    declaration["items"][0]["quantity"] = "10"
    declaration["items"][0]["unit_price"] = "100.00"
    declaration["payments"] = "api"
    with system.client() as client:
        declaration_id = _submit(client, declaration)
        _forex_step(client, declaration_id, "awaiting_trader")
        filed = client.post(
            f"/v1/declarations/{declaration_id}/payments",
            json={"amount": "1000.00", "currency": "GBP", "received_on": day},
        )
        assert filed.status_code == 202, filed.text
        view = system.wait_terminal(client, declaration_id)
        timeline = _timeline(client, declaration_id)
    settled = next(e["payload"] for e in timeline if e["type"] == "forex.receipt.settled")
    assert (settled["rate"], settled["rate_date"], settled["amount_cny"]) == (
        "9.1234",
        day,
        "9123.40",
    )
    assert settled["match"] == "late"  # paid decades after release: F203
    assert Decimal(view["figures"]["settled_amount_cny"]) == Decimal("9123.40")
