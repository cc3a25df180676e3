"""Customs decisions as pure functions: tariff checks, three-document match, risk channel,
identifiers, CNY valuation, receipts (domain.md §1-§3)."""

from __future__ import annotations

import hashlib
import random
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from decimal import Decimal

from schemas.messages import (
    DeclarationAccepted,
    DeclarationRejected,
    Explained,
    ExportsSummarised,
    FieldError,
    Receipt,
    ValueLine,
)
from schemas.trade import DeclarationData, Direction, Filing, Scenario, TradeMode
from schemas.units import BEIJING, ZERO, to_fen
from services.customs.reference import CustomsReference, TariffLine

CBEC_IMPORT = frozenset({TradeMode.CBEC_RETAIL, TradeMode.CBEC_BONDED})
B2B = frozenset({TradeMode.CBEC_B2B_DIRECT, TradeMode.CBEC_B2B_WAREHOUSE})
# Supervision conditions that need a licence number on the line, by direction (监管条件):
# 1 import licence, 7 automatic import licence, 4 export licence, J gold permit.
LICENCE = {Direction.IMPORT: "17J", Direction.EXPORT: "4J"}
# 9 import prohibited, 8 export prohibited.
PROHIBITED = {Direction.IMPORT: "9", Direction.EXPORT: "8"}
# Statutory inspection: supervision condition and inspection categories that apply, by direction.
CONDITIONS = {Direction.IMPORT: "AD", Direction.EXPORT: "BD"}
CATEGORIES = {Direction.IMPORT: "MPRL", Direction.EXPORT: "NQS"}
STATUS_TEXT = {
    "2": "申报成功 declared at the e-port",
    "100": "退单 rejected",
    "120": "入库成功 accepted into the customs database",
    "300": "人工审核 manual review",
    "399": "审结 audit concluded",
    "500": "查验 physical inspection",
    "501": "扣留移交通关 detained, handed to clearance",
    "502": "扣留移交缉私 detained, handed to anti-smuggling",
    "503": "扣留移交法规 detained, handed to legal",
    "599": "其它扣留 detained, other",
    "800": "放行 released",
    "899": "结关 closed",
}


# --- identifiers -----------------------------------------------------------------------------


def _digits(salt: str, declaration_id: str, n: int) -> str:
    value = int(hashlib.sha256(f"{salt}|{declaration_id}".encode()).hexdigest(), 16) % 10**n
    return f"{value:0{n}d}"


def _sequence(declaration_id: str) -> str:
    return f"{int(hashlib.sha256(declaration_id.encode()).hexdigest(), 16) % 10**9:09d}"


@dataclass(frozen=True)
class Serials:
    """Serial numbers a declaration is given: of the 报关单 (district, year, I/E), of the list
    (district, year, I/E) and of the preNo (day). The handler counts them in records."""

    entry: int
    invt: int
    pre: int


def _serial(sequence: int | None, salt: str, declaration_id: str) -> str:
    """A 9-digit serial: the counted one, else a hash of the declaration (pure tests)."""
    return f"{sequence:09d}" if sequence is not None else _digits(salt, declaration_id, 9)


def _numbered(district: str, when: datetime, flag: str, serial: str) -> str:
    return f"{district}{when.astimezone(BEIJING).year:04d}{flag}{serial}"


def entry_id(
    district: str,
    when: datetime,
    direction: Direction,
    declaration_id: str,
    sequence: int | None = None,
) -> str:
    """The 18-digit 报关单 number: 4 district + 4 year (Beijing) + flag (1 import, 0 export) + 9."""
    serial = f"{sequence:09d}" if sequence is not None else _sequence(declaration_id)
    return _numbered(district, when, "1" if direction is Direction.IMPORT else "0", serial)


def invt_no(
    district: str,
    when: datetime,
    direction: Direction,
    declaration_id: str,
    sequence: int | None = None,
) -> str:
    """The 18-character inventory number: 4 district + 4 year + I/E + 9 sequence."""
    serial = _serial(sequence, "invt", declaration_id)
    return _numbered(district, when, "I" if direction is Direction.IMPORT else "E", serial)


