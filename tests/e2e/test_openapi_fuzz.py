"""schemathesis against the gateway's own OpenAPI document: no 5xx, no answer off its schema.

Every operation but the endless ones (the event stream, the dashboard page) is called with
generated valid and invalid input, as an enterprise of its own. (schemathesis' pytest
plugin does not run under this pytest, so each operation's strategy is driven directly.)
"""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings

from tests.e2e.conftest import System
from tests.e2e.steady_load import new_enterprise

schemathesis = pytest.importorskip("schemathesis", reason="pip install schemathesis")


def test_no_operation_answers_5xx_or_off_its_schema(system: System) -> None:
    from schemathesis.checks import not_a_server_error
    from schemathesis.specs.openapi.checks import (
        content_type_conformance,
        response_schema_conformance,
    )

    api_key = new_enterprise(system, system.admin_token, "openapi-fuzz")
    schema = schemathesis.openapi.from_url(system.url("gateway") + "/openapi.json")
    operations = [
        r.ok() for r in schema.exclude(path_regex=r"^/(v1/stream)?$").get_all_operations()
    ]
    assert len(operations) >= 10
    failures: dict[str, str] = {}
    for operation in operations:

        @given(case=operation.as_strategy())
        @settings(
            max_examples=15, deadline=None, suppress_health_check=list(HealthCheck), database=None
        )
        def call(case: Any) -> None:
            case.call_and_validate(
                headers={"Authorization": f"Bearer {api_key}"},
                checks=[not_a_server_error, response_schema_conformance, content_type_conformance],
                timeout=15,
            )

        try:
            call()
        except (Exception, BaseExceptionGroup) as exc:  # every operation tried, all told
            failures[operation.label] = str(exc)[:1500]
    assert not failures, "\n\n".join(f"{k}: {v}" for k, v in failures.items())
