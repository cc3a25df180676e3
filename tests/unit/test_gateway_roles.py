"""`SW_GATEWAY_ROLES`: a gateway process serves and runs only its roles."""

from __future__ import annotations

from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from pydantic import ValidationError

from gateway.app import create_app
from services.common.settings import Settings


@pytest.mark.parametrize(
    ("roles", "api", "dashboard", "consumes"),
    [
        ("api,saga,webhooks,dashboard", True, True, True),
        ("api,dashboard", True, True, False),
        ("saga", False, False, True),
        ("webhooks", False, False, False),
    ],
)
def test_each_role_brings_its_routes_and_its_consumer(
    tmp_path: Path, roles: str, api: bool, dashboard: bool, consumes: bool
) -> None:
    app = create_app(Settings(data_dir=tmp_path, gateway_roles=roles))
    client = TestClient(app)  # no lifespan: nothing starts, only the routes answer
    paths = app.openapi()["paths"]
    assert ("/v1/declarations" in paths) is api
    assert (client.get("/").status_code == 200) is dashboard
    assert client.get("/healthz").status_code == 200  # every role is probed alike
    assert app.state.runtime.consume is consumes


def test_an_unknown_role_is_refused_at_start_up(tmp_path: Path) -> None:
    with pytest.raises(ValidationError, match="gateway_roles"):
        Settings(data_dir=tmp_path, gateway_roles="api,billing")
