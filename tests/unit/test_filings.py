"""A lean saga record: the filing is kept once (the journal), the saga holds a brief of it."""

from __future__ import annotations

import json

import pytest

from gateway import saga as sagas
from gateway.core.config import GatewayConfig
from gateway.saga import filings
from gateway.saga.forcing import force
from gateway.saga.handlers import put_saga, send
from schemas.samples import sample_declaration
from schemas.scenarios import HELPERS_BY_NAME
from schemas.trade import DeclarationData, Scenario
from tests.unit.builders import declaration, item, line

CONFIG = GatewayConfig(step_deadline_s=10, step_max_attempts=3)
# 50 lines: the largest declaration the API takes, whose filing no saga write repeats.
BIG = declaration(*(item("8517130000", "1", "120.00", description="x" * 200) for _ in range(50)))


def _filed(decl: DeclarationData) -> tuple[sagas.Saga, bytes]:
    begun = sagas.start("d-1", "ent-1", decl)
    saga, [sent] = send(begun.saga, begun.commands, cause=None, config=CONFIG, now=0.0)
    return saga, sent.to_bytes()


def test_the_saga_record_holds_a_brief_not_the_declaration() -> None:
    saga, sent = _filed(BIG)
    record = put_saga(saga, None).data
    assert len(sent) > 10_000  # the filing command carries the whole declaration to customs
    assert len(record) < len(sent) / 5  # the saga keeps a brief (50 HS codes) and a step
    assert b"x" * 200 not in record
    assert saga.brief.hs_codes == ("8517130000",) * 50
    assert saga.brief.total_value == BIG.total_value  # 50 × 120.00 = 6,000.00


def test_a_pending_filing_is_sent_again_identical_from_the_filing() -> None:
    saga, sent = _filed(BIG)
    [step] = saga.pending
    assert json.loads(step.envelope)["payload"]["declaration"] == {}  # nothing forced
    again = filings.command_of(step, BIG, ())
    assert again.id == step.command_id and again.to_bytes() == sent
    with pytest.raises(filings.MissingFiling):
        filings.command_of(step, None, ())


def test_a_forced_filing_keeps_the_scenario_customs_is_told() -> None:
    decl = DeclarationData.model_validate(
        {
            **sample_declaration("export", "0110", "happy"),
            "scenario": None,
            "reference": "SW-STALL-CUSTOMS-1",
        }
    )
    saga, sent = _filed(decl)
    [step] = saga.pending
    assert json.loads(step.envelope)["payload"]["declaration"] == {"scenario": "stall_customs"}
    assert filings.command_of(step, decl, ()).to_bytes() == sent
    # A test helper pushes it: a new command, told happy, kept the same way.
    forced = force(
        saga,
        HELPERS_BY_NAME["customs_accepts_green"],
        share=None,
        now=1.0,
        step_deadline_s=2.0,
        filing=decl,
    )
    [fresh] = forced.saga.pending
    payload = forced.send.payload
    assert payload.declaration.scenario is Scenario.HAPPY  # type: ignore[attr-defined]
    assert filings.command_of(fresh, decl, ()) == forced.send


def test_other_commands_keep_their_bytes() -> None:
    saga = sagas.start("d-1", "ent-1", BIG).saga.model_copy(
        update={"entry_id": "531620260000000001", "state": "release_pending"}
    )
    settle = sagas.build_command(sagas.SETTLE, saga)
    moved, [sent] = send(saga, [settle], cause=None, config=CONFIG, now=0.0)
    [step] = moved.pending
    assert filings.is_whole(step) and step.envelope.encode() == sent.to_bytes()
    assert filings.command_of(step, None, ()) == sent


def test_a_pending_command_keeps_no_second_copy_of_the_saga_lines() -> None:
    """The refund of 50 lines: the saga holds the lines customs valued, the step none."""
    lines = tuple(line(f"85171300{n:02d}", "1704.00", refund_rate="0.13") for n in range(50))
    saga = sagas.start("d-1", "ent-1", BIG).saga.model_copy(
        update={"entry_id": "531620260000000001", "state": "closing", "lines": lines}
    )
    refund = sagas.build_command(sagas.REFUND, saga)
    moved, [sent] = send(saga, [refund], cause=None, config=CONFIG, now=0.0)
    [step] = moved.pending
    assert step.omitted == ("lines",) and "85171300" not in step.envelope
    again = filings.command_of(step, None, moved.lines)
    assert again.to_bytes() == sent.to_bytes()


def test_the_record_leaves_defaults_out_and_reads_back_the_same_saga() -> None:
    saga, _ = _filed(BIG)
    record = put_saga(saga, None).data
    assert b"null" not in record and b'"stalled_reason"' not in record
    assert sagas.Saga.model_validate_json(record) == saga
