"""Customs (海关): declaration review, risk channel, release, detention and closure."""

from __future__ import annotations

from pathlib import Path

from fastapi import FastAPI
from sqlalchemy.ext.asyncio import AsyncEngine

from services.common.agency import create_agency_app, load_json
from services.common.settings import Settings
from services.customs.handlers import HANDLERS
from services.customs.rules import CustomsReference

DATA = Path(__file__).parent / "data"


def create_app(settings: Settings, *, engine: AsyncEngine | None = None) -> FastAPI:
    """The customs process."""
    reference = CustomsReference.from_json(load_json(DATA / "reference.json"))
    return create_agency_app(
        "customs",
        settings=settings,
        handlers=HANDLERS,
        reference=reference,
        engine=engine,
        description=__doc__ or "",
    )
