"""Retention: declarations untouched for a period, their timelines and old inbox ids are purged.

What is purged in a service's database, by rounds of at most `ROUND` keys a transaction:
- records keyed by a declaration id (a UUIDv7) made before the horizon and not written since,
  in one of the policy's final statuses (the gateway: a saga that has ended; an agency: any),
  with their journal lines and the service's own rows of them (`Policy.purge_rows`);
- inbox ids of messages made before the deduplication window: a message redelivered later
  than that would be handled again, so the window must outlast every redelivery (see
  docs/operations.md, "What grows").
Records keyed otherwise (serial numbers, buyers' ledgers, monthly summaries, rate overrides)
are a service's standing state and never purged here.

Shared by replicas, not repeated: a replica claims a round by moving the job's `next_at` in the
`maintenance` table with a guarded UPDATE; the one whose UPDATE took does the round, the others
find it taken. A replica that dies mid-round leaves the rest to the next round's claimant.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from sqlalchemy import Connection

from services.common.database import Database
from services.common.every import Every
from services.common.metrics import Metrics
from services.common.rawsql import Driver, marks

log = logging.getLogger(__name__)

ROUND = 1000
JOB = "retention"
# A UUIDv7 string: 36 characters, the version nibble '7' at index 14 (substr counts from 1).
_IS_UUID7 = "length({col}) = 36 AND substr({col}, 15, 1) = '7'"


def uuid7_floor(at: float) -> str:
    """The smallest UUIDv7 string made at `at` (seconds): every id made earlier sorts below it."""
    h = f"{int(at * 1000) & 0xFFFF_FFFF_FFFF:012x}"
    return f"{h[:8]}-{h[8:12]}-7000-8000-000000000000"


def uuid7_time(value: str) -> float | None:
    """When a UUIDv7 string was made (seconds), or None if it is not one."""
    if len(value) != 36 or value[14] != "7":
        return None
    try:
        return int(value[:8] + value[9:13], 16) / 1000
    except ValueError:
        return None


def past_retention(key: str, retention_s: float, *, now: float | None = None) -> bool:
    """Whether a declaration id was made longer ago than the retention period: if it is not
    held any more, it was purged (a 410), not mistyped (a 404)."""
    made = uuid7_time(key)
    return made is not None and made < (time.time() if now is None else now) - retention_s


@dataclass(frozen=True)
class Policy:
    """What a service may purge and for how long it keeps it."""

    retention_s: float
    inbox_window_s: float
    # Record statuses of a declaration that has ended; None: any status (agencies).
    final_statuses: frozenset[str] | None = None
    # Delete a service's own rows of these declarations, in the purge's transaction.
    purge_rows: Callable[[Connection, Sequence[str]], None] | None = None


@dataclass
class Purged:
    """What one round removed."""

    records: int = 0
    journal: int = 0
    inbox: int = 0

    def __bool__(self) -> bool:
        return bool(self.records or self.inbox)


def claim(conn: Connection, *, now: float, every_s: float, holder: str, job: str = JOB) -> bool:
    """Take this period's round of the job if nobody has: True for exactly one claimant."""
    db = Driver(conn)
    db.run(
        "INSERT INTO maintenance (name, next_at, holder) VALUES (?, 0, '') ON CONFLICT DO NOTHING",
        (job,),
    )
    took = db.run(
        "UPDATE maintenance SET next_at = ?, holder = ? WHERE name = ? AND next_at <= ?",
        (now + every_s, holder, job, now),
    )
    return took == 1


def purge_round(conn: Connection, policy: Policy, *, now: float, limit: int = ROUND) -> Purged:
    """Purge at most `limit` declarations and `limit` inbox ids past their time."""
    db = Driver(conn)
    purged = Purged()
    cutoff = now - policy.retention_s
    final = sorted(policy.final_statuses or ())
    where = f"key < ? AND {_IS_UUID7.format(col='key')} AND updated_at < ?"
    if final:
        where += f" AND status IN ({marks(len(final))})"
    sql = f"SELECT key FROM records WHERE {where} ORDER BY key LIMIT {int(limit)}"
    keys = [k for (k,) in db.rows(sql, (uuid7_floor(cutoff), cutoff, *final))]
    if keys:
        # The same guard again: a record written since the SELECT (another replica) stays.
        gone = [
            k
            for (k,) in db.rows(
                f"DELETE FROM records WHERE key IN ({marks(len(keys))}) AND updated_at < ? "
                "RETURNING key",
                (*keys, cutoff),
            )
        ]
        purged.records = len(gone)
        if gone:
            purged.journal = db.run(
                f"DELETE FROM journal WHERE declaration_id IN ({marks(len(gone))})", gone
            )
            if policy.purge_rows is not None:
                policy.purge_rows(conn, gone)
    inbox_floor = uuid7_floor(now - policy.inbox_window_s)
    purged.inbox = db.run(
        "DELETE FROM inbox WHERE message_id IN (SELECT message_id FROM inbox WHERE message_id < ? "
        f"AND {_IS_UUID7.format(col='message_id')} ORDER BY message_id LIMIT {int(limit)})",
        (inbox_floor,),
    )
    return purged


class Retention(Every):
    """The purge job of one process: claims a round every `every_s`, then purges until done."""

    def __init__(
        self, *, db: Database, policy: Policy, metrics: Metrics, every_s: float, holder: str
    ) -> None:
        self.db = db
        self.policy = policy
        self.metrics = metrics
        self.holder = holder
        # A round cut short (stopped, or failed) is finished by the next.
        super().__init__("retention round", every_s, self.run_once, log=log, wait_first=False)

    async def run_once(self) -> Purged:
        """Claim this period's round and purge until nothing is due; nothing if not claimed."""
        total = Purged()
        now = time.time()
        claimed = await self.db.write(
            lambda conn: claim(conn, now=now, every_s=self.every_s, holder=self.holder)
        )
        if not claimed:
            return total
        while True:
            done = await self.db.write(lambda conn: purge_round(conn, self.policy, now=now))
            total.records += done.records
            total.journal += done.journal
            total.inbox += done.inbox
            if not done:
                break
        for what in ("records", "journal", "inbox"):
            self.metrics.purged.labels(what).inc(getattr(total, what))
        if total:
            log.info(
                "retention purged %d records, %d journal lines, %d inbox ids",
                total.records,
                total.journal,
                total.inbox,
            )
        return total
