"""One declaration at a time through the real processes, the real broker and real HTTP."""

from __future__ import annotations

from decimal import Decimal

import httpx

from singlewindow.samples import sample_declaration
from tests.e2e.conftest import System
from tests.e2e.steady_load import new_enterprise


def _types(client: httpx.Client, declaration_id: str) -> list[str]:
    timeline = client.get(f"/v1/declarations/{declaration_id}/events").json()["data"]
    return [e["type"] for e in timeline]


def test_export_declaration_is_cleared_settled_and_refunded(system: System) -> None:
    with system.client() as client:
        resp = client.post("/v1/declarations", json=sample_declaration("export", "0110", "happy"))
        assert resp.status_code == 202, resp.text
        created = resp.json()
        assert created["status"] == "submitted"
        view = system.wait_terminal(client, created["id"])
        assert view["status"] == "completed", view
        assert view["steps"] == {
            "customs": "closed",
            "inspection": "not_required",
            "forex": "settled",
            "tax": "refund_paid",
        }
        assert view["customs_status"] == "899"
        assert len(view["entry_id"]) == 18 and view["entry_id"][8] == "0"  # export flag
        # 100 phones × USD 120 = USD 12,000. Customs rate 7.1000 → CNY 85,200.00;
        # bank rate 7.0950 → settled CNY 85,140.00; refund 13% of 85,200.00 = 11,076.00.
        figures = view["figures"]
        assert Decimal(figures["customs_value_cny"]) == Decimal("85200.00")
        assert Decimal(figures["settled_amount_cny"]) == Decimal("85140.00")
        assert Decimal(figures["refund"]) == Decimal("11076.00")
        types = _types(client, created["id"])
        assert types[0] == "declaration.submitted"
        assert types.index("customs.declaration.accepted") < types.index("customs.goods.released")
        assert types.index("customs.declaration.closed") < types.index("tax.refund.apply")
        assert types.index("forex.receipt.settled") < types.index("tax.refund.apply")
        assert types.count("tax.refund.paid") == 1


def test_import_declaration_pays_taxes_before_release(system: System) -> None:
    with system.client() as client:
        resp = client.post("/v1/declarations", json=sample_declaration("import", "0110", "happy"))
        view = system.wait_terminal(client, resp.json()["id"])
        assert view["status"] == "completed", view
        # 10 × EUR 50 = EUR 500 × 7.7000 = CNY 3,850.00. Perfume 3303000000 on the shipped
        # tariff: MFN duty 3% = 115.50; CT 15%: (3850 + 115.50) / 0.85 × 0.15 = 699.794 → 699.79;
        # VAT 13%: (3850 + 115.50 + 699.79) × 0.13 = 606.4877 → 606.49.
        figures = view["figures"]
        assert Decimal(figures["duty"]) == Decimal("115.50")
        assert Decimal(figures["consumption_tax"]) == Decimal("699.79")
        assert Decimal(figures["import_vat"]) == Decimal("606.49")
        types = _types(client, resp.json()["id"])
        assert types.index("tax.import.collected") < types.index("customs.goods.release")
        assert "forex.payment.registered" in types


def test_customs_rejection_ends_the_declaration_with_the_reason(system: System) -> None:
    body = sample_declaration("export", "0110")
    body["items"][0]["hs_code"] = "9301100000"  # chapter 93, arms: licence required
    with system.client() as client:
        resp = client.post("/v1/declarations", json=body)
        view = system.wait_terminal(client, resp.json()["id"])
        assert view["status"] == "rejected"
        assert view["customs_status"] == "100"
        assert view["reason"].startswith("C101 items[0].hs_code:")
        assert view["steps"]["tax"] == "waiting"
        assert "tax.refund.apply" not in _types(client, resp.json()["id"])


def test_failed_inspection_detains_the_goods_and_fails_the_declaration(system: System) -> None:
    with system.client() as client:
        resp = client.post(
            "/v1/declarations", json=sample_declaration("export", "9610", "inspection_fail")
        )
        view = system.wait_terminal(client, resp.json()["id"])
        assert view["status"] == "failed"
        assert view["channel"] == "red"
        assert view["customs_status"] == "501"
        assert view["steps"]["inspection"] == "failed"
        assert view["reason"].startswith("I301")
        types = _types(client, resp.json()["id"])
        assert "customs.goods.detained" in types and "customs.goods.release" not in types


