"""`SW_TEST_HELPERS=false` takes the test helpers off the gateway: every path answers 404."""

from __future__ import annotations

from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from gateway.app import create_app
from services.common.settings import Settings


@pytest.mark.parametrize(("enabled", "status"), [(True, 401), (False, 404)])
def test_the_setting_switches_the_helpers_on_and_off(
    tmp_path: Path, enabled: bool, status: int
) -> None:
    app = create_app(Settings(data_dir=tmp_path, test_helpers=enabled))
    client = TestClient(app)  # no lifespan: nothing starts, only the routes answer
    resp = client.post("/v1/test_helpers/clock/advance", json={"seconds": 1})
    assert resp.status_code == status
    assert resp.headers["content-type"].startswith("application/problem+json")
    assert ("/v1/test_helpers/clock/advance" in app.openapi()["paths"]) is enabled
