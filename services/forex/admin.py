"""The rate table as an administrator edits it: GET /v1/rates, PUT /v1/admin/rates/{day}."""

# No `from __future__ import annotations`: FastAPI must see the closure dependencies at def time.

from datetime import date
from decimal import Decimal
from typing import Annotated, Any

from fastapi import APIRouter, Depends
from pydantic import Field, field_validator
from sqlalchemy import Connection

from schemas.base import Contract
from schemas.codes import CURRENCIES
from services.common.admin import admin_guard
from services.common.changes import Changes, Put, VersionConflict, load_records
from services.common.problems import Problem
from services.common.runtime import Runtime
from services.forex.reference import ForexReference
from services.forex.store import RATE_OVERRIDES, RateOverrides


class RateUpdate(Contract):
    """Bank rates of one day (CNY per unit) to lay over the shipped table."""

    rates: dict[str, Annotated[Decimal, Field(gt=0, le=1000, max_digits=12, decimal_places=6)]]

    @field_validator("rates")
    @classmethod
    def _known(cls, value: dict[str, Decimal]) -> dict[str, Decimal]:
        unknown = sorted(set(value) - set(CURRENCIES))
        if unknown:
            raise ValueError(
                f"unknown currencies {unknown}: use ISO 4217 codes of {sorted(CURRENCIES)}"
            )
        if not value:
            raise ValueError("give at least one currency")
        return value


def _tables(ref: ForexReference) -> dict[str, dict[str, str]]:
    return {
        d.isoformat(): {c: str(r) for c, r in t.items()} for d, t in sorted(ref.daily_rates.items())
    }


def rates_router(runtime: Runtime, shipped: ForexReference, admin_token: str) -> APIRouter:
    """The effective rate tables, and the administrator's edits (behind the admin token)."""
    router = APIRouter(tags=["rates"])

    admin = admin_guard(admin_token, enabled=runtime.settings.admin_enabled)

    async def overrides() -> RateOverrides:
        async with runtime.engine.connect() as conn:
            held = await conn.run_sync(lambda c: load_records(c, [RATE_OVERRIDES]))
        found = held.get(RATE_OVERRIDES)
        return RateOverrides.model_validate_json(found.data) if found else RateOverrides()

    @router.get("/v1/rates")
    async def get_rates() -> dict[str, Any]:
        """The daily tables forex settles with: shipped, with the administrator's rates over them."""
        edits = await overrides()
        return {
            "tables": _tables(shipped.with_overrides(edits.tables)),
            "edited": _tables(ForexReference(daily_rates=edits.tables)),
        }

    @router.put("/v1/admin/rates/{day}", dependencies=[Depends(admin)])
    async def set_rates(day: date, body: RateUpdate) -> dict[str, Any]:
        """Set one day's rates (merged into that day's table); settlements from then on use them."""

        def unit(conn: Connection) -> RateOverrides:
            held = load_records(conn, [RATE_OVERRIDES]).get(RATE_OVERRIDES)
            edits = RateOverrides.model_validate_json(held.data) if held else RateOverrides()
            tables = {**edits.tables, day: {**edits.tables.get(day, {}), **body.rates}}
            updated = RateOverrides(tables=tables)
            changes = Changes()
            changes.put(Put.of(RATE_OVERRIDES, updated, status="rates", previous=held))
            changes.apply(conn)
            return updated

        try:
            updated = await runtime.db.write(unit)
        except VersionConflict as exc:
            raise Problem(
                409, "conflict", "Changed meanwhile", "the rates moved; try again"
            ) from exc
        return {
            "day": day.isoformat(),
            "table": _tables(shipped.with_overrides(updated.tables))[day.isoformat()],
        }

    return router