def pre_no(when: datetime, declaration_id: str, sequence: int | None = None) -> str:
    """The pre-entry number: "B" + 8-digit date (Beijing) + 9 sequence."""
    return f"B{when.astimezone(BEIJING):%Y%m%d}{_serial(sequence, 'pre', declaration_id)}"


def receipt(message: str, status: str, minutes: Decimal, note: str = "") -> Receipt:
    """A receipt with the real returnInfo text format."""
    desc = STATUS_TEXT.get(status, status) + (f"; {note}" if note else "")
    return Receipt(
        message=message, status=status, info=f"[Code:{status};Desc:{desc}]", minutes=minutes
    )


# --- documents ------------------------------------------------------------------------------


def filing_of(declaration: DeclarationData, ref: CustomsReference) -> Filing:
    """List or 报关单: 0110 always 报关单, CBEC retail always a list, 9710/9810 as chosen."""
    if declaration.trade_mode is TradeMode.GENERAL:
        return Filing.DECLARATION
    if declaration.trade_mode in B2B:
        if declaration.filing is not None:
            return declaration.filing
        return Filing.LIST if _list_allowed(declaration, ref) is None else Filing.DECLARATION
    return Filing.LIST


def document_of(declaration: DeclarationData, ref: CustomsReference) -> str:
    """The message the goods are declared on (报关单, CEB603 export list, CEB621 import list)."""
    if filing_of(declaration, ref) is Filing.DECLARATION:
        return "报关单"
    return "CEB621" if declaration.direction is Direction.IMPORT else "CEB603"


def receipt_of(document: str) -> str:
    """The receipt message of a document: CEB603 → CEB604, CEB621 → CEB622."""
    if document.startswith("CEB"):
        return f"CEB{int(document[3:]) + 1}"
    return document


# --- checks ---------------------------------------------------------------------------------


def _reject(code: str, field: str, rule: str, reason: str, reason_zh: str) -> DeclarationRejected:
    return DeclarationRejected(
        reason_code=code, field=field, rule=rule, reason=reason, reason_zh=reason_zh
    )


def _value_cny(declaration: DeclarationData, ref: CustomsReference) -> Decimal:
    rate = ref.exchange_rates[declaration.currency]
    return sum((to_fen(i.value * rate) for i in declaration.items), ZERO)


def _statutory(line: TariffLine, direction: Direction) -> bool:
    return any(c in CONDITIONS[direction] for c in line.supervision) or any(
        c in CATEGORIES[direction] for c in line.inspection
    )


def _list_allowed(declaration: DeclarationData, ref: CustomsReference) -> str | None:
    """Why a 9710/9810 ticket may not use the list system, or None (domain.md §1.4)."""
    if declaration.currency not in ref.exchange_rates:
        return f"no customs rate for {declaration.currency}"
    if _value_cny(declaration, ref) > ref.b2b_list_limit:
        return f"value over RMB {ref.b2b_list_limit}"
    for item in declaration.items:
        line = ref.tariff.get(item.hs_code)
        if line is None:
            continue
        if any(c in LICENCE[declaration.direction] for c in line.supervision):
            return f"HS {item.hs_code} needs a licence"
        if _statutory(line, declaration.direction):
            return f"HS {item.hs_code} is subject to statutory inspection"
    return None


def check(declaration: DeclarationData, ref: CustomsReference) -> DeclarationRejected | None:
    """None if the declaration passes; else the first rule it breaks, listing every error."""
    found = problems(declaration, ref)
    if not found:
        return None
    errors = tuple(
        FieldError(
            code=p.reason_code, field=p.field, rule=p.rule, reason=p.reason, reason_zh=p.reason_zh
        )
        for p in found
    )
    return found[0].model_copy(update={"errors": errors})


