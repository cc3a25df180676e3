"""The gateway's handling of an agency event: the record parsed once while its bytes stay
the same, each command serialized once, each step that moved counted once."""

from __future__ import annotations

from gateway import saga as sagas
from gateway.core.config import GatewayConfig
from gateway.saga import Saga
from gateway.saga.handlers import HANDLERS, ParsedSagas, on_event, put_saga, send
from gateway.saga.observe import SagaMetrics
from schemas.envelope import new_envelope
from schemas.messages import DeclarationAccepted
from services.common.changes import Changes, Held
from services.common.handling import Context
from services.common.runtime import Runtime
from services.common.settings import Settings
from tests.unit.builders import declaration, green_acceptance, item

CONFIG = GatewayConfig(step_deadline_s=30.0, step_max_attempts=3)


def _saga(declaration_id: str = "d-1") -> Saga:
    begun = sagas.start(declaration_id, "ent_a", declaration(item()))
    saga, _ = send(begun.saga, begun.commands, cause=None, config=CONFIG, now=0.0)
    return saga


def _held(key: str, data: bytes, version: int = 1) -> Held:
    return Held(key, "ent_a", "submitted", None, version, data, 0.0)


def test_a_record_whose_bytes_are_remembered_is_not_parsed_again() -> None:
    parsed = ParsedSagas(limit=10)
    saga = _saga()
    data = saga.model_dump_json().encode()
    parsed.remember("d-1", data, saga)
    assert parsed.of(_held("d-1", bytes(data))) is saga  # equal bytes, another object


def test_a_changed_record_is_parsed_again() -> None:
    parsed = ParsedSagas(limit=10)
    saga = _saga()
    parsed.remember("d-1", saga.model_dump_json().encode(), saga)
    # Another replica (or an operator) moved it on: same key, other bytes.
    moved = saga.model_copy(update={"reason": "moved elsewhere", "events_seen": 1})
    found = parsed.of(_held("d-1", moved.model_dump_json().encode(), version=2))
    assert found is not saga
    assert found == moved
    assert parsed.of(_held("d-1", moved.model_dump_json().encode(), version=2)) is found


def test_a_record_read_first_is_parsed_and_then_remembered() -> None:
    parsed = ParsedSagas(limit=10)
    data = _saga().model_dump_json().encode()
    first = parsed.of(_held("d-1", data))
    assert first == Saga.model_validate_json(data)
    assert parsed.of(_held("d-1", data)) is first


def test_the_least_recently_used_saga_is_forgotten_beyond_the_limit() -> None:
    parsed = ParsedSagas(limit=2)
    records = {k: _saga(k) for k in ("a", "b", "c")}
    data = {k: s.model_dump_json().encode() for k, s in records.items()}
    parsed.remember("a", data["a"], records["a"])
    parsed.remember("b", data["b"], records["b"])
    assert parsed.of(_held("a", data["a"])) is records["a"]  # "a" used: "b" is the oldest
    parsed.remember("c", data["c"], records["c"])
    assert len(parsed) == 2
    assert parsed.of(_held("a", data["a"])) is records["a"]
    assert parsed.of(_held("c", data["c"])) is records["c"]
    again = parsed.of(_held("b", data["b"]))
    assert again is not records["b"] and again == records["b"]  # parsed again
    assert len(parsed) == 2


def test_a_saga_that_has_ended_is_forgotten() -> None:
    parsed = ParsedSagas(limit=10)
    saga = _saga()
    parsed.remember("d-1", saga.model_dump_json().encode(), saga)
    ended = saga.model_copy(update={"state": "completed"})
    parsed.remember("d-1", ended.model_dump_json().encode(), ended)
    assert len(parsed) == 0


def test_the_counted_handler_counts_each_step_that_moved_once() -> None:
    runtime = Runtime(service="gateway", settings=Settings(), handlers=HANDLERS, topics=[])
    counted = SagaMetrics(runtime).counted({DeclarationAccepted.TYPE: on_event})
    saga = _saga("d-counted")
    held = put_saga(saga, None).held()
    envelope = new_envelope(
        green_acceptance(),
        declaration_id="d-counted",
        source="customs",
        causation_id=saga.pending[0].command_id,  # the filing
    )
    ctx = Context("gateway", 1, envelope.occurred_at, CONFIG)
    outcome = counted[DeclarationAccepted.TYPE](envelope, held, ctx)
    assert outcome.put is not None
    after = Saga.model_validate_json(outcome.put.data)
    assert after.steps == {
        "customs": "pending",  # accepted, then pending again: the release is sent
        "inspection": "not_required",
        "forex": "waiting",
        "tax": "waiting",
    }
    registry = runtime.metrics.registry

    def moves(step: str, state: str) -> float | None:
        return registry.get_sample_value("sw_saga_steps_total", {"step": step, "state": state})

    assert moves("inspection", "not_required") == 1
    assert moves("customs", "pending") is None  # it was pending before the event too
    assert moves("forex", "waiting") is None


def test_each_command_is_written_to_the_outbox_as_its_pending_step_holds_it() -> None:
    saga = _saga("d-sent")
    envelope = new_envelope(
        green_acceptance(),
        declaration_id="d-sent",
        source="customs",
        causation_id=saga.pending[0].command_id,
    )
    ctx = Context("gateway", 1, envelope.occurred_at, CONFIG)
    outcome = on_event(envelope, put_saga(saga, None).held(), ctx)
    commands = [e for e in outcome.emit if e.type == "customs.goods.release"]
    assert len(commands) == 1
    assert outcome.encoded == {commands[0].id: commands[0].to_bytes()}
    after = Saga.model_validate_json(outcome.put.data) if outcome.put else None
    assert after is not None
    [step] = [p for p in after.pending if p.command_id == commands[0].id]
    assert step.envelope.encode() == outcome.encoded[commands[0].id]
    changes = Changes()
    assert changes.emit(commands[0], value=outcome.encoded[commands[0].id]) == Changes().emit(
        commands[0]
    )
