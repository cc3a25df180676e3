"""The unit of work on a saga: what a save writes, and the status change only when asked."""

from __future__ import annotations

from gateway import saga as sagas
from gateway.core.config import GatewayConfig
from gateway.saga import Saga
from gateway.saga.handlers import put_saga, send
from gateway.saga.unit import SagaUnit
from schemas.messages import StatusChanged
from schemas.samples import sample_declaration
from schemas.topics import STATUS
from schemas.trade import DeclarationData
from services.common.changes import Changes

CONFIG = GatewayConfig(step_deadline_s=10, step_max_attempts=3)
DECLARATION = DeclarationData.model_validate(sample_declaration("export", "0110", "happy"))
T0 = 1_000_000.0


def _filed(declaration_id: str) -> DeclarationData:
    assert declaration_id == "decl-1"
    return DECLARATION


def _unit(changes: Changes) -> SagaUnit:
    begun = sagas.start("decl-1", "ent_demo", DECLARATION)
    saga, _ = send(begun.saga, begun.commands, cause=None, config=CONFIG, now=T0)
    return SagaUnit.of(changes, put_saga(saga, None).held(), _filed)


def test_a_save_resends_a_pending_filing_rebuilt_from_the_journal_with_its_id() -> None:
    changes = Changes()
    one = _unit(changes)
    step = one.saga.pending[0]
    sent = one.save(one.saga, resend=[step], at=T0 + 10)
    assert [(e.id, e.type) for e in sent] == [(step.command_id, "customs.declaration.file")]
    assert sent[0].payload.declaration.reference == DECLARATION.reference  # type: ignore[union-attr]
    assert [r.topic for r in changes.outbox] == ["sw.customs.commands"]  # no status change
    assert changes.puts["decl-1"].expected_version == one.held.version  # version-checked


def test_a_save_with_status_emits_the_public_change_from_the_state_loaded() -> None:
    changes = Changes()
    one = _unit(changes)
    after = sagas.cancel(one.saga, reason="trainer stopped it")
    assert one.save(after, status=True) == []
    status = changes.emitted[-1]
    assert [r.topic for r in changes.outbox] == [STATUS]
    assert isinstance(status.payload, StatusChanged)
    assert (status.payload.previous_state, status.payload.state) == ("customs_review", "cancelled")
    assert Saga.model_validate_json(changes.puts["decl-1"].data).state == "cancelled"
