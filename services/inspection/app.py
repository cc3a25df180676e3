"""Inspection & quarantine (检验检疫): statutory and risk-selected inspection of goods."""

from __future__ import annotations

from fastapi import FastAPI
from sqlalchemy.ext.asyncio import AsyncEngine

from services.common.agency import create_agency_app
from services.common.settings import Settings
from services.inspection.handlers import HANDLERS
from services.inspection.reference import load_reference


def create_app(settings: Settings, *, engine: AsyncEngine | None = None) -> FastAPI:
    """The inspection process."""
    reference = load_reference()
    return create_agency_app("inspection", settings, HANDLERS, reference, __doc__, engine=engine)
