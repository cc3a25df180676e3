"""Foreign exchange (外汇, SAFE and banks): receipts matched and settled, payments registered."""

from __future__ import annotations

from fastapi import FastAPI
from sqlalchemy.ext.asyncio import AsyncEngine

from services.common.agency import create_agency_app
from services.common.settings import Settings
from services.forex.admin import rates_router
from services.forex.handlers import HANDLERS
from services.forex.reference import load_reference


def create_app(settings: Settings, *, engine: AsyncEngine | None = None) -> FastAPI:
    """The forex process."""
    reference = load_reference()
    app = create_agency_app("forex", settings, HANDLERS, reference, __doc__, engine=engine)
    app.include_router(rates_router(app.state.runtime, reference, settings.admin_token))
    return app
