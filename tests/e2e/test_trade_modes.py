"""Each trade mode through the real processes: its saga table, CEB messages and figures."""

from __future__ import annotations

import uuid
from datetime import datetime, timedelta
from decimal import Decimal
from typing import Any

import httpx

from schemas.samples import DEMO_DECLARANT, sample_declaration
from schemas.units import BEIJING
from tests.e2e.conftest import System
from tests.support import wait_for


def _run(system: System, body: dict[str, Any]) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    with system.client() as client:
        view = system.declare(client, body)
        timeline = client.get(f"/v1/declarations/{view['id']}/events").json()["data"]
    return view, timeline


def _payload(timeline: list[dict[str, Any]], type_: str) -> dict[str, Any]:
    return next(e["payload"] for e in timeline if e["type"] == type_)


def _types(timeline: list[dict[str, Any]]) -> list[str]:
    return [e["type"] for e in timeline]


def _retail_import(mode: str, **extra: Any) -> dict[str, Any]:
    """One tin of infant formula, CNY 3,000.00, bought by a consumer from Australia."""
    return {
        "direction": "import",
        "trade_mode": mode,
        "declarant": dict(DEMO_DECLARANT),
        "counterparty_country": "AUS",
        "currency": "CNY",
        "scenario": "happy",
        "items": [
            {
                "hs_code": "1901101000",
                "description": "infant formula",
                "quantity": "1",
                "unit": "140",
                "unit_price": "3000.00",
                "origin_country": "AUS",
            }
        ],
        **extra,
    }


DOCS = {
    "order_no": "ORD-20251111-0001",
    "buyer_id_number": "350102199001011234",
    "buyer_name": "张三",
    "freight": "20.00",
    "tax": "273.00",
    "actual_paid": "3293.00",
    "payment_no": "PAY-0001",
    "payer_id_number": "350102199001011234",
    "amount_paid": "3293.00",
    "waybill_no": "WB-0001",
    "consignee_name": "张三",
}


def test_9610_export_lists_are_summarised_into_a_declaration_before_the_refund(
    system: System,
) -> None:
    view, timeline = _run(system, sample_declaration("export", "9610", "happy"))
    assert view["status"] == "completed", view
    assert view["steps"]["customs"] == "summarised"
    accepted = _payload(timeline, "customs.declaration.accepted")
    assert accepted["document"] == "CEB603"
    assert accepted["invt_no"][8] == "E" and accepted["pre_no"].startswith("B")
    assert [r["message"] for r in accepted["receipts"]][:3] == ["CEB304", "CEB404", "CEB506"]
    assert [r["status"] for r in accepted["receipts"] if r["message"] == "CEB604"] == [
        "2",
        "120",
        "399",
    ]
    released = _payload(timeline, "customs.goods.released")
    assert [(r["message"], r["status"]) for r in released["receipts"]] == [
        ("CEB508", "120"),
        ("CEB604", "800"),
    ]
    closed = _payload(timeline, "customs.declaration.closed")
    assert closed["receipts"][0]["status"] == "899" and "CEB509" in closed["receipts"][0]["info"]
    summary = _payload(timeline, "customs.summary.concluded")
    assert summary["receipts"][-1]["message"] == "CEB792"
    types = _types(timeline)
    assert types.index("customs.summary.concluded") < types.index("tax.refund.apply")
    # Trading firm (免退): CNY 85,200.00 × 13% = 11,076.00, filed on the summary 报关单.
    assert Decimal(view["figures"]["refund"]) == Decimal("11076.00")
    assert view["entry_id"] == summary["entry_id"]


def test_9610_export_without_invoice_in_a_pilot_zone_is_exempt(system: System) -> None:
    body = sample_declaration("export", "9610", "happy")
    body["tax_filing"] = {"no_purchase_invoice": True}
    view, timeline = _run(system, body)
    assert view["status"] == "completed", view
    assert view["steps"]["tax"] == "exempt"
    assert Decimal(view["figures"]["refund"]) == 0
    assert Decimal(view["figures"]["exempt_value"]) == Decimal("85200.00")
    assert "103" in _payload(timeline, "tax.refund.exempted")["rule"]


