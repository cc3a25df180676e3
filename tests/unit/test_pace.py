"""Pace control without I/O: held commands, demo release times, the trainer's advance."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from gateway import saga as sagas
from gateway.core.config import GatewayConfig
from gateway.dashboard.stats import RunStats
from gateway.saga import Saga, filings, pace
from gateway.saga.handlers import on_event, put_saga, send
from gateway.saga.watcher import expire_due
from schemas.api import Pace
from schemas.envelope import Envelope, reply
from schemas.samples import sample_declaration
from schemas.trade import DeclarationData
from services.common.changes import Changes, Held
from services.common.handling import Context
from tests.unit.builders import green_acceptance

CONFIG = GatewayConfig(step_deadline_s=10, step_max_attempts=5, demo_stage_s=3)
T0 = 1_000_000.0


DECLARATION = DeclarationData.model_validate(sample_declaration("export", "0110", "happy"))


def _filed(declaration_id: str) -> DeclarationData:
    """The journal's filing, as the deadline watcher reads it."""
    assert declaration_id == "decl-1"
    return DECLARATION


def _submitted(p: Pace) -> tuple[Saga, list[Envelope]]:
    begun = sagas.start("decl-1", "ent_demo", DECLARATION, paced=pace.pacing(p))
    saga, sent = send(begun.saga, begun.commands, cause=None, config=CONFIG, now=T0)
    return pace.hold(saga, sent, now=T0, demo_stage_s=CONFIG.demo_stage_s)


def test_instant_declaration_sends_at_once_and_stays_unpaced() -> None:
    saga, out = _submitted(Pace.INSTANT)
    assert saga.paced is None
    assert [e.type for e in out] == ["customs.declaration.file"]
    assert saga.pending[0].deadline == T0 + 10
    assert sagas.next_deadline(saga) == T0 + 10


def test_demo_declaration_holds_the_filing_for_one_stage() -> None:
    saga, out = _submitted(Pace.DEMO)
    assert out == []
    assert saga.pending == ()
    assert saga.paced is not None and saga.paced.release_at == T0 + 3
    assert pace.held_types(saga) == ["customs.declaration.file"]
    # The watcher finds it by the record's deadline: the release time, not a retry deadline.
    assert sagas.next_deadline(saga) == T0 + 3
    assert not pace.due(saga, T0 + 2.9)
    assert pace.due(saga, T0 + 3)


def test_release_sends_the_same_command_with_a_fresh_deadline() -> None:
    saga, _ = _submitted(Pace.DEMO)
    held_id = saga.paced.held[0].command_id if saga.paced else ""
    released = pace.release(saga, now=T0 + 3, step_deadline_s=10)
    assert [s.command_id for s in released.send] == [held_id]
    assert released.saga.pending[0].deadline == T0 + 13
    assert released.saga.pending[0].attempts == 1
    assert released.saga.paced is not None and released.saga.paced.held == ()
    assert sagas.next_deadline(released.saga) == T0 + 13
    with pytest.raises(pace.NothingHeld):
        pace.release(released.saga, now=T0 + 4, step_deadline_s=10)


def test_step_declaration_waits_for_the_trainer() -> None:
    saga, out = _submitted(Pace.STEP)
    assert out == []
    assert saga.paced is not None and saga.paced.release_at is None
    assert sagas.next_deadline(saga) is None  # nothing for the watcher to do
    assert not pace.due(saga, T0 + 3600)
    assert len(pace.release(saga, now=T0 + 60, step_deadline_s=10).send) == 1


def test_both_parallel_commands_are_held_and_released_together() -> None:
    saga, _ = _submitted(Pace.STEP)
    saga = pace.release(saga, now=T0, step_deadline_s=10).saga
    moved = saga.model_copy(update={"state": "release_pending", "entry_id": "531620260000000001"})
    step = sagas.build_command(sagas.CLOSE, moved), sagas.build_command(sagas.SETTLE, moved)
    after, sent = send(moved, step, cause=None, config=CONFIG, now=T0 + 5)
    after, out = pace.hold(after, sent, now=T0 + 5, demo_stage_s=3)
    assert out == []
    assert sorted(pace.held_types(after)) == ["customs.declaration.close", "forex.receipt.settle"]
    # The filing sent earlier stays pending: only the new commands are held.
    assert [p.type for p in after.pending] == ["customs.declaration.file"]
    assert len(pace.release(after, now=T0 + 6, step_deadline_s=10).send) == 2