def problems(declaration: DeclarationData, ref: CustomsReference) -> list[DeclarationRejected]:
    """Every rule the declaration breaks, in order; each names the field, rule and code."""
    if declaration.scenario is Scenario.CUSTOMS_REJECT:
        return [
            _reject(
                "C199",
                "scenario",
                "sandbox.scenario",
                "rejected on request (sandbox scenario customs_reject)",
                "按沙箱场景要求退单",
            )
        ]
    if declaration.currency not in ref.exchange_rates:
        return [
            _reject(
                "C104",
                "currency",
                "customs.exchange_rate",
                f"no customs exchange rate for {declaration.currency}",
                f"无{declaration.currency}海关汇率",
            )
        ]
    found: list[DeclarationRejected] = []
    cbec_import = (
        declaration.direction is Direction.IMPORT and declaration.trade_mode in CBEC_IMPORT
    )
    for i, item in enumerate(declaration.items):
        field = f"items[{i}].hs_code"
        line = ref.tariff.get(item.hs_code)
        if line is None:
            found.append(
                _reject(
                    "C102",
                    field,
                    "tariff.hs_code",
                    f"HS {item.hs_code} is not a line of the customs tariff",
                    f"商品编码{item.hs_code}不在海关税则中",
                )
            )
            continue
        if any(c in PROHIBITED[declaration.direction] for c in line.supervision):
            found.append(
                _reject(
                    "C105",
                    field,
                    "tariff.supervision.prohibited",
                    f"HS {item.hs_code} ({line.name_en}) may not be {declaration.direction.value}ed "
                    f"(supervision condition {line.supervision})",
                    f"{line.name_zh}禁止{'进口' if declaration.direction is Direction.IMPORT else '出口'}",
                )
            )
        needs = [c for c in line.supervision if c in LICENCE[declaration.direction]]
        if needs and not item.licence_no:
            found.append(
                _reject(
                    "C101",
                    field,
                    "tariff.supervision.licence",
                    f"chapter {item.hs_code[:2]}: HS {item.hs_code} ({line.name_en}) needs a licence "
                    f"(supervision condition {''.join(needs)}); no licence declared",
                    f"第{item.hs_code[:2]}章商品{line.name_zh}须申领许可证(监管条件{''.join(needs)})",
                )
            )
        if cbec_import and not line.cbec_positive:
            found.append(
                _reject(
                    "C106",
                    field,
                    "cbec.positive_list",
                    f"HS {item.hs_code} is not on the CBEC retail import positive list",
                    "商品不在跨境电商零售进口商品清单内",
                )
            )
    if declaration.total_value <= 0:
        found.append(
            _reject(
                "C103",
                "items",
                "value.positive",
                "declared value must be positive",
                "申报总价必须大于零",
            )
        )
    if cbec_import:
        found.extend(_check_cbec_import(declaration, ref))
    if declaration.trade_mode in B2B and declaration.filing is Filing.LIST:
        why = _list_allowed(declaration, ref)
        if why:
            found.append(
                _reject(
                    "C109",
                    "filing",
                    "b2b.list_conditions",
                    f"a {declaration.trade_mode.value} list needs ≤ RMB {ref.b2b_list_limit}, no "
                    f"licence and no inspection: {why}; file a 报关单",
                    "不符合跨境B2B清单申报条件,请以报关单申报",
                )
            )
    return found


def _check_cbec_import(
    declaration: DeclarationData, ref: CustomsReference
) -> list[DeclarationRejected]:
    """Transaction limit and the three-document match (三单比对) of a retail import."""
    found: list[DeclarationRejected] = []
    value = _value_cny(declaration, ref)
    single = len(declaration.items) == 1 and declaration.items[0].quantity == 1
    if value > ref.cbec_transaction_limit and not single:
        found.append(
            _reject(
                "C107",
                "items",
                "cbec.transaction_limit",
                f"CNY {value} exceeds the RMB {ref.cbec_transaction_limit} per-transaction limit "
                "and the goods are divisible",
                f"超过跨境电商零售进口单次交易限值{ref.cbec_transaction_limit}元",
            )
        )
    docs = declaration.cbec
    if docs is None:
        return found  # the simulated platform, payment firm and logistics firm file matching ones
    expected = to_fen(value + docs.freight + docs.tax)
    if to_fen(docs.actual_paid) != expected:
        found.append(
            _reject(
                "C303",
                "cbec.actual_paid",
                "cbec.order.actural_paid",
                f"order acturalPaid {docs.actual_paid} ≠ goods {value} + freight {docs.freight} "
                f"+ tax {docs.tax} = {expected}",
                "订单实际支付金额与货款、运费、税款合计不符",
            )
        )
    if to_fen(docs.amount_paid) != to_fen(docs.actual_paid):
        found.append(
            _reject(
                "C301",
                "cbec.amount_paid",
                "cbec.three_documents.payment",
                f"payment amountPaid {docs.amount_paid} ≠ order acturalPaid {docs.actual_paid}",
                "支付单金额与订单实际支付金额不符",
            )
        )
    if docs.payer_id_number != docs.buyer_id_number:
        found.append(
            _reject(
                "C304",
                "cbec.payer_id_number",
                "cbec.three_documents.payer",
                "the payer on the payment is not the buyer on the order",
                "支付人与订购人不一致",
            )
        )
    if docs.consignee_name != docs.buyer_name:
        found.append(
            _reject(
                "C302",
                "cbec.consignee_name",
                "cbec.three_documents.waybill",
                f"waybill consignee {docs.consignee_name!r} ≠ order buyer {docs.buyer_name!r}",
                "运单收货人与订单订购人不一致",
            )
        )
    return found


