"""What the sandbox offers (`/v1/scenarios`) and the AsyncAPI document of every topic."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter

from schemas.api import HelperOutcomeView, ScenarioList, ScenarioView
from schemas.asyncapi import asyncapi_document
from schemas.scenarios import CATALOGUE, HELPER_OUTCOMES

router = APIRouter()


@router.get("/v1/scenarios", response_model=ScenarioList, tags=["sandbox"])
async def list_scenarios() -> ScenarioList:
    """The sandbox's forced outcomes: what each `scenario` value makes the agencies do."""
    return ScenarioList(
        data=[ScenarioView(**info.as_dict()) for info in CATALOGUE],
        test_helpers=[
            HelperOutcomeView(name=h.name, agency=h.agency, commands=list(h.commands), what=h.what)
            for h in HELPER_OUTCOMES
        ],
    )


@router.get("/asyncapi.json", tags=["contracts"])
async def get_asyncapi_document() -> dict[str, Any]:
    """The AsyncAPI 3 document of every topic and message."""
    return asyncapi_document()