def test_9710_small_ticket_goes_on_a_list_and_a_large_one_on_a_declaration(
    system: System,
) -> None:
    small = sample_declaration("export", "9710", "happy")
    small["items"][0]["quantity"] = "5"  # 5 × USD 120 × 7.1 = CNY 4,260.00 ≤ 5,000
    view, timeline = _run(system, small)
    assert view["status"] == "completed", view
    assert _payload(timeline, "customs.declaration.accepted")["document"] == "CEB603"
    assert Decimal(view["figures"]["refund"]) == Decimal("553.80")  # 4,260.00 × 13%
    view, timeline = _run(system, sample_declaration("export", "9710", "happy"))
    assert _payload(timeline, "customs.declaration.accepted")["document"] == "报关单"
    assert "customs.summary.apply" not in _types(timeline)


def test_9810_export_with_form_a_to_germany_gets_a_non_preferential_certificate(
    system: System,
) -> None:
    body = sample_declaration("export", "9810", "happy")
    body["certificate_of_origin"] = "form_a"
    view, timeline = _run(system, body)
    assert view["status"] == "completed", view
    inspect = _payload(timeline, "inspection.goods.inspect")
    assert inspect["physical"] is False
    origin = _payload(timeline, "inspection.goods.passed")["origin"]
    assert (origin["requested"], origin["issued"]) == ("form_a", "non_preferential")
    assert "2021-12-01" in origin["note"]


def test_1210_bonded_import_matches_three_documents_and_pays_273(system: System) -> None:
    view, timeline = _run(system, _retail_import("1210", cbec=DOCS))
    assert view["status"] == "completed", view
    assert view["steps"]["forex"] == "not_required"
    accepted = _payload(timeline, "customs.declaration.accepted")
    assert [r["message"] for r in accepted["receipts"]][:3] == ["CEB312", "CEB412", "CEB512"]
    assert accepted["document"] == "CEB621" and accepted["invt_no"][8] == "I"
    collected = _payload(timeline, "tax.import.collected")
    assert (collected["message"], collected["regime"]) == ("CEB816", "cbec_retail")
    # domain.md §5.2: RMB 3,000 × 13% × 70% = RMB 273.
    assert Decimal(view["figures"]["taxes_total"]) == Decimal("273.00")
    assert "forex.payment.register" not in _types(timeline)


def test_9610_direct_purchase_import_with_a_payment_mismatch_is_rejected(system: System) -> None:
    view, _ = _run(system, _retail_import("9610", cbec=dict(DOCS, amount_paid="3290.00")))
    assert view["status"] == "rejected"
    assert view["reason"].startswith("C301 cbec.amount_paid:")
    assert "支付单金额" in view["reason"]
    assert "[rule cbec.three_documents.payment]" in view["reason"]


def test_9610_direct_purchase_import_without_documents_uses_the_simulated_ones(
    system: System,
) -> None:
    view, _ = _run(system, _retail_import("9610"))
    assert view["status"] == "completed", view
    assert Decimal(view["figures"]["import_vat"]) == Decimal("273.00")


def test_general_import_of_catalogue_goods_is_inspected_and_registers_the_payment(
    system: System,
) -> None:
    """Perfume 3303000000 carries supervision A on import: statutory inspection first."""
    view, timeline = _run(system, sample_declaration("import", "0110", "happy"))
    assert view["status"] == "completed", view
    assert view["steps"]["inspection"] == "passed"
    passed = _payload(timeline, "inspection.goods.passed")
    assert passed["categories"] == "MN" and Decimal(passed["hours"]) > 0
    registered = _payload(timeline, "forex.payment.registered")
    assert registered["match"] == "matched" and registered["fx_class"] == "A"


def test_the_reference_data_of_customs_holds_the_tariff(system: System) -> None:
    reference = httpx.get(system.url("customs") + "/v1/reference", timeout=10).json()
    assert len(reference["reference"]["tariff"]) >= 300