# --- risk channel and inspection --------------------------------------------------------------


def risk_odds(
    declaration: DeclarationData, ref: CustomsReference
) -> tuple[Decimal, Decimal, Decimal, Decimal, str]:
    """Red, yellow and blue odds after the risk factors, the factor and why."""
    profile = ref.risk
    chapter = max(
        (profile.chapter_factors.get(i.hs_code[:2], Decimal(1)) for i in declaration.items),
        default=Decimal(1),
    )
    origin = max(
        (profile.origin_factors.get(i.origin_country, Decimal(1)) for i in declaration.items),
        default=Decimal(1),
    )
    enterprise = profile.enterprise_factors.get(declaration.declarant.uscc, Decimal(1))
    factor = chapter * origin * enterprise
    red = min(profile.red * factor, profile.cap)
    yellow = min(profile.yellow * factor, profile.cap)
    why = f"chapter ×{chapter}, origin ×{origin}, enterprise record ×{enterprise}"
    return red, yellow, profile.blue, factor, why


# Sandbox scenarios that pick the channel (a stalled inspection needs goods to inspect).
FORCED_CHANNELS = {
    Scenario.HAPPY: "green",
    Scenario.YELLOW_CHANNEL: "yellow",
    Scenario.RED_CHANNEL: "red",
    Scenario.INSPECTION_FAIL: "red",
    Scenario.STALL_INSPECTION: "red",
}


def channel(declaration: DeclarationData, ref: CustomsReference, rng: random.Random) -> str:
    """Red (inspection, 500), yellow (document review, 300), blue (post-clearance audit), green."""
    forced = FORCED_CHANNELS.get(declaration.scenario) if declaration.scenario else None
    if forced is not None:
        return forced
    red, yellow, blue, _, _ = risk_odds(declaration, ref)
    draw = Decimal(str(rng.random()))
    if draw < red:
        return "red"
    if draw < red + yellow:
        return "yellow"
    if draw < red + yellow + blue:
        return "blue"
    return "green"


def inspection_reason(
    declaration: DeclarationData,
    ref: CustomsReference,
    risk_channel: str,
    rng: random.Random | None = None,
) -> str | None:
    """Why the goods are inspected: the statutory catalogue, the red channel, a random check."""
    direction = declaration.direction
    # CBEC retail imports are supervised as personal articles: the catalogue does not apply,
    # only risk targeting and random checks (docs/domain.md, "Inspection").
    personal = direction is Direction.IMPORT and declaration.trade_mode in CBEC_IMPORT
    for item in () if personal else declaration.items:
        line = ref.tariff.get(item.hs_code)
        if line is not None and _statutory(line, direction):
            conditions = "".join(c for c in line.supervision if c in CONDITIONS[direction])
            categories = "".join(c for c in line.inspection if c in CATEGORIES[direction])
            return (
                f"statutory inspection: HS {item.hs_code} "
                f"(condition {conditions or '-'}, category {categories or '-'})"
            )
    if risk_channel == "red":
        return "red channel: physical inspection selected by risk targeting"
    if declaration.scenario in FORCED_CHANNELS or rng is None:
        return None  # a forced channel is not also sampled at random
    if Decimal(str(rng.random())) < ref.sampling_rate:
        return f"random check: sampled at {ref.sampling_rate} (双随机)"
    return None


