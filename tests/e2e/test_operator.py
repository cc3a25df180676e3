"""Operators retry or cancel stalled declarations: an agency that hangs (SIGSTOP), for real."""

from __future__ import annotations

import os
import signal
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from schemas.samples import sample_declaration
from singlewindow.spawn import Spawned, spawn_system
from tests.support import wait_for

KEY = {"Authorization": "Bearer sk_test_singlewindow_demo"}
ADMIN = {"Authorization": "Bearer admin_test_singlewindow"}


@pytest.fixture(scope="module")
def quick_to_stall(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Spawned]:
    """A system whose steps give up after two tries half a second apart."""
    extra = {"SW_STEP_DEADLINE_S": "0.5", "SW_STEP_MAX_ATTEMPTS": "2"}
    with spawn_system(Path(tmp_path_factory.mktemp("operator")), extra_env=extra) as system:
        yield system


def _view(gw: httpx.Client, declaration_id: str) -> dict:  # type: ignore[type-arg]
    return gw.get(f"/v1/declarations/{declaration_id}").json()


def _stalled_at_tax(system: Spawned, gw: httpx.Client, count: int) -> list[str]:
    """Submit `count` declarations while tax hangs; wait until each is stalled there."""
    ids = []
    for _ in range(count):
        resp = gw.post("/v1/declarations", json=sample_declaration("export", "0110", "happy"))
        assert resp.status_code == 202, resp.text
        ids.append(resp.json()["id"])
    for declaration_id in ids:
        wait_for(
            lambda d=declaration_id: _view(gw, d)["status"] == "stalled" or None,
            timeout_s=60,
            what=f"{declaration_id} to stall",
        )
    return ids


def _sends(gw: httpx.Client, declaration_id: str, command: str) -> list[int]:
    """How many times each entry of `command` in the declaration's timeline was sent."""
    timeline = gw.get(f"/v1/declarations/{declaration_id}/events").json()["data"]
    return [e["sends"]["count"] for e in timeline if e["type"] == command]


def test_a_stalled_declaration_is_listed_retried_and_completes(quick_to_stall: Spawned) -> None:
    system = quick_to_stall
    tax_pid = int(httpx.get(system.url("tax") + "/healthz", timeout=5).json()["pid"])
    with (
        httpx.Client(base_url=system.url("gateway"), headers=KEY, timeout=10) as gw,
        httpx.Client(base_url=system.url("gateway"), headers=ADMIN, timeout=10) as op,
    ):
        os.kill(tax_pid, signal.SIGSTOP)  # the tax bureau hangs: no answer, no crash
        try:
            stuck, to_cancel = _stalled_at_tax(system, gw, 2)
            view = _view(gw, stuck)
            assert view["state"] == "refunding"
            assert "no answer from tax" in view["stalled_reason"]
            listed = {d["id"] for d in op.get("/v1/admin/declarations").json()["data"]}
            assert {stuck, to_cancel} <= listed
            # Retrying while tax still hangs is allowed: it stalls again after its tries.
            first = op.post(f"/v1/admin/declarations/{stuck}/retry")
            assert first.status_code == 200, first.text
            assert first.json()["resent"] == ["tax.refund.apply"]
            assert first.json()["status"] == "in_progress"
            # Every try went out under the command's one id: the timeline lists it once, with
            # its sends (two by the deadline watcher; the operator's retry is a third).
            assert _sends(gw, to_cancel, "tax.refund.apply") == [2]
            assert _sends(gw, stuck, "tax.refund.apply")[0] >= 3
        finally:
            os.kill(tax_pid, signal.SIGCONT)
        cancelled = op.post(f"/v1/admin/declarations/{to_cancel}/cancel", json={"reason": "demo"})
        assert cancelled.status_code == 200, cancelled.text
        assert cancelled.json()["status"] == "cancelled"
        # Tax wakes up and answers what it had queued: the retried declaration completes once.
        wait_for(
            lambda: _view(gw, stuck)["status"] in ("completed", "stalled") or None,
            timeout_s=60,
            what="the retried declaration to finish or stall again",
        )
        if _view(gw, stuck)["status"] == "stalled":
            assert op.post(f"/v1/admin/declarations/{stuck}/retry").status_code == 200
        final = wait_for(
            lambda: ((v := _view(gw, stuck))["status"] == "completed" and v) or None,
            timeout_s=60,
            what="the retried declaration to complete",
        )
        assert final["steps"]["tax"] == "refund_paid"
        types = [e["type"] for e in gw.get(f"/v1/declarations/{stuck}/events").json()["data"]]
        assert types.count("tax.refund.paid") == 1
        assert _view(gw, to_cancel)["status"] == "cancelled"
        assert _view(gw, to_cancel)["reason"] == "demo"


def test_operator_actions_need_the_admin_token_and_a_fitting_state(
    quick_to_stall: Spawned,
) -> None:
    system = quick_to_stall
    with (
        httpx.Client(base_url=system.url("gateway"), headers=KEY, timeout=10) as gw,
        httpx.Client(base_url=system.url("gateway"), headers=ADMIN, timeout=10) as op,
    ):
        resp = gw.post("/v1/declarations", json=sample_declaration("export", "0110", "happy"))
        declaration_id = resp.json()["id"]
        refused = gw.post(f"/v1/admin/declarations/{declaration_id}/cancel")
        assert refused.status_code == 403
        assert refused.headers["content-type"].startswith("application/problem+json")
        wait_for(
            lambda: _view(gw, declaration_id)["status"] == "completed" or None,
            timeout_s=60,
            what="the declaration to complete",
        )
        for action in ("retry", "cancel"):
            late = op.post(f"/v1/admin/declarations/{declaration_id}/{action}")
            assert late.status_code == 409, late.text
            assert late.json()["state"] == "completed"
        missing = op.post("/v1/admin/declarations/nope/retry")
        assert missing.status_code == 404
