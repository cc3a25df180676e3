"""The webhook page says what the code does: its snippet verifies real signatures."""

from __future__ import annotations

import re
import time
from pathlib import Path
from typing import Any

from gateway.webhooks.rules import EVENT_TYPES, sign, signature_header

PAGE = (Path(__file__).resolve().parents[2] / "docs" / "sandbox.md").read_text("utf-8")
SECTION = PAGE[PAGE.index("## Webhooks") :]


def _snippet() -> Any:
    code = re.search(r"### Verify the signature.*?```python\n(.*?)```", SECTION, re.S)
    assert code, "no python snippet under 'Verify the signature'"
    scope: dict[str, Any] = {}
    exec(code.group(1), scope)
    return scope["verify"]


def test_the_documented_snippet_accepts_a_gateway_signature_and_refuses_a_forgery() -> None:
    verify = _snippet()
    body = b'{"id":"evt_1","type":"declaration.completed"}'
    header = signature_header("whsec_abc", int(time.time()), body)
    assert verify("whsec_abc", header, body) is True
    assert verify("whsec_abc", header, body.replace(b"completed", b"rejected")) is False
    assert verify("whsec_other", header, body) is False
    stale = signature_header("whsec_abc", int(time.time()) - 301, body)
    assert verify("whsec_abc", stale, body) is False


def test_the_worked_example_on_the_page_is_what_the_gateway_signs() -> None:
    hex_ = sign("whsec_test_secret", 1_700_000_000, b'{"id":"evt_1"}')
    assert f"v1={hex_}" in SECTION and f"= {hex_}" in SECTION


def test_every_event_type_is_on_the_page() -> None:
    for kind in EVENT_TYPES:
        assert f"`{kind}`" in SECTION