def _order(buyer_id: str, value: str, n: int) -> dict[str, Any]:
    """One indivisible tin (so over RMB 5,000 is allowed, taxed in full) bought by `buyer_id`."""
    body = _retail_import("9610")
    body["items"][0]["unit_price"] = value
    docs = dict(DOCS, buyer_id_number=buyer_id, payer_id_number=buyer_id, tax="0", freight="0")
    docs.update(order_no=f"ORD-{buyer_id}-{n}", actual_paid=value, amount_paid=value)
    body["cbec"] = docs
    return body


def test_the_annual_quota_is_tracked_per_buyer_and_restored_by_a_return(system: System) -> None:
    """RMB 26,000 a year (domain.md §5.2), per buyer, across declarations:
    20,000.00 + 3,000.00 = 23,000.00 (3,000 left); + 3,000.01 = 26,000.01 > 26,000 → T301.
    Return the 3,000.00 order the same day: its 273.00 tax refunded, 23,000 − 3,000 = 20,000
    used; now 20,000 + 3,000.01 = 23,000.01 ≤ 26,000 → accepted, 2,999.99 left."""
    buyer = f"3501021990{uuid.uuid4().int % 10**8:08d}"
    big, _ = _run(system, _order(buyer, "20000.00", 1))
    small, small_events = _run(system, _order(buyer, "3000.00", 2))
    assert (big["status"], small["status"]) == ("completed", "completed"), (big, small)
    quota = _payload(small_events, "tax.import.collected")["quota"]
    assert Decimal(quota["amount"]) == Decimal("3000.00")
    over, _ = _run(system, _order(buyer, "3000.01", 3))
    assert over["status"] == "rejected", over
    assert over["reason"].startswith("T301 cbec.buyer_id_number:")
    assert "[rule cbec.annual_limit]" in over["reason"] and "年度" in over["reason"]
    with system.client() as client:
        filed = client.post(f"/v1/declarations/{small['id']}/returns", json={})
        assert filed.status_code == 202, filed.text
        again = client.post(f"/v1/declarations/{small['id']}/returns", json={})
        assert again.status_code == 409, again.text

        def returned() -> dict[str, Any] | None:
            view = client.get(f"/v1/declarations/{small['id']}").json()
            return view if view["steps"]["tax"] == "returned" else None

        view = wait_for(returned, timeout_s=30, what="the return to be assessed")
        assert Decimal(view["figures"]["tax_refunded"]) == Decimal("273.00")
        # The window counts Beijing days (the release's date), not the test machine's.
        late_on = (datetime.now(BEIJING).date() + timedelta(days=31)).isoformat()
        late = client.post(f"/v1/declarations/{big['id']}/returns", json={"returned_on": late_on})
        assert late.status_code == 202, late.text

        def refused() -> dict[str, Any] | None:
            view = client.get(f"/v1/declarations/{big['id']}").json()
            return view if view["steps"]["tax"] == "return_refused" else None

        assert wait_for(refused, timeout_s=30, what="a late return")["reason"].startswith("T302")
    after, after_events = _run(system, _order(buyer, "3000.01", 4))
    assert after["status"] == "completed", after
    quota = _payload(after_events, "tax.import.collected")["quota"]
    assert Decimal(quota["amount"]) == Decimal("2999.99")


def test_an_enterprises_9610_lists_of_a_month_share_one_summary(system: System) -> None:
    """Two 9610 exports of the demo enterprise: the second joins the first's summary (same
    sum_no and 报关单 number), one list more, its CNY 85,200.00 added to the month's value."""
    _, first = _run(system, sample_declaration("export", "9610", "happy"))
    _, second = _run(system, sample_declaration("export", "9610", "happy"))
    a = _payload(first, "customs.summary.concluded")
    b = _payload(second, "customs.summary.concluded")
    if a["period_start"] != b["period_start"]:  # the two ran either side of a month's end
        return
    assert (b["sum_no"], b["entry_id"]) == (a["sum_no"], a["entry_id"])
    assert b["lists_in_summary"] == a["lists_in_summary"] + 1
    assert Decimal(b["summary_value_cny"]) == Decimal(a["summary_value_cny"]) + Decimal("85200.00")
