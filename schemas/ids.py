"""Message and declaration identifiers: UUIDv7, monotonic within a process."""

from __future__ import annotations

import os
import random
import threading
import time

_lock = threading.Lock()
_last_ms = 0
_counter = 0
# The random bits need to be unpredictable across processes, not secret: one generator seeded
# from the OS per process (re-seeded in a forked child) costs no system call per id.
_random = random.Random()
os.register_at_fork(after_in_child=_random.seed)


def uuid7() -> str:
    """Return a new UUIDv7 string (RFC 9562) that sorts after every earlier one of this process."""
    global _last_ms, _counter
    with _lock:
        ms = time.time_ns() // 1_000_000
        if ms <= _last_ms:
            # Same (or an earlier) millisecond: keep the time, bump the 12-bit counter so
            # ids stay strictly increasing, which the outbox relies on for ordering.
            ms = _last_ms
            _counter += 1
            if _counter > 0xFFF:
                ms += 1
                _counter = 0
        else:
            _counter = _random.getrandbits(10)
        _last_ms = ms
        counter = _counter
        rand_b = _random.getrandbits(62)
    value = (ms & 0xFFFF_FFFF_FFFF) << 80 | 0x7 << 76 | counter << 64 | 0b10 << 62 | rand_b
    h = f"{value:032x}"
    return f"{h[:8]}-{h[8:12]}-{h[12:16]}-{h[16:20]}-{h[20:]}"
