"""Bytes of the gateway's saga record at each write of a happy export 0110, no I/O.

Walks the saga as the gateway does (start, send, advance on each agency event, put_saga)
with the sample declaration of `--lines` goods lines, and prints the size of every record
write and their sum. Run it against another checkout to compare:

    .venv/bin/python bench/saga_bytes.py --lines 1
    cd OTHER && PYTHONPATH=OTHER /path/.venv/bin/python /path/bench/saga_bytes.py --lines 50
"""

from __future__ import annotations

import argparse
from decimal import Decimal
from typing import Any

from gateway import saga as sagas
from gateway.core.config import GatewayConfig
from gateway.saga.handlers import put_saga, send
from schemas.envelope import Envelope, new_envelope
from schemas.messages import (
    DeclarationAccepted,
    DeclarationClosed,
    Explained,
    GoodsReleased,
    ReceiptSettled,
    RefundPaid,
    ValueLine,
)
from schemas.samples import sample_declaration
from schemas.trade import DeclarationData

ENTRY = "531620260000000001"
CONFIG = GatewayConfig(step_deadline_s=10, step_max_attempts=5)


def _declaration(lines: int) -> DeclarationData:
    raw = sample_declaration("export", "0110", "happy")
    raw["items"] = raw["items"] * lines
    return DeclarationData.model_validate(raw)


def _events(decl: DeclarationData) -> list[Any]:
    line = ValueLine(hs_code="8517130000", value_cny=Decimal("85200.00"), vat_rate=Decimal("0.13"))
    clears = "clears" in DeclarationAccepted.model_fields  # customs clears on its own
    accepted = DeclarationAccepted(
        entry_id=ENTRY,
        channel="green",
        inspection_required=False,
        fx_rate=Decimal("7.1"),
        lines=(line,) * len(decl.items),
        total_value_cny=Decimal("85200.00") * len(decl.items),
        **({"clears": True} if clears else {}),
    )
    released = GoodsReleased(entry_id=ENTRY, **({"closes": True} if clears else {}))
    x = Explained(amount=Decimal("1"), base=Decimal("1"), rate=Decimal("1"), formula="x")
    return [
        accepted,
        released,
        DeclarationClosed(entry_id=ENTRY),
        ReceiptSettled(
            amount=decl.total_value, currency="USD", rate=Decimal("7.1"), amount_cny=Decimal(1)
        ),
        RefundPaid(refund=x, lines=(x,)),
    ]


def record_sizes(lines: int) -> list[int]:
    """The size of each saga record write of one declaration."""
    decl = _declaration(lines)
    begun = sagas.start("01a24a04-9a85-7183-ab46-c62b9aa29d17", "ent_demo", decl)
    saga, sent = send(begun.saga, begun.commands, cause=None, config=CONFIG, now=0.0)
    sizes = [len(put_saga(saga, None).data)]
    last: dict[str, Envelope] = {sent[0].type.split(".")[0]: sent[0]}
    for event in _events(decl):
        agency = event.TYPE.split(".")[0]
        cause = last.get(agency)
        envelope = new_envelope(
            event,
            declaration_id=saga.declaration_id,
            source=agency,
            causation_id=cause.id if cause else None,
        )
        step = sagas.advance(saga, envelope)
        saga, sent = send(step.saga, step.commands, cause=envelope, config=CONFIG, now=0.0)
        last.update({c.type.split(".")[0]: c for c in sent})
        sizes.append(len(put_saga(saga, None).data))
    return sizes


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--lines", type=int, default=1)
    args = parser.parse_args()
    sizes = record_sizes(args.lines)
    print(f"lines={args.lines} writes={len(sizes)} sizes={sizes} saga_bytes={sum(sizes)}")


if __name__ == "__main__":
    main()
