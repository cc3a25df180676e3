"""Customs (海关): declaration review, risk channel, release, detention and closure."""

from __future__ import annotations

import csv
from pathlib import Path

from fastapi import FastAPI
from sqlalchemy.ext.asyncio import AsyncEngine

from services.common.agency import create_agency_app, load_json
from services.common.settings import Settings
from services.customs.handlers import HANDLERS
from services.customs.rules import CustomsReference

DATA = Path(__file__).parent / "data"


def load_reference(data: Path = DATA) -> CustomsReference:
    """The shipped parameters and tariff subset, loaded once."""
    with (data / "tariff.csv").open(encoding="utf-8", newline="") as fh:
        rows = list(csv.DictReader(fh))
    return CustomsReference.from_json(load_json(data / "reference.json"), rows)


def create_app(settings: Settings, *, engine: AsyncEngine | None = None) -> FastAPI:
    """The customs process."""
    return create_agency_app(
        "customs",
        settings=settings,
        handlers=HANDLERS,
        reference=load_reference(),
        engine=engine,
        description=__doc__ or "",
    )
