"""The trainer's dashboard in a real browser (Debian's chromium, driven by Playwright)."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.e2e.conftest import System
from tests.e2e.steady_load import new_enterprise
from tests.support import wait_for

playwright_api = pytest.importorskip("playwright.sync_api", reason="pip install playwright")

CHROMIUM = Path("/usr/bin/chromium")
ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]
ID_PATTERN = re.compile(r"^[0-9a-f-]{36}$")
OUTPUT = Path(__file__).resolve().parents[2] / "test-output" / "dashboard"

pytestmark = pytest.mark.skipif(
    not CHROMIUM.exists(), reason="needs Debian's chromium: apt-get install -y chromium"
)


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    with playwright_api.sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=str(CHROMIUM), args=ARGS)
        try:
            yield browser
        finally:
            browser.close()


@pytest.fixture
def page(browser: Any, system: System, tmp_path: Path) -> Iterator[Any]:
    context = browser.new_context(viewport={"width": 1600, "height": 1200})
    page = context.new_page()
    errors: list[str] = []
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    outside: list[str] = []
    base = system.url("gateway")
    page.on(
        "request", lambda r: None if r.url.startswith((base, "data:")) else outside.append(r.url)
    )
    page.set_default_timeout(15_000)
    # `expect` has its own default (5 s), not the page's: once, in the full suite, the live
    # stream took longer than that to open on the shared system. One wait for both.
    playwright_api.expect.set_options(timeout=15_000)
    yield page
    OUTPUT.mkdir(parents=True, exist_ok=True)
    for shot in tmp_path.glob("*.png"):
        shutil.copy(shot, OUTPUT / shot.name)
    context.close()
    assert not errors, f"script errors on the page: {errors}"
    assert not outside, f"the page fetched from outside the gateway: {outside}"


def test_trainer_declares_watches_it_complete_and_reads_its_timeline_in_chinese(
    page: Any, system: System, tmp_path: Path
) -> None:
    expect = playwright_api.expect
    page.goto(system.url("gateway") + "/")
    # Sandbox mode: the demo key is filled in and the live stream connects.
    expect(page.locator("#api-key")).to_have_value(system.api_key)
    expect(page.locator("#live")).to_have_attribute("data-state", "on")

    # The board is the page; the composer opens as a drawer (N, or its button) over or beside it.
    expect(page.locator("#composer-drawer")).to_be_hidden()
    page.click("#composer-toggle")
    page.click("button[data-example='0110']")
    page.select_option("#f-scenario", "happy")
    page.click("#submit")
    result = page.locator("#composer-result")
    expect(result).to_have_attribute("data-id", ID_PATTERN)
    declaration_id = result.get_attribute("data-id")
    page.click("#composer-close")
    assert declaration_id

    # The board moves on server-sent events alone: no reload, no polling loop.
    row = page.locator(f".drow[data-id='{declaration_id}']")
    expect(row).to_have_attribute("data-status", "completed", timeout=30_000)
    expect(row.locator(".cell.tax .step")).to_contain_text("refund paid")
    expect(row.locator(".cell.customs .fig")).to_contain_text("85,200.00")
    assert page.evaluate("performance.getEntriesByType('navigation').length") == 1

    row.click()
    timeline = page.locator("#timeline")
    expect(timeline.locator("tr.entry[data-type='tax.refund.paid']")).to_have_count(1)
    expect(timeline).to_contain_text("Receipt 899: declaration closed")
    expect(page.locator(".stage-times")).to_contain_text("Customs review")

    page.click("#lang-toggle")
    expect(page.locator("html")).to_have_attribute("lang", "zh-CN")
    expect(timeline).to_contain_text("回执 899：结关")
    expect(timeline).to_contain_text("报关单")
    expect(row.locator(".cell.customs .step")).to_have_text("899 结关")
    page.screenshot(path=str(tmp_path / "timeline-zh.png"), full_page=True)

    page.keyboard.press("2")  # the saga diagram, the selected declaration's state highlighted
    expect(page.locator("#saga-diagram .node.current[data-state='completed']")).to_have_count(1)
    page.screenshot(path=str(tmp_path / "saga-zh.png"), full_page=True)


def test_saga_table_is_served_from_the_code(system: System) -> None:
    from gateway.dashboard.examples import EXAMPLES
    from gateway.saga import table_for
    from schemas.trade import DeclarationData

    body = httpx.get(system.url("gateway") + "/v1/saga", timeout=10).json()
    for mode, example in EXAMPLES.items():
        declaration = DeclarationData.model_validate(example)
        served = body["tables"][body["table_of"][f"{declaration.direction.value}/{mode}"]]
        assert served == [
            {"state": t.state, "on": t.on, "to": t.to, "commands": list(t.commands), "when": t.when}
            for t in table_for(declaration)
        ], mode


def test_every_composer_example_clears_under_the_happy_scenario(system: System) -> None:
    from gateway.dashboard.examples import EXAMPLES

    with system.client() as client:
        ids = {}
        for mode, body in EXAMPLES.items():
            resp = client.post("/v1/declarations", json={**body, "scenario": "happy"})
            assert resp.status_code == 202, (mode, resp.text)
            ids[mode] = resp.json()["id"]
        for mode, declaration_id in ids.items():
            view = system.wait_terminal(client, declaration_id)
            assert view["status"] == "completed", (mode, view["reason"])


def test_step_pace_waits_for_the_trainer_at_every_stage(system: System) -> None:
    from gateway.dashboard.examples import EXAMPLES

    with system.client() as client:
        body = {**EXAMPLES["0110"], "scenario": "happy", "pace": "step"}
        declaration_id = client.post("/v1/declarations", json=body).json()["id"]
        released: list[str] = []

        def held() -> list[str] | None:
            view = client.get(f"/v1/declarations/{declaration_id}").json()
            if view["status"] == "completed":
                return ["<end>"]
            return client.get(f"/v1/declarations/{declaration_id}/pace").json()["held"] or None

        while True:
            waiting = wait_for(held, timeout_s=20, what="a held stage")
            if waiting == ["<end>"]:
                break
            # Nothing moves while the trainer waits: the filing is not even with customs yet.
            resp = client.post(f"/v1/declarations/{declaration_id}/advance")
            assert resp.status_code == 200, resp.text
            released += resp.json()["released"]
        assert released == [
            "customs.declaration.file",
            "customs.goods.release",
            "customs.declaration.close",
            "forex.receipt.settle",
            "tax.refund.apply",
        ]
        again = client.post(f"/v1/declarations/{declaration_id}/advance")
        assert again.status_code == 409
        assert again.headers["content-type"] == "application/problem+json"


def test_the_board_keeps_working_while_a_load_run_floods_the_gateway(
    page: Any, system: System, tmp_path: Path
) -> None:
    """600 declarations at 200/s from the load tool; the page samples, the class view counts all."""
    expect = playwright_api.expect
    # Its own run: nothing else in the suite counts in it.
    key = new_enterprise(system, system.admin_token, "Load class")

    page.goto(system.url("gateway") + "/")
    page.fill("#api-key", key)
    page.press("#api-key", "Enter")
    page.locator("#api-key").blur()
    expect(page.locator("#live")).to_have_attribute("data-state", "on")
    page.keyboard.press("3")
    hero = page.locator("#class-view .tile .hero").first
    expect(hero).to_have_text("0")

    sent, rate, duration = 600, 200, 3
    load = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "singlewindow",
            "load",
            *("--rate", str(rate), "--duration", str(duration)),
            *("--mix", "export/0110/happy=1", "--timeout", "120"),
            *("--gateway", system.url("gateway"), "--kafka", system.broker),
            *("--api-key", key, "--out", str(tmp_path / "load")),
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    try:
        # While the load flows, the trainer still declares from the composer and sees it end.
        wait_for(
            lambda: int(hero.inner_text() or 0) >= 50 or None,
            timeout_s=30,
            what="the load to show in the class view",
        )
        page.keyboard.press("n")  # the composer's drawer
        page.click("button[data-example='0110']")
        page.select_option("#f-scenario", "happy")
        page.click("#submit")
        result = page.locator("#composer-result")
        expect(result).to_have_attribute("data-id", ID_PATTERN)
        mine = result.get_attribute("data-id")
        page.keyboard.press("Escape")
        row = page.locator(f".drow[data-id='{mine}']")
        expect(row).to_have_attribute("data-status", "completed", timeout=120_000)
        # The board samples: a handful of rows, never one per declaration.
        assert page.locator(".drow").count() <= 11
        output, _ = load.communicate(timeout=180)
    finally:
        if load.poll() is None:
            load.kill()
            load.wait()
    assert load.returncode == 0, output
    report = json.loads((tmp_path / "load" / "report.json").read_text())
    assert report["sent"] == sent and report["outcomes"] == {"completed": sent}, report

    # Every one counted, exactly: the load's declarations and the trainer's.
    expect(hero).to_have_text(str(sent + 1), timeout=30_000)
    expect(page.locator("#class-view .bar.st-completed .num")).to_have_text(str(sent + 1))
    expect(page.locator("#board-more")).to_contain_text(f"of {sent + 1} declarations")
    assert page.evaluate("performance.getEntriesByType('navigation').length") == 1
    page.screenshot(path=str(tmp_path / "under-load.png"), full_page=True)


PRESENT = re.compile(r"\bpresent\b")

# Every box of a board row whose content could be cut: the cells, and in them the step name,
# the entry number (18 digits, never wrapped), the figures and the status chip.
CLIPPED = """() => [...document.querySelectorAll(
    '.lane-head > span, .drow > span, .drow .step, .drow .entry, .drow .fig, .drow .chip')]
  .filter((e) => e.scrollWidth > e.clientWidth)
  .map((e) => `${e.className}: ${e.textContent} (${e.scrollWidth} > ${e.clientWidth})`)"""


def test_the_board_fits_step_names_and_entry_numbers_at_projector_sizes(
    page: Any, system: System, tmp_path: Path
) -> None:
    """At 1280×720 and 1920×1080, normal and presentation mode: no cell cut, no sideways scroll."""
    from gateway.dashboard.examples import EXAMPLES

    expect = playwright_api.expect
    # Its own board: the rows below and no others.
    key = new_enterprise(system, system.admin_token, "Projector class")
    # The longest words a cell shows: summarised (CEB792) and VAT exempt (9610), taxes collected
    # (1210), refund denied, 100 rejected, a stage held for the trainer, entry numbers.
    bodies = [{**body, "scenario": "happy"} for body in EXAMPLES.values()]
    bodies += [
        {**EXAMPLES["0110"], "scenario": "refund_denied"},
        {**EXAMPLES["0110"], "scenario": "customs_reject"},
        {**EXAMPLES["0110"], "scenario": "happy", "pace": "step"},
    ]
    with system.client(key) as client:
        ids = [client.post("/v1/declarations", json=b).json()["id"] for b in bodies]
        for declaration_id in ids[:-1]:
            system.wait_terminal(client, declaration_id)
    held = ids[-1]

    page.goto(system.url("gateway") + "/")
    page.fill("#api-key", key)
    page.press("#api-key", "Enter")
    root_font: dict[tuple[int, bool], float] = {}
    for width, height in [(1280, 720), (1920, 1080)]:
        page.set_viewport_size({"width": width, "height": height})
        for present in (False, True):
            page.goto(system.url("gateway") + f"/?present={int(present)}")
            if present:
                expect(page.locator("html")).to_have_class(PRESENT)
            else:
                expect(page.locator("html")).not_to_have_class(PRESENT)
            expect(page.locator(".drow")).to_have_count(len(ids))
            expect(page.locator(f".drow[data-id='{held}'] .cell.customs .step")).to_have_text(
                "‖ waiting for the trainer"
            )
            for declaration_id in ids[:-1]:
                row = page.locator(f".drow[data-id='{declaration_id}']")
                expect(row).to_have_attribute("data-status", re.compile("completed|rejected"))
            expect(page.locator(".drow .entry")).to_have_count(len(ids) - 2)
            shot = f"board-{width}x{height}{'-present' if present else ''}.png"
            page.screenshot(path=str(tmp_path / shot))
            assert page.evaluate(CLIPPED) == [], shot
            sideways = page.evaluate(
                "(() => { const b = document.querySelector('.board');"
                " return [b.scrollWidth, b.clientWidth]; })()"
            )
            assert sideways[0] <= sideways[1], (shot, sideways)
            root_font[(width, present)] = float(
                page.evaluate("getComputedStyle(document.documentElement).fontSize")[:-2]
            )
    # Presentation type grows with the screen; the normal page keeps one size.
    assert root_font[(1280, False)] == root_font[(1920, False)]
    assert root_font[(1280, True)] > root_font[(1280, False)]
    assert root_font[(1920, True)] >= 1.5 * root_font[(1920, False)]


def test_presentation_mode_and_the_composer_drawer_are_remembered(
    page: Any, system: System
) -> None:
    expect = playwright_api.expect
    html = page.locator("html")
    page.goto(system.url("gateway") + "/")
    expect(html).not_to_have_class(PRESENT)
    expect(page.locator("#composer-drawer")).to_be_hidden()
    page.keyboard.press("p")
    page.keyboard.press("n")
    expect(html).to_have_class(PRESENT)
    expect(page.locator("#present-toggle")).to_have_attribute("aria-pressed", "true")
    expect(page.locator("#composer-drawer")).to_be_visible()
    expect(page.locator("#composer-toggle")).to_have_attribute("aria-expanded", "true")
    page.reload()
    expect(html).to_have_class(PRESENT)
    expect(page.locator("#composer-drawer")).to_be_visible()
    page.click("#composer-close")
    # The address wins for this page (a bookmark, a second screen) and is not remembered.
    page.goto(system.url("gateway") + "/?present=0")
    expect(html).not_to_have_class(PRESENT)
    page.goto(system.url("gateway") + "/")
    expect(html).to_have_class(PRESENT)
    expect(page.locator("#composer-drawer")).to_be_hidden()
    page.click("#present-toggle")
    page.reload()
    expect(html).not_to_have_class(PRESENT)
