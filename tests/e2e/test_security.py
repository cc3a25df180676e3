"""Security on real processes: hashed keys, enterprise isolation, admin token and switch,
loopback binding, and SQL-looking or script-looking input kept inert (in a real browser too).
"""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from gateway.core.store import hash_key
from schemas.samples import sample_declaration
from singlewindow.spawn import Spawned, spawn_system
from tests.e2e.conftest import System
from tests.e2e.steady_load import follow_stream, new_enterprise
from tests.support import wait_for

SCRIPT = '<script>window.__pwned = 1</script><img src=x onerror="window.__pwned = 2">'
SQL = "'; DROP TABLE records;--"


@pytest.fixture(scope="module")
def two(system: System) -> tuple[str, str]:
    """API keys of two enterprises, A and B."""
    return (
        new_enterprise(system, system.admin_token, "Enterprise A"),
        new_enterprise(system, system.admin_token, "Enterprise B"),
    )


def test_api_keys_are_stored_hashed(system: System, two: tuple[str, str]) -> None:
    with sqlite3.connect(system.data_dir / "gateway.db") as db:
        tables = [r[0] for r in db.execute("SELECT name FROM sqlite_master WHERE type='table'")]
        dump = "\n".join(db.iterdump())
    assert "enterprises" in tables or any("enterprise" in t for t in tables)
    for key in (*two, system.api_key):
        assert key not in dump, "an API key is stored in clear"
        assert hash_key(key) in dump, "the key's hash is what is stored"


def test_enterprise_b_can_neither_read_list_advance_nor_follow_a(
    system: System, two: tuple[str, str]
) -> None:
    key_a, key_b = two
    with system.client(key_a) as a, system.client(key_b) as b:
        body = {**sample_declaration("export", "0110", "happy"), "pace": "step"}
        mine = a.post("/v1/declarations", json=body).json()["id"]
        assert a.get(f"/v1/declarations/{mine}").status_code == 200

        for path in (
            f"/v1/declarations/{mine}",
            f"/v1/declarations/{mine}/events",
            f"/v1/declarations/{mine}/pace",
        ):
            resp = b.get(path)
            # Another enterprise's declaration is as invisible as one that does not exist.
            assert resp.status_code == 404, (path, resp.text)
        assert mine not in {
            d["id"] for d in b.get("/v1/declarations", params={"limit": 200}).json()["data"]
        }
        assert b.post(f"/v1/declarations/{mine}/advance").status_code == 404
        # Cancelling is an operator's act: an enterprise's key is refused.
        assert (
            b.post(f"/v1/admin/declarations/{mine}/cancel", json={"reason": "x"}).status_code == 403
        )
        assert (
            a.post(f"/v1/admin/declarations/{mine}/cancel", json={"reason": "x"}).status_code == 403
        )
        assert a.get(f"/v1/declarations/{mine}").json()["status"] != "cancelled"

        # B's stream carries B's declarations only: A's change never reaches it.
        seen = follow_stream(system, key_b, lambda: a.post(f"/v1/declarations/{mine}/advance"))
        assert mine not in seen, "B's stream carried A's declaration"
        seen_a = follow_stream(system, key_a, lambda: a.post(f"/v1/declarations/{mine}/advance"))
        assert mine in seen_a, "the stream test proves nothing if A's own stream is silent"


def test_a_wrong_or_missing_key_is_401_and_never_echoed(system: System) -> None:
    for headers in ({}, {"Authorization": "Bearer sk_test_nope"}, {"Authorization": "Basic eA=="}):
        resp = httpx.get(system.url("gateway") + "/v1/declarations", headers=headers, timeout=10)
        assert resp.status_code == 401
        assert resp.headers["content-type"].startswith("application/problem+json")
        assert "sk_test_nope" not in resp.text


def test_admin_endpoints_need_the_admin_token_everywhere(system: System) -> None:
    gateway = system.url("gateway")
    for headers in (
        {},
        {"Authorization": f"Bearer {system.api_key}"},
        {"Authorization": "Bearer admin"},
    ):
        for method, url in (
            ("POST", f"{gateway}/v1/admin/enterprises"),
            ("GET", f"{gateway}/v1/admin/declarations"),
            ("GET", f"{gateway}/v1/admin/deadletters"),
            *(
                ("GET", f"{system.url(a)}/v1/records")
                for a in ("customs", "inspection", "forex", "tax")
            ),
        ):
            resp = httpx.request(method, url, headers=headers, json={"name": "x"}, timeout=10)
            assert resp.status_code in (401, 403), (method, url, headers, resp.status_code)
    admin = {"Authorization": f"Bearer {system.admin_token}"}
    assert (
        httpx.get(f"{system.url('tax')}/v1/records", headers=admin, timeout=10).status_code == 200
    )


def _listening_address(port: int) -> str:
    """The local address a TCP port listens on, from /proc/net/tcp (hex, little-endian)."""
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        for line in Path(table).read_text().splitlines()[1:]:
            local, state = line.split()[1], line.split()[3]
            address, hex_port = local.rsplit(":", 1)
            if state == "0A" and int(hex_port, 16) == port:  # 0A: LISTEN
                return address
    raise AssertionError(f"nothing listens on {port}")


