"""The sandbox's forced outcomes: what each `scenario` produces, in one place.

The API (`GET /v1/scenarios`), the CLI (`singlewindow scenarios`), docs/sandbox.md and the
end-to-end tests all read this catalogue, so what it promises is what the services do.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any, Final

from schemas.trade import Scenario


@dataclass(frozen=True, slots=True)
class ScenarioInfo:
    """One forced outcome: who forces it, what the declaration ends as, the codes it shows."""

    scenario: Scenario
    agency: str
    outcome: str
    outcome_zh: str
    final_status: str
    codes: tuple[str, ...]
    example: tuple[str, str]  # direction, trade mode of a declaration that shows it well

    def as_dict(self) -> dict[str, Any]:
        """JSON-ready form."""
        data = asdict(self)
        data["scenario"] = self.scenario.value
        data["codes"] = list(self.codes)
        data["example"] = {"direction": self.example[0], "trade_mode": self.example[1]}
        return data


CATALOGUE: Final[tuple[ScenarioInfo, ...]] = (
    ScenarioInfo(
        Scenario.HAPPY,
        "all",
        "Green channel, no random inspection, the buyer pays in full on day 30, the refund "
        "is paid: every agency takes its happy path.",
        "绿色通道、不抽检、买方第30天全额付款、退税到账：各部门均走正常流程。",
        "completed",
        ("customs 2 → 120 → 800 → 899", "tax.refund.paid"),
        ("export", "0110"),
    ),
    ScenarioInfo(
        Scenario.CUSTOMS_REJECT,
        "customs",
        "Customs rejects the declaration (退单) with reason C199; nothing else happens.",
        "海关退单（C199），后续环节不再进行。",
        "rejected",
        ("C199", "customs status 100"),
        ("export", "0110"),
    ),
    ScenarioInfo(
        Scenario.RED_CHANNEL,
        "customs",
        "Risk targeting picks the red channel (status 500): the goods are physically "
        "inspected, pass, and are released.",
        "风险布控命中红色通道（500）：货物查验合格后放行。",
        "completed",
        ("channel red", "customs status 500", "inspection.goods.passed"),
        ("export", "0110"),
    ),
    ScenarioInfo(
        Scenario.INSPECTION_FAIL,
        "inspection",
        "Red channel, and the inspection fails with the first reason of the goods' kind "
        "(I301 labelling for general goods); customs detains the goods (501).",
        "红色通道查验不合格（普通货物为I301标签不合格），海关扣留（501）。",
        "failed",
        ("I301", "customs status 501", "customs.goods.detained"),
        ("export", "9610"),
    ),
    ScenarioInfo(
        Scenario.REFUND_DENIED,
        "tax",
        "Customs, inspection and forex pass; the tax bureau denies the export VAT refund "
        "(T201, no matching purchase invoice). The declaration still completes, refund 0.",
        "通关、收汇均正常；税务局不予退税（T201，无对应增值税专用发票），申报完成，退税为0。",
        "completed",
        ("T201", "tax.refund.denied"),
        ("export", "9710"),
    ),
)

BY_NAME: Final[dict[Scenario, ScenarioInfo]] = {info.scenario: info for info in CATALOGUE}

# Tariff lines worth knowing in the sandbox (all in services/customs/data/tariff.csv).
TEST_HS_CODES: Final[tuple[tuple[str, str], ...]] = (
    ("8517130000", "smartphones: no supervision condition, cleared unless sampled"),
    ("3303000000", "perfumes: conditions AB, categories MN, statutory inspection both ways"),
    ("6109100021", "cotton T-shirts: condition B, category N, statutory export inspection"),
    ("2208902000", "Chinese baijiu: 0% export refund rate, the refund is denied (T202)"),
    ("9301100000", "artillery weapons: licence required, customs rejects (C101)"),
)
