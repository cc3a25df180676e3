"""The README documents what the code does."""

from __future__ import annotations

from pathlib import Path

from services.common.settings import Settings

README = (Path(__file__).resolve().parents[2] / "README.md").read_text(encoding="utf-8")


def test_readme_documents_every_setting() -> None:
    missing = [
        f"SW_{name.upper()}"
        for name in Settings.model_fields
        if f"`SW_{name.upper()}`" not in README
    ]
    assert missing == []


def test_readme_shows_the_two_commands() -> None:
    assert "make run" in README and "make test" in README


def test_the_locustfile_compiles_and_submits_to_the_gateway() -> None:
    path = Path(__file__).resolve().parents[2] / "deploy" / "locustfile.py"
    source = path.read_text(encoding="utf-8")
    compile(source, str(path), "exec")
    assert '"/v1/declarations"' in source and "class Trader(HttpUser)" in source


def test_every_scenario_is_catalogued_and_on_the_sandbox_page() -> None:
    from schemas.scenarios import BY_NAME, TEST_HS_CODES
    from schemas.trade import Scenario

    assert set(BY_NAME) == set(Scenario)
    page = (Path(__file__).resolve().parents[2] / "docs" / "sandbox.md").read_text("utf-8")
    for scenario in Scenario:
        assert f"`{scenario.value}`" in page
    for hs_code, _ in TEST_HS_CODES:
        assert f"`{hs_code}`" in page
    assert "docs/sandbox.md" in README


def test_the_sandbox_page_lists_every_magic_value_and_test_helper() -> None:
    from schemas.scenarios import CATALOGUE, HELPER_OUTCOMES

    page = (Path(__file__).resolve().parents[2] / "docs" / "sandbox.md").read_text("utf-8")
    for info in CATALOGUE:
        assert f"`{info.magic}…`" in page, info.magic
        assert info.outcome in page, info.scenario  # the page's table is the catalogue's text
    for helper in HELPER_OUTCOMES:
        assert f"| `{helper.name}` | {helper.agency} |" in page, helper.name
    for path in ("/v1/test_helpers/clock/advance", "/v1/test_helpers/declarations/{id}/outcomes"):
        assert path in page
    assert "`SW_TEST_HELPERS`" in page