def test_every_service_binds_to_loopback_by_default(system: System) -> None:
    for offset in range(5):
        assert _listening_address(system.port_base + offset) == "0100007F"  # 127.0.0.1


@pytest.fixture(scope="module")
def admin_off(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Spawned]:
    with spawn_system(
        tmp_path_factory.mktemp("admin-off"), extra_env={"SW_ADMIN_ENABLED": "false"}
    ) as spawned:
        yield spawned


def test_admin_endpoints_can_be_switched_off(admin_off: Spawned) -> None:
    admin = {"Authorization": "Bearer admin_test_singlewindow"}
    gateway = admin_off.url("gateway")
    for method, url in (
        ("POST", f"{gateway}/v1/admin/enterprises"),
        ("GET", f"{gateway}/v1/admin/declarations"),
        ("GET", f"{gateway}/v1/admin/deadletters"),
        ("POST", f"{gateway}/v1/admin/declarations/x/cancel"),
        ("GET", f"{admin_off.url('customs')}/v1/records"),
    ):
        resp = httpx.request(method, url, headers=admin, json={"name": "x"}, timeout=10)
        assert resp.status_code == 404, (url, resp.text)
        assert "SW_ADMIN_ENABLED" in resp.json()["detail"]
    # The public API is unaffected.
    key = {"Authorization": "Bearer sk_test_singlewindow_demo"}
    assert httpx.get(f"{gateway}/v1/declarations", headers=key, timeout=10).status_code == 200


def test_sql_and_script_looking_input_is_stored_and_returned_verbatim(system: System) -> None:
    body = sample_declaration("export", "0110", "happy", reference=SQL[:60])
    body["items"][0]["description"] = SCRIPT
    body["declarant"]["name"] = SQL
    with system.client() as client:
        created = client.post("/v1/declarations", json=body)
        assert created.status_code == 202, created.text
        declaration_id = created.json()["id"]
        view = system.wait_terminal(client, declaration_id)
        assert view["status"] == "completed"
        assert view["declaration"]["items"][0]["description"] == SCRIPT
        assert view["declaration"]["declarant"]["name"] == SQL
        assert view["declaration"]["reference"] == SQL[:60]
        # Served as JSON, never as HTML.
        raw = client.get(f"/v1/declarations/{declaration_id}")
        assert raw.headers["content-type"] == "application/json"
        assert json.loads(raw.text)["declaration"]["items"][0]["description"] == SCRIPT
    # The agencies' tables are all there (nothing was executed) and hold the text as text.
    admin = {"Authorization": f"Bearer {system.admin_token}"}
    for agency in ("customs", "forex", "tax"):
        record = httpx.get(
            f"{system.url(agency)}/v1/records/{declaration_id}", headers=admin, timeout=10
        )
        assert record.status_code == 200, record.text
    customs = httpx.get(
        f"{system.url('customs')}/v1/records/{declaration_id}", headers=admin, timeout=10
    ).json()
    filed = next(m for m in customs["messages"] if m["type"] == "customs.declaration.file")
    assert filed["payload"]["declaration"]["items"][0]["description"] == SCRIPT


playwright_api = pytest.importorskip("playwright.sync_api", reason="pip install playwright")
CHROMIUM = Path("/usr/bin/chromium")


@pytest.mark.skipif(not CHROMIUM.exists(), reason="needs Debian's chromium")
def test_the_dashboard_shows_script_looking_input_as_text(system: System) -> None:
    """A trader's description and an operator's cancel reason, both hostile, drawn inert."""
    from tests.e2e.test_dashboard import ARGS

    body = {**sample_declaration("export", "0110", "happy"), "pace": "step"}
    body["items"][0]["description"] = SCRIPT
    reason = SCRIPT + " " + SQL
    with playwright_api.sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=str(CHROMIUM), args=ARGS)
        try:
            page = browser.new_page()
            errors: list[str] = []
            page.on("pageerror", lambda exc: errors.append(str(exc)))
            page.goto(system.url("gateway") + "/")
            expect = playwright_api.expect
            expect(page.locator("#live")).to_have_attribute("data-state", "on")
            with system.client() as client:
                declaration_id = client.post("/v1/declarations", json=body).json()["id"]
                cancelled = httpx.post(
                    f"{system.url('gateway')}/v1/admin/declarations/{declaration_id}/cancel",
                    json={"reason": reason},
                    headers={"Authorization": f"Bearer {system.admin_token}"},
                    timeout=10,
                )
                assert cancelled.status_code == 200, cancelled.text
            row = page.locator(f".drow[data-id='{declaration_id}']")
            expect(row).to_have_attribute("data-status", "cancelled", timeout=30_000)
            row.click()
            head = page.locator("#timeline-head .reason")
            expect(head).to_have_text(reason)
            timeline = page.locator("#timeline")
            expect(timeline.locator("tr.entry").first).to_be_visible()
            wait_for(
                lambda: page.locator("#timeline-head").count() > 0, timeout_s=10, what="timeline"
            )
            assert page.evaluate("window.__pwned") is None, "injected script ran"
            assert page.locator("#timeline-head img, #timeline-head script").count() == 0
            assert page.locator("#timeline img, #board img").count() == 0
            assert not errors, errors
        finally:
            browser.close()
