"""Tax (税务): export VAT refunds and import duty, consumption tax and VAT."""

from __future__ import annotations

from pathlib import Path

from fastapi import FastAPI
from sqlalchemy.ext.asyncio import AsyncEngine

from services.common.agency import create_agency_app, load_json
from services.common.settings import Settings
from services.tax.handlers import HANDLERS
from services.tax.rules import TaxReference

DATA = Path(__file__).parent / "data"


def create_app(settings: Settings, *, engine: AsyncEngine | None = None) -> FastAPI:
    """The tax process."""
    reference = TaxReference.from_json(load_json(DATA / "reference.json"))
    return create_agency_app(
        "tax",
        settings=settings,
        handlers=HANDLERS,
        reference=reference,
        engine=engine,
        description=__doc__ or "",
    )