def _item(key: str, at: float, state: str, previous: str | None, **extra: object) -> dict:
    return {
        "id": key,
        "at": at,
        "status": "in_progress",
        "state": state,
        "previous_state": previous,
        "trigger": extra.pop("trigger", "x"),
        **extra,
    }


def test_class_view_counts_statuses_channels_refunds_and_median_stage_time() -> None:
    run = RunStats(started_at=T0)
    run.observe(_item("a", T0 + 1, "customs_review", None, status="submitted"))
    run.observe(_item("b", T0 + 1, "customs_review", None, status="submitted"))
    # a: 2 s in customs review; b: 4 s → median 3 s.
    run.observe(
        _item(
            "a",
            T0 + 3,
            "release_pending",
            "customs_review",
            trigger="customs.declaration.accepted",
            channel="green",
        )
    )
    run.observe(
        _item(
            "b",
            T0 + 5,
            "inspection",
            "customs_review",
            trigger="customs.declaration.accepted",
            channel="red",
        )
    )
    run.observe(
        _item(
            "a",
            T0 + 9,
            "completed",
            "refunding",
            status="completed",
            trigger="tax.refund.paid",
            figures={"refund": "11076.00"},
        )
    )
    run.observe(_item("z", T0 - 5, "customs_review", None))  # before the run: ignored
    snap = run.snapshot()
    assert snap["by_status"] == {"completed": 1, "in_progress": 1}
    assert snap["channels"] == {"green": 1, "red": 1}
    assert snap["refunds_paid"] == 1 and snap["refund_total"] == "11076.00"
    assert snap["median_stage_s"]["customs_review"] == 3.0
    assert snap["median_stage_s"]["release_pending"] == 6.0


def _held_record(saga: Saga) -> Held:
    return put_saga(saga, None).held()


def test_the_deadline_watcher_releases_a_demo_stage_when_its_time_is_up() -> None:
    saga, _ = _submitted(Pace.DEMO)
    record = _held_record(saga)
    assert record.deadline == T0 + 3  # the watcher's query finds it by this column
    early = Changes()
    expire_due(early, [record], config=CONFIG, now=T0 + 1, filed=_filed)
    assert early.outbox == []
    due = Changes()
    expire_due(due, [record], config=CONFIG, now=T0 + 3.2, filed=_filed)
    assert [r.topic for r in due.outbox] == ["sw.customs.commands"]
    after = Saga.model_validate_json(due.puts[saga.declaration_id].data)
    assert [p.type for p in after.pending] == ["customs.declaration.file"]
    assert after.pending[0].deadline == T0 + 3.2 + 10
    assert after.paced is not None and after.paced.held == ()


def test_an_agency_answer_to_a_paced_declaration_holds_the_next_command() -> None:
    saga, _ = _submitted(Pace.STEP)
    released = pace.release(saga, now=T0, step_deadline_s=10)
    filed = filings.command_of(released.saga.pending[0], DECLARATION, ())
    accepted = reply(
        filed,
        green_acceptance(),
        source="customs",
    )
    ctx = Context("gateway", 1, datetime.now(UTC), CONFIG)
    outcome = on_event(accepted, _held_record(released.saga), ctx)
    # Only the public status goes out; the release command waits for the trainer.
    assert [e.type for e in outcome.emit] == ["declaration.status.changed"]
    assert outcome.put is not None
    after = Saga.model_validate_json(outcome.put.data)
    assert after.state == "release_pending"
    assert pace.held_types(after) == ["customs.goods.release"]
    assert after.pending == ()