# --- the decision -----------------------------------------------------------------------------


def statistics_flag(declaration: DeclarationData, ref: CustomsReference) -> str:
    """A 9610 list's statisticsFlag: A (simplified, 4-digit HS) only with no licence, no export
    duty and no refund claimed; otherwise B (summarised into a 报关单)."""
    no_refund = declaration.tax_filing is not None and declaration.tax_filing.no_purchase_invoice
    for item in declaration.items:
        line = ref.tariff.get(item.hs_code)
        if line is None or any(c in LICENCE[declaration.direction] for c in line.supervision):
            return "B"
        if line.export_refund > 0 and not no_refund:
            return "B"
    return "A"


def value_lines(declaration: DeclarationData, ref: CustomsReference) -> tuple[ValueLine, ...]:
    """Each line in CNY at the customs rate, with its tariff line's rates and conditions."""
    rate = ref.exchange_rates[declaration.currency]
    lines = []
    for item in declaration.items:
        tariff = ref.tariff[item.hs_code]
        lines.append(
            ValueLine(
                hs_code=item.hs_code,
                value_cny=to_fen(item.value * rate),
                name=tariff.name_zh,
                duty_rate=tariff.duty,
                vat_rate=tariff.vat,
                consumption_tax_rate=tariff.consumption_tax,
                refund_rate=tariff.export_refund,
                supervision=tariff.supervision,
                inspection=tariff.inspection,
            )
        )
    return tuple(lines)


# The documents filed before the list or 报关单, and each one's receipt (D§1.2-1.4): a CBEC
# import's three (三单), else by trade mode.
CBEC_IMPORT_FILED = (
    ("CEB312", "订单 order CEB311"),
    ("CEB412", "支付单 payment CEB411"),
    ("CEB512", "运单 waybill CEB511; 三单比对 matched"),
)
FILED: dict[TradeMode, tuple[tuple[str, str], ...]] = {
    TradeMode.CBEC_RETAIL: (
        ("CEB304", "订单 order CEB303"),
        ("CEB404", "收款单 receipt of payment CEB403"),
        ("CEB506", "运单 waybill CEB505"),
    ),
    TradeMode.CBEC_B2B_DIRECT: (
        ("CEB304", "订单 order CEB303 (跨境B2B出口单证 10000004)"),
        ("CEB506", "运单 waybill CEB505"),
    ),
    TradeMode.CBEC_B2B_WAREHOUSE: (
        ("订仓单", "booking note of the overseas warehouse"),
        ("CEB506", "运单 waybill CEB505"),
    ),
}


def supporting_receipts(declaration: DeclarationData, minutes: Decimal) -> list[Receipt]:
    """The receipts of the documents filed before the list or 报关单 (D§1.2-1.4)."""
    mode, direction = declaration.trade_mode, declaration.direction
    filed = (
        CBEC_IMPORT_FILED
        if direction is Direction.IMPORT and mode in CBEC_IMPORT
        else FILED.get(mode, ())
    )
    return [receipt(message, "120", minutes, note) for message, note in filed]


