"""Tax (税务): export VAT refunds and import duty, consumption tax and VAT."""

from __future__ import annotations

from fastapi import FastAPI
from sqlalchemy.ext.asyncio import AsyncEngine

from services.common.agency import create_agency_app
from services.common.settings import Settings
from services.tax.handlers import HANDLERS
from services.tax.reference import load_reference


def create_app(settings: Settings, *, engine: AsyncEngine | None = None) -> FastAPI:
    """The tax process."""
    reference = load_reference()
    return create_agency_app("tax", settings, HANDLERS, reference, __doc__, engine=engine)
