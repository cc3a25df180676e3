"""The sandbox's forced outcomes: what each `scenario` and magic `reference` produces, in one place.

The API (`GET /v1/scenarios`), the CLI (`singlewindow scenarios`), docs/sandbox.md and the
end-to-end tests all read this catalogue, so what it promises is what the services do.

A magic reference works like a card test number: `SW-<OUTCOME>-<your text>` forces the same
outcome as the matching `scenario`, and some outcomes take a figure (`SW-SHORTPAY65-…`,
`SW-DELAY-5S-…`). The gateway resolves it once (`forced_outcome`) and tells each agency, in
its command's `scenario`, what to do (`scenario_for`); the agency decides in its own rules.
"""

from __future__ import annotations

import re
from dataclasses import asdict, dataclass
from decimal import Decimal
from typing import Any, Final

from schemas.trade import Scenario

AGENCIES: Final = ("customs", "inspection", "forex", "tax")
MAGIC_PREFIX: Final = "SW-"
DEFAULT_SHARE: Final = Decimal("0.80")
DEFAULT_DELAY_S: Final = 30
MAX_DELAY_S: Final = 86_400


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
    magic: str  # the reference prefix that forces it, e.g. SW-RED-
    acts_on: tuple[str, ...]  # agencies told this scenario; the others take their happy path

    def as_dict(self) -> dict[str, Any]:
        """JSON-ready form."""
        data = asdict(self)
        data["scenario"] = self.scenario.value
        data["codes"] = list(self.codes)
        data["example"] = {"direction": self.example[0], "trade_mode": self.example[1]}
        data["reference"] = f"{self.magic}<your text>"
        data["acts_on"] = list(self.acts_on)
        del data["magic"]
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
        "SW-GREEN-",
        AGENCIES,
    ),
    ScenarioInfo(
        Scenario.CUSTOMS_REJECT,
        "customs",
        "Customs rejects the declaration (退单) with reason C199; nothing else happens.",
        "海关退单（C199），后续环节不再进行。",
        "rejected",
        ("C199", "customs status 100"),
        ("export", "0110"),
        "SW-REJECT-",
        ("customs",),
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
        "SW-RED-",
        ("customs", "inspection"),
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
        "SW-INSPFAIL-",
        ("customs", "inspection"),
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
        "SW-REFUNDDENY-",
        ("tax",),
    ),
    ScenarioInfo(
        Scenario.YELLOW_CHANNEL,
        "customs",
        "Risk targeting picks the yellow channel: customs reviews the documents by hand "
        "(人工审核, status 300) before the audit concludes (399); no physical inspection unless "
        "the goods are statutory, then release and the happy path.",
        "风险布控命中黄色通道：人工审核单证（300）后审结（399），不查验货物，随后放行。",
        "completed",
        ("channel yellow", "customs status 300", "customs.declaration.accepted"),
        ("export", "0110"),
        "SW-YELLOW-",
        ("customs",),
    ),
    ScenarioInfo(
        Scenario.SHORT_PAYMENT,
        "forex",
        "The buyer pays only part of the declared value (80%, or NN% with SW-SHORTPAYNN-) on "
        "day 30: forex settles what arrived and reports the rest outstanding with F201; the "
        "declaration still completes.",
        "买方只支付部分货款（默认80%）：外汇局结汇已收部分，其余记为未收（F201），申报仍完成。",
        "completed",
        ("F201", "forex.receipt.settled", "match partial"),
        ("export", "0110"),
        "SW-SHORTPAY80-",
        ("forex",),
    ),
    ScenarioInfo(
        Scenario.STALL_CUSTOMS,
        "customs",
        "Customs never answers the filing: the gateway re-sends it at each deadline with "
        "backoff and, after the last try, the declaration is `stalled`. Advance the sandbox "
        "clock to get there at once; push it on with a test helper (customs_accepts_green).",
        "海关对申报不作回应：网关按截止时间退避重发，重试用尽后申报状态为stalled。",
        "stalled",
        ("customs.declaration.file", "no answer from customs"),
        ("export", "0110"),
        "SW-STALL-CUSTOMS-",
        ("customs",),
    ),
    ScenarioInfo(
        Scenario.STALL_INSPECTION,
        "inspection",
        "Red channel, and inspection never answers: the declaration stalls at inspection "
        "until a test helper pushes it (inspection_passes or inspection_fails).",
        "红色通道，商检不作回应：申报停在查验环节，直至测试辅助接口推进。",
        "stalled",
        ("inspection.goods.inspect", "no answer from inspection"),
        ("export", "0110"),
        "SW-STALL-INSPECTION-",
        ("customs", "inspection"),
    ),
    ScenarioInfo(
        Scenario.STALL_FOREX,
        "forex",
        "The goods are released and the declaration closes, but forex never answers the "
        "settlement: it stalls until a test helper pushes it (buyer_pays).",
        "货物放行、结关，但外汇局不回应结汇：申报停滞，直至测试辅助接口推进。",
        "stalled",
        ("forex.receipt.settle", "no answer from forex"),
        ("export", "0110"),
        "SW-STALL-FOREX-",
        ("forex",),
    ),
    ScenarioInfo(
        Scenario.STALL_TAX,
        "tax",
        "Everything passes up to the refund, which the tax bureau never answers: the "
        "declaration stalls until a test helper pushes it (refund_paid or refund_denied).",
        "退税申请无回应：申报停滞，直至测试辅助接口推进（退税到账或不予退税）。",
        "stalled",
        ("tax.refund.apply", "no answer from tax"),
        ("export", "0110"),
        "SW-STALL-TAX-",
        ("tax",),
    ),
    ScenarioInfo(
        Scenario.DELAYED,
        "all",
        "The happy path, but every command waits 30 s (N s with SW-DELAY-NS-) of sandbox "
        "time before it goes out, so pollers see the declaration in progress; advance the "
        "sandbox clock to skip the waits.",
        "正常流程，但每个指令在沙箱时间中等待30秒（或N秒）后才发出；推进沙箱时钟可跳过等待。",
        "completed",
        ("held 30 s a stage", "tax.refund.paid"),
        ("export", "0110"),
        "SW-DELAY-30S-",
        (),
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


# --- magic references ---------------------------------------------------------------------


class MagicReferenceError(ValueError):
    """A reference that starts with `SW-` but is not a magic value the sandbox knows."""


@dataclass(frozen=True, slots=True)
class Forced:
    """An outcome forced for one declaration, with its figures."""

    scenario: Scenario
    share: Decimal | None = None  # short_payment: the share of the declared value paid
    delay_s: int | None = None  # delayed: seconds each command waits before it goes out


_FIXED: Final[dict[str, Scenario]] = {
    info.magic.removeprefix(MAGIC_PREFIX).rstrip("-"): info.scenario
    for info in CATALOGUE
    if info.scenario not in (Scenario.SHORT_PAYMENT, Scenario.DELAYED)
}
_SHORTPAY: Final = re.compile(r"SHORTPAY(\d+)")
_DELAY: Final = re.compile(r"DELAY-(\d+)S")
GRAMMAR: Final = (
    "SW-<OUTCOME>-<your text>, OUTCOME one of "
    + ", ".join(sorted(_FIXED))
    + f", SHORTPAY<1-99>, DELAY-<1-{MAX_DELAY_S}>S (docs/sandbox.md)"
)


def parse_reference(reference: str) -> Forced | None:
    """The outcome a magic reference forces; None for an ordinary one; else MagicReferenceError.

    `SW-RED-PO-1234` → red_channel; `SW-SHORTPAY65-x` → short_payment at 0.65;
    `SW-DELAY-5S-x` → delayed 5 s; `SW-BLUE-x` → error naming the grammar.
    """
    if not reference.startswith(MAGIC_PREFIX):
        return None
    body = reference.removeprefix(MAGIC_PREFIX)
    for directive, scenario in sorted(_FIXED.items(), key=lambda kv: -len(kv[0])):
        if body == directive or body.startswith(directive + "-"):
            _own_text(reference, body, directive)
            return Forced(scenario)
    if found := _SHORTPAY.match(body):
        percent = int(found.group(1))
        if not 1 <= percent <= 99:
            raise MagicReferenceError(
                f"{reference!r}: SHORTPAY takes the percent the buyer pays, 1 to 99"
            )
        _own_text(reference, body, found.group(0))
        return Forced(Scenario.SHORT_PAYMENT, share=Decimal(percent) / 100)
    if found := _DELAY.match(body):
        seconds = int(found.group(1))
        if not 1 <= seconds <= MAX_DELAY_S:
            raise MagicReferenceError(
                f"{reference!r}: DELAY takes 1 to {MAX_DELAY_S} seconds, e.g. DELAY-30S"
            )
        _own_text(reference, body, found.group(0))
        return Forced(Scenario.DELAYED, delay_s=seconds)
    raise MagicReferenceError(
        f"{reference!r}: the SW- prefix is reserved for sandbox magic values and this is "
        f"not one; write {GRAMMAR}"
    )


def _own_text(reference: str, body: str, directive: str) -> None:
    if len(body) <= len(directive) + 1 or body[len(directive)] != "-":
        raise MagicReferenceError(
            f"{reference!r}: a magic value needs your own text after the outcome, e.g. "
            f"SW-{directive}-PO1234 (references are unique per enterprise)"
        )


def default_forced(scenario: Scenario) -> Forced:
    """An explicit `scenario` with its default figures."""
    if scenario is Scenario.SHORT_PAYMENT:
        return Forced(scenario, share=DEFAULT_SHARE)
    if scenario is Scenario.DELAYED:
        return Forced(scenario, delay_s=DEFAULT_DELAY_S)
    return Forced(scenario)


def forced_outcome(scenario: Scenario | None, reference: str | None) -> Forced | None:
    """What a declaration forces: its magic reference, else its scenario, else nothing.

    Both given, they must name the same outcome (MagicReferenceError otherwise).
    """
    magic = parse_reference(reference) if reference else None
    if magic is not None and scenario is not None and magic.scenario is not scenario:
        raise MagicReferenceError(
            f"reference {reference!r} forces {magic.scenario.value} but scenario is "
            f"{scenario.value}; send one of them, or both naming the same outcome"
        )
    if magic is not None:
        return magic
    return default_forced(scenario) if scenario is not None else None


def scenario_for(forced: Forced | None, agency: str) -> Scenario | None:
    """The scenario an agency is told: the forced one if it acts on it, else happy.

    Nothing forced: None, and the seeded simulation decides.
    """
    if forced is None:
        return None
    return forced.scenario if agency in BY_NAME[forced.scenario].acts_on else Scenario.HAPPY


STALLS: Final[dict[Scenario, str]] = {
    Scenario.STALL_CUSTOMS: "customs",
    Scenario.STALL_INSPECTION: "inspection",
    Scenario.STALL_FOREX: "forex",
    Scenario.STALL_TAX: "tax",
}


def withholds(scenario: Scenario | None, agency: str) -> bool:
    """Whether the agency deliberately leaves the command unanswered (a stall scenario)."""
    return scenario is not None and STALLS.get(scenario) == agency


# --- test helpers: push a pending step to an outcome now --------------------------------------


@dataclass(frozen=True, slots=True)
class HelperOutcome:
    """One outcome a test helper can force on a pending step."""

    name: str
    agency: str
    commands: tuple[str, ...]  # the command types whose pending step it answers
    scenario: Scenario  # what the re-sent command tells the agency
    what: str


HELPER_OUTCOMES: Final[tuple[HelperOutcome, ...]] = (
    HelperOutcome(
        "customs_accepts_green",
        "customs",
        ("customs.declaration.file",),
        Scenario.HAPPY,
        "customs accepts in the green channel (120 → 399)",
    ),
    HelperOutcome(
        "customs_accepts_yellow",
        "customs",
        ("customs.declaration.file",),
        Scenario.YELLOW_CHANNEL,
        "customs accepts after document review (300)",
    ),
    HelperOutcome(
        "customs_accepts_red",
        "customs",
        ("customs.declaration.file",),
        Scenario.RED_CHANNEL,
        "customs accepts in the red channel: physical inspection (500)",
    ),
    HelperOutcome(
        "customs_rejects",
        "customs",
        ("customs.declaration.file",),
        Scenario.CUSTOMS_REJECT,
        "customs rejects the declaration (C199, status 100)",
    ),
    HelperOutcome(
        "inspection_passes",
        "inspection",
        ("inspection.goods.inspect",),
        Scenario.HAPPY,
        "the inspection passes and a certificate is issued",
    ),
    HelperOutcome(
        "inspection_fails",
        "inspection",
        ("inspection.goods.inspect",),
        Scenario.INSPECTION_FAIL,
        "the inspection fails (I301 for general goods); customs detains the goods",
    ),
    HelperOutcome(
        "buyer_pays",
        "forex",
        ("forex.receipt.settle", "forex.payment.register"),
        Scenario.SHORT_PAYMENT,
        "the buyer pays `share` of the declared value (default 1.00): below it, F201",
    ),
    HelperOutcome(
        "refund_paid",
        "tax",
        ("tax.refund.apply",),
        Scenario.HAPPY,
        "the tax bureau pays the export refund by its rules",
    ),
    HelperOutcome(
        "refund_denied",
        "tax",
        ("tax.refund.apply",),
        Scenario.REFUND_DENIED,
        "the tax bureau denies the export refund (T201)",
    ),
    HelperOutcome(
        "taxes_collected",
        "tax",
        ("tax.import.assess",),
        Scenario.HAPPY,
        "import duty, consumption tax and VAT are assessed and collected",
    ),
)

HELPERS_BY_NAME: Final[dict[str, HelperOutcome]] = {h.name: h for h in HELPER_OUTCOMES}