def review(
    declaration: DeclarationData,
    *,
    declaration_id: str,
    ref: CustomsReference,
    rng: random.Random,
    when: datetime,
    serials: Serials | None = None,
) -> DeclarationAccepted | DeclarationRejected:
    """Accept with a risk channel, receipts and CNY values, or reject naming field and rule.

    Numbers come from `serials` (counted by the handler), else from the declaration id."""
    document = document_of(declaration, ref)
    answer = receipt_of(document)
    rejected = check(declaration, ref)
    if rejected:
        refused = (receipt(answer, "2", ZERO), receipt(answer, "100", ref.minutes["accept"]))
        return rejected.model_copy(update={"receipts": refused})
    risk = channel(declaration, ref, rng)
    reason = inspection_reason(declaration, ref, risk, rng)
    lines = value_lines(declaration, ref)
    red, yellow, blue, factor, why = risk_odds(declaration, ref)
    m = ref.minutes
    trail = [*supporting_receipts(declaration, ZERO), receipt(answer, "2", ZERO)]
    at = m["accept"]
    trail.append(receipt(answer, "120", at))
    if risk in ("yellow", "red"):
        at += m["review"]
        trail.append(receipt(answer, "300", at, f"{risk} channel"))
    at += m["audit"]
    trail.append(receipt(answer, "399", at))
    if reason is not None:
        trail.append(receipt(answer, "500", at, reason))
    cbec = declaration.trade_mode is not TradeMode.GENERAL and document != "报关单"
    return DeclarationAccepted(
        entry_id=entry_id(
            ref.district,
            when,
            declaration.direction,
            declaration_id,
            serials.entry if serials else None,
        ),
        status_code=trail[-1].status,
        channel=risk,
        inspection_required=reason is not None,
        inspection_reason=reason,
        fx_rate=ref.exchange_rates[declaration.currency],
        lines=lines,
        total_value_cny=sum((line.value_cny for line in lines), ZERO),
        document=document,
        invt_no=invt_no(
            ref.district,
            when,
            declaration.direction,
            declaration_id,
            serials.invt if serials else None,
        )
        if cbec
        else None,
        pre_no=pre_no(when, declaration_id, serials.pre if serials else None) if cbec else None,
        statistics_flag=statistics_flag(declaration, ref)
        if declaration.trade_mode is TradeMode.CBEC_RETAIL
        and declaration.direction is Direction.EXPORT
        else None,
        post_clearance_audit=risk == "blue",
        certificate_requested=declaration.direction is Direction.EXPORT
        and declaration.certificate_of_origin is not None,
        risk=Explained(
            amount=red + yellow + blue,
            base=factor,
            rate=red,
            formula=f"red {red} + yellow {yellow} + blue {blue}; base rates × {factor} ({why})",
        ),
        receipts=tuple(trail),
    )


def clears(accepted: DeclarationAccepted, direction: Direction) -> bool:
    """Whether customs releases and closes on its own once it has accepted: an export with
    nothing to inspect and no certificate to issue. (An import waits for its taxes.)"""
    return (
        direction is Direction.EXPORT
        and not accepted.inspection_required
        and not accepted.certificate_requested
    )


def detention_status(reason_code: str, ref: CustomsReference) -> str:
    """The 501-599 status a failed inspection's reason leads to."""
    return ref.detention.get(reason_code, ref.detention.get("", "599"))


def summarise(
    *,
    declaration_id: str,
    ebc_uscc: str,
    lines: tuple[ValueLine, ...],
    ref: CustomsReference,
    when: datetime,
    month_so_far: Mapping[str, Decimal] | None = None,
    numbers: tuple[str, str] | None = None,
) -> ExportsSummarised:
    """The 9610 monthly summary (汇总申报, CEB701 → CEB792): an enterprise's lists of one calendar
    month (Beijing) go into one summary, `sum_no` and 报关单 number fixed by enterprise and month.

    `month_so_far` holds the value of each list already in the month's summary (by declaration);
    `numbers` the month's (sum_no, 报关单 number) once given, else they derive from the month.
    """
    local = when.astimezone(BEIJING)
    start = local.replace(day=1)
    end = (start + timedelta(days=32)).replace(day=1) - timedelta(days=1)
    month = f"{ebc_uscc}|{local:%Y%m}"
    sum_no, number = numbers or (
        f"{ref.district}{local:%Y%m}{_digits('sum', month, 9)}",
        entry_id(ref.district, when, Direction.EXPORT, f"summary|{month}"),
    )
    total = sum((line.value_cny for line in lines), ZERO)
    lists = {**(month_so_far or {}), declaration_id: total}
    summary_value = sum(lists.values(), ZERO)
    minutes = ref.minutes["summary"]
    return ExportsSummarised(
        sum_no=sum_no,
        entry_id=number,
        period_start=f"{start:%Y-%m-%d}",
        period_end=f"{end:%Y-%m-%d}",
        lines=lines,
        total_value_cny=total,
        receipts=(
            receipt("CEB702", "120", minutes, f"汇总申请 summary of {ebc_uscc}"),
            receipt("CEB702", "399", minutes, f"{len(lists)} lists, CNY {summary_value}"),
            receipt("CEB792", "399", minutes, f"汇总结果: 报关单 {number}"),
        ),
        lists_in_summary=len(lists),
        summary_value_cny=summary_value,
    )
