"""Which partition a message goes to: its declaration's, except a 9610 summary command,
which goes to its enterprise's, so one customs replica owns the month's summary record."""

from __future__ import annotations

from schemas.envelope import new_envelope
from schemas.messages import CloseDeclaration, SummariseExports
from services.common.changes import envelope_row


def test_a_summary_command_is_keyed_by_its_enterprise_not_its_declaration() -> None:
    rows = [
        envelope_row(
            new_envelope(
                SummariseExports(entry_id=f"53162026000000000{n}", ebc_uscc=uscc),
                declaration_id=f"d-{n}",
                source="gateway",
            )
        )
        for n, uscc in enumerate(["91350100M000100Y43", "91350100M000100Y43", "913101157"])
    ]
    assert [r.key for r in rows] == [
        "summary|91350100M000100Y43",
        "summary|91350100M000100Y43",
        "summary|913101157",
    ]


def test_other_messages_are_keyed_by_their_declaration() -> None:
    close = new_envelope(CloseDeclaration(), declaration_id="d-1", source="gateway")
    unnamed = new_envelope(SummariseExports(entry_id="1"), declaration_id="d-2", source="gateway")
    assert [envelope_row(e).key for e in (close, unnamed)] == ["d-1", "d-2"]
