"""The units every agency decides in: Beijing time and the fen (0.01 CNY)."""

from __future__ import annotations

from datetime import timedelta, timezone
from decimal import ROUND_HALF_UP, Decimal
from typing import Final

BEIJING: Final = timezone(timedelta(hours=8))
FEN: Final = Decimal("0.01")
ZERO: Final = Decimal(0)


def to_fen(amount: Decimal) -> Decimal:
    """Round to the fen, half up, as the agencies round."""
    return amount.quantize(FEN, rounding=ROUND_HALF_UP)
