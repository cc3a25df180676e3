"""The bundled sample messages (gateway/ceb/samples/): a whole 9610 import and a whole 9610
export, in the order they are sent, and a way to make a set fresh so it can be sent again."""

from __future__ import annotations

import re
import uuid
from pathlib import Path
from typing import Final

SAMPLES: Final = Path(__file__).with_name("samples")
SETS: Final = ("import", "export")
_GUID = re.compile(rb"[0-9A-F]{8}-[0-9A-F]{4}-[0-9A-F]{4}-[0-9A-F]{4}-[0-9A-F]{12}")
_NUMBERS = re.compile(
    rb"(<ceb:(?:orderNo|logisticsNo|payTransactionId|payNo|copNo)>)([^<]{6,})(</ceb:)"
)


def paths(which: str) -> list[Path]:
    """The files of a sample set, in sending order."""
    return sorted(SAMPLES.glob(f"{which}-*.xml"))


def fresh(messages: list[bytes], tag: str | None = None) -> list[bytes]:
    """The messages with new guids and business numbers (the last 5 characters of orderNo,
    logisticsNo, payTransactionId, payNo and copNo replaced by `tag`, 8 characters): the same
    set again as new documents. One mapping for the whole set, so they still refer to each
    other."""
    tag = tag or uuid.uuid4().hex[:8].upper()
    guids: dict[bytes, bytes] = {}

    def guid(found: re.Match[bytes]) -> bytes:
        return guids.setdefault(found.group(0), str(uuid.uuid4()).upper().encode())

    def number(found: re.Match[bytes]) -> bytes:
        return found.group(1) + found.group(2)[:-5] + tag.encode() + found.group(3)

    return [_NUMBERS.sub(number, _GUID.sub(guid, m)) for m in messages]


def load(which: str, *, new: bool = True, tag: str | None = None) -> list[tuple[str, bytes]]:
    """A sample set as (file name, bytes), made fresh unless `new` is false."""
    files = paths(which)
    data = [p.read_bytes() for p in files]
    return list(zip((p.name for p in files), fresh(data, tag) if new else data, strict=True))