def test_denied_refund_still_completes_with_zero_refund(system: System) -> None:
    with system.client() as client:
        resp = client.post(
            "/v1/declarations", json=sample_declaration("export", "9710", "refund_denied")
        )
        view = system.wait_terminal(client, resp.json()["id"])
        assert view["status"] == "completed"
        assert view["steps"]["tax"] == "refund_denied"
        assert Decimal(view["figures"]["refund"]) == 0
        assert "T201" in view["reason"]


def test_invalid_declaration_is_refused_naming_each_field_and_rule(system: System) -> None:
    body = sample_declaration("export", "0110")
    body["declarant"]["uscc"] = "91350100M000100Y44"  # check character should be 3
    body["items"][0]["hs_code"] = "85171"
    body["items"][0]["quantity"] = "-1"
    with system.client() as client:
        before = len(client.get("/v1/declarations", params={"limit": 200}).json()["data"])
        resp = client.post("/v1/declarations", json=body)
        assert resp.status_code == 422
        assert resp.headers["content-type"].startswith("application/problem+json")
        problem = resp.json()
        fields = {e["field"]: e["message"] for e in problem["errors"]}
        assert "expected '3'" in fields["declarant.uscc"]
        assert "10-digit" in fields["items[0].hs_code"]
        assert "items[0].quantity" in fields
        assert len(client.get("/v1/declarations", params={"limit": 200}).json()["data"]) == before


def test_trade_mode_must_fit_the_direction(system: System) -> None:
    with system.client() as client:
        resp = client.post("/v1/declarations", json=sample_declaration("export", "1210"))
        assert resp.status_code == 422
        assert "import mode" in resp.json()["detail"]


def test_an_enterprise_never_sees_another_enterprises_declarations(system: System) -> None:
    with system.client() as demo:
        mine = demo.post("/v1/declarations", json=sample_declaration()).json()["id"]
    with system.client(new_enterprise(system, system.admin_token, "Other Co.")) as other:
        assert other.get(f"/v1/declarations/{mine}").status_code == 404
        assert other.get(f"/v1/declarations/{mine}/events").status_code == 404
        assert mine not in [d["id"] for d in other.get("/v1/declarations").json()["data"]]


def test_requests_without_a_valid_key_are_unauthorized(system: System) -> None:
    resp = httpx.get(system.url("gateway") + "/v1/declarations")
    assert resp.status_code == 401 and resp.json()["type"].endswith("/unauthorized")
    with system.client("sk_test_wrong") as client:
        assert client.get("/v1/declarations").status_code == 401
    resp = httpx.post(
        system.url("gateway") + "/v1/admin/enterprises",
        json={"name": "X"},
        headers={"Authorization": f"Bearer {system.api_key}"},
    )
    assert resp.status_code == 403


def test_the_same_idempotency_key_replays_the_first_response(system: System) -> None:
    body = sample_declaration("export", "0110", "happy")
    with system.client() as client:
        first = client.post("/v1/declarations", json=body, headers={"Idempotency-Key": "order-42"})
        again = client.post("/v1/declarations", json=body, headers={"Idempotency-Key": "order-42"})
        assert first.status_code == again.status_code == 202
        assert again.json() == first.json()
        assert again.headers.get("Idempotent-Replayed") == "true"
        other = dict(body, currency="EUR")
        clash = client.post("/v1/declarations", json=other, headers={"Idempotency-Key": "order-42"})
        assert clash.status_code == 422 and "different request" in clash.json()["detail"]


def test_contracts_are_published(system: System) -> None:
    openapi = httpx.get(system.url("gateway") + "/openapi.json").json()
    assert "/v1/declarations" in openapi["paths"]
    asyncapi = httpx.get(system.url("gateway") + "/asyncapi.json").json()
    assert asyncapi["asyncapi"].startswith("3.")
    assert "sw_tax_events" in asyncapi["channels"]
    assert "RefundPaid" in asyncapi["components"]["messages"]
    for service in ("gateway", "customs", "inspection", "forex", "tax"):
        metrics = httpx.get(system.url(service) + "/metrics").text
        assert "sw_messages_handled_total" in metrics
