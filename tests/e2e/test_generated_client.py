"""A client generated from the live /openapi.json, as integrators make one, drives the API:
openapi-python-client must generate it without a warning (a warning means a piece left out,
such as a response it could not name), and the client must submit, read, list events and
register a webhook endpoint, reading every answer into its models. TypeScript types made by
openapi-typescript must compile against code that uses them, and refuse code that misuses
them."""

from __future__ import annotations

import importlib
import os
import subprocess
import sys
import uuid
from collections.abc import Iterator
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest

from schemas.samples import sample_declaration
from singlewindow.spawn import free_port_block
from tests.e2e.conftest import TERMINAL, System
from tests.e2e.test_webhooks import Receiver
from tests.support import NODE_BIN, wait_for

PACKAGE = "sw_generated_client"


@pytest.fixture(scope="module")
def generated(system: System, tmp_path_factory: pytest.TempPathFactory) -> Iterator[ModuleType]:
    """The client package openapi-python-client makes of the running gateway's document."""
    out = tmp_path_factory.mktemp("generated")
    config = out / "config.yaml"
    # The CEB door's XML bodies are bytes to this generator (docs/ceb.md).
    config.write_text(
        f"project_name_override: {PACKAGE}\npackage_name_override: {PACKAGE}\n"
        "content_type_overrides:\n  application/xml: application/octet-stream\n"
    )
    bin_dir = Path(sys.executable).parent  # its post-generation hooks run ruff from here
    run = subprocess.run(
        [
            str(bin_dir / "openapi-python-client"),
            "generate",
            "--url",
            system.url("gateway") + "/openapi.json",
            "--config",
            str(config),
            "--meta",
            "none",
            "--output-path",
            str(out / PACKAGE),
            "--fail-on-warning",
        ],
        capture_output=True,
        text=True,
        timeout=120,
        env={**os.environ, "PATH": f"{bin_dir}{os.pathsep}{os.environ['PATH']}"},
    )
    assert run.returncode == 0 and "Warning" not in run.stdout + run.stderr, run.stdout + run.stderr
    sys.path.insert(0, str(out))
    try:
        yield importlib.import_module(PACKAGE)
    finally:
        sys.path.remove(str(out))
        for name in [m for m in sys.modules if m.split(".")[0] == PACKAGE]:
            del sys.modules[name]


def _api(package: ModuleType, tag: str, operation: str) -> Any:
    """The generated module of one operation: api/<tag>/<operation id in snake_case>.py."""
    return importlib.import_module(f"{package.__name__}.api.{tag}.{operation}")


def test_the_generated_client_submits_reads_and_follows_a_declaration(
    system: System, generated: ModuleType
) -> None:
    models = importlib.import_module(f"{generated.__name__}.models")
    receiver = Receiver(port=free_port_block(1))
    receiver.start()
    try:
        client = generated.AuthenticatedClient(
            base_url=system.url("gateway"), token=system.api_key, timeout=10
        )
        with client as client:
            created_endpoint = _api(generated, "webhooks", "create_webhook_endpoint").sync(
                client=client,
                body=models.WebhookEndpointCreate(url=receiver.url("/generated")),
            )
            assert isinstance(created_endpoint, models.WebhookEndpointCreated)
            receiver.secrets["/generated"] = created_endpoint.secret

            created = _api(generated, "declarations", "create_declaration").sync(
                client=client,
                body=models.DeclarationRequest.from_dict(sample_declaration(scenario="happy")),
                idempotency_key=str(uuid.uuid4()),
            )
            assert isinstance(created, models.DeclarationCreated), created
            declaration_id = created.id

            get_declaration = _api(generated, "declarations", "get_declaration")

            def ended() -> Any:
                view = get_declaration.sync(declaration_id, client=client)
                assert isinstance(view, models.DeclarationView), view
                return view if view.status in TERMINAL else None

            view = wait_for(ended, timeout_s=30, what=f"{declaration_id} to end")
            assert view.status == "completed" and view.steps["tax"] == "refund_paid"
            # The models lose nothing: what they read writes back as the server sent it.
            raw = client.get_httpx_client().get(f"/v1/declarations/{declaration_id}").json()
            for moment in ("created_at", "updated_at"):  # the same instant, written `+00:00`
                raw[moment] = raw[moment].replace("Z", "+00:00")
            assert view.to_dict() == raw

            timeline = _api(generated, "declarations", "list_declaration_events").sync(
                declaration_id, client=client
            )
            assert isinstance(timeline, models.Timeline)
            assert all(isinstance(e, models.TimelineEntry) for e in timeline.data)
            types = {e.type_ for e in timeline.data}  # the generator adds `_` to `type`
            assert {"customs.declaration.accepted", "tax.refund.paid"} <= types

            listed = _api(generated, "declarations", "list_declarations").sync(client=client)
            assert isinstance(listed, models.DeclarationList)
            assert declaration_id in {d.id for d in listed.data}

            # The endpoint registered first received the declaration's status changes, signed.
            def delivered() -> list[Any]:
                got = receiver.events("/generated", declaration_id)
                return got if any(r.event["type"] == "declaration.completed" for r in got) else []

            received = wait_for(delivered, timeout_s=30, what="the completed webhook")
            assert all(r.verified for r in received)
            deliveries = _api(generated, "webhooks", "list_webhook_endpoint_deliveries").sync(
                created_endpoint.id, client=client
            )
            assert isinstance(deliveries, models.WebhookDeliveryList)
            assert {d.status for d in deliveries.data} <= {"succeeded", "pending"}
            assert any(d.status == "succeeded" for d in deliveries.data)
    finally:
        receiver.stop()


TYPESCRIPT_USE = """
import type { components, operations } from "./api";
type View = operations["getDeclaration"]["responses"][200]["content"]["application/json"];
type Created = operations["createDeclaration"]["responses"][202]["content"]["application/json"];
type Events = operations["listDeclarationEvents"]["responses"][200]["content"]["application/json"];
export const item: components["schemas"]["ItemInput"] = {
  hs_code: "8517130000", description: "phones", quantity: 100, unit: "台",
  unit_price: "120.00", origin_country: "CHN",
};
export const status = (view: View): string => view.status;
export const created = (answer: Created): string => answer.id;
export const types = (events: Events): string[] => events.data.map((e) => e.type);
"""


def test_typescript_types_from_the_document_compile(system: System, tmp_path: Path) -> None:
    generate, tsc = NODE_BIN / "openapi-typescript", NODE_BIN / "tsc"
    assert generate.exists() and tsc.exists(), "`make node-tools` installs them"
    made = subprocess.run(
        [str(generate), system.url("gateway") + "/openapi.json", "-o", str(tmp_path / "api.d.ts")],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert made.returncode == 0, made.stdout + made.stderr

    def compiles(source: str) -> subprocess.CompletedProcess[str]:
        (tmp_path / "use.ts").write_text(source)
        return subprocess.run(
            [str(tsc), "--noEmit", "--strict", "--skipLibCheck", "use.ts", "api.d.ts"],
            cwd=tmp_path,
            capture_output=True,
            text=True,
            timeout=120,
        )

    good = compiles(TYPESCRIPT_USE)
    assert good.returncode == 0, good.stdout
    wrong = compiles(TYPESCRIPT_USE.replace("view.status", "view.stattus"))
    assert wrong.returncode != 0 and "stattus" in wrong.stdout
