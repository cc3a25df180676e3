"""Customs (海关): declaration review, risk channel, release, detention and closure."""

from __future__ import annotations

from fastapi import FastAPI
from sqlalchemy.ext.asyncio import AsyncEngine

from services.common.agency import create_agency_app
from services.common.settings import Settings
from services.customs.handlers import HANDLERS
from services.customs.reference import load_reference


def create_app(settings: Settings, *, engine: AsyncEngine | None = None) -> FastAPI:
    """The customs process."""
    reference = load_reference()
    return create_agency_app("customs", settings, HANDLERS, reference, __doc__, engine=engine)
