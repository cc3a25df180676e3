"""The one table between CEB codes and the simulator's (domain.md §2.5), and the message
catalogue (§2.2): which document each message carries and which receipt answers it."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Final

from schemas.codes import CURRENCIES
from schemas.trade import Direction, TradeMode

NS: Final = "http://www.chinaport.gov.cn/ceb"
DS_NS: Final = "http://www.w3.org/2000/09/xmldsig#"

# CEB numeric currency codes (D§2.5, GH-TPCONST): the inverse of schemas.codes.CURRENCIES.
CURRENCY_OF_CEB: Final[dict[str, str]] = {ceb: iso for iso, ceb in CURRENCIES.items()}

# CEB numeric country codes (the customs code list JGS-20). 142, 133, 110 and 304 are in
# D§2.5; the rest are from the same list as the author knows it: indicative (docs/ceb.md).
COUNTRY_OF_CEB: Final[dict[str, str]] = {
    "110": "HKG",
    "112": "IDN",
    "116": "JPN",
    "121": "MAC",
    "122": "MYS",
    "129": "PHL",
    "132": "SGP",
    "133": "KOR",
    "136": "THA",
    "141": "VNM",
    "142": "CHN",
    "143": "TWN",
    "303": "GBR",
    "304": "DEU",
    "305": "FRA",
    "307": "ITA",
    "309": "NLD",
    "312": "ESP",
    "344": "RUS",
    "501": "CAN",
    "502": "USA",
    "601": "AUS",
    "609": "NZL",
}
CEB_OF_COUNTRY: Final[dict[str, str]] = {iso: ceb for ceb, iso in COUNTRY_OF_CEB.items()}

# Units of measure (D§2.5, HXT): the CEB code is kept as the item's unit; the name is shown.
UNITS: Final[dict[str, str]] = {
    "001": "台",
    "006": "套",
    "007": "个",
    "011": "件",
    "035": "千克",
    "036": "克",
    "095": "升",
    "096": "毫升",
    "120": "箱",
    "125": "包",
    "140": "盒",
    "142": "瓶",
}

DIRECTION_OF_IE: Final[dict[str, Direction]] = {"I": Direction.IMPORT, "E": Direction.EXPORT}

# tradeMode on a list: the retail modes the door takes (1210 is an import mode here, as in
# the JSON API: bonded export is not simulated).
TRADE_MODES: Final[dict[Direction, tuple[TradeMode, ...]]] = {
    Direction.IMPORT: (TradeMode.CBEC_RETAIL, TradeMode.CBEC_BONDED),
    Direction.EXPORT: (TradeMode.CBEC_RETAIL,),
}


class CodeError(ValueError):
    """A code the table does not know: the CEB field and the rule it broke."""

    def __init__(self, field: str, rule: str, message: str) -> None:
        super().__init__(message)
        self.field, self.rule = field, rule


def currency(code: str, field: str = "currency") -> str:
    """ISO 4217 of a CEB numeric currency code (142 → CNY)."""
    try:
        return CURRENCY_OF_CEB[code]
    except KeyError:
        known = ", ".join(f"{c} {i}" for c, i in sorted(CURRENCY_OF_CEB.items()))
        raise CodeError(
            field, "code.currency", f"{code!r} is not a CEB currency code ({known})"
        ) from None


def country(code: str, field: str = "country") -> str:
    """ISO 3166-1 alpha-3 of a CEB numeric country code (142 → CHN)."""
    try:
        return COUNTRY_OF_CEB[code]
    except KeyError:
        raise CodeError(
            field, "code.country", f"{code!r} is not a CEB country code the simulator knows"
        ) from None


def ceb_currency(iso: str) -> str:
    """The CEB numeric code of an ISO currency (CNY → 142)."""
    return CURRENCIES[iso]


def ceb_country(iso: str) -> str:
    """The CEB numeric code of an ISO alpha-3 country (AUS → 601)."""
    return CEB_OF_COUNTRY[iso]


def direction(ie_flag: str, field: str = "ieFlag") -> Direction:
    """I → import, E → export."""
    try:
        return DIRECTION_OF_IE[ie_flag]
    except KeyError:
        raise CodeError(field, "code.ie_flag", f"{ie_flag!r} is not I or E") from None


def trade_mode(code: str, ie: Direction, field: str = "tradeMode") -> TradeMode:
    """The list's tradeMode, among the retail modes of its direction."""
    allowed = TRADE_MODES[ie]
    for mode in allowed:
        if mode.value == code:
            return mode
    names = " or ".join(m.value for m in allowed)
    raise CodeError(field, "code.trade_mode", f"{code!r}: an {ie.value} list takes {names}")


@dataclass(frozen=True)
class Kind:
    """One message of the catalogue (D§2.2): its document and its receipt."""

    message: str  # CEB311
    direction: Direction
    document: str  # the element of one document: Order
    receipt: str  # CEB312
    returns: str  # the element of one receipt: OrderReturn
    # The head fields that name the document on the single window (ebpCode + orderNo); a
    # copNo names it within its sender only.
    key: tuple[str, ...]
    required: tuple[str, ...]  # head fields a document must have (else CEB900)


_I, _E = Direction.IMPORT, Direction.EXPORT
_HEAD = ("guid", "appType", "appTime", "appStatus")
CATALOGUE: Final[dict[str, Kind]] = {
    k.message: k
    for k in (
        Kind("CEB311", _I, "Order", "CEB312", "OrderReturn", ("ebpCode", "orderNo"),
             (*_HEAD, "orderNo", "ebpCode", "ebcCode", "goodsValue", "freight", "taxTotal",
              "acturalPaid", "currency", "buyerIdType", "buyerIdNumber", "buyerName")),
        Kind("CEB411", _I, "Payment", "CEB412", "PaymentReturn", ("ebpCode", "orderNo"),
             (*_HEAD, "payCode", "payTransactionId", "orderNo", "ebpCode", "payerIdType",
              "payerIdNumber", "payerName", "amountPaid", "currency", "payTime")),
        Kind("CEB511", _I, "Logistics", "CEB512", "LogisticsReturn", ("logisticsCode", "logisticsNo"),
             (*_HEAD, "logisticsCode", "logisticsNo", "orderNo", "consignee", "freight",
              "currency")),
        Kind("CEB621", _I, "Inventory", "CEB622", "InventoryReturn", ("copNo",),
             (*_HEAD, "orderNo", "ebpCode", "ebcCode", "ebcName", "logisticsCode", "logisticsNo",
              "copNo", "ieFlag", "tradeMode", "buyerIdType", "buyerIdNumber", "buyerName",
              "country", "currency", "agentCode")),
        Kind("CEB623", _I, "InvtCancel", "CEB624", "InvtCancelReturn", ("copNo",),
             (*_HEAD, "copNo", "invtNo", "reason")),
        Kind("CEB625", _I, "InvtRefund", "CEB626", "InvtRefundReturn", ("copNo",),
             (*_HEAD, "copNo", "invtNo", "orderNo", "reason")),
        Kind("CEB303", _E, "Order", "CEB304", "OrderReturn", ("ebpCode", "orderNo"),
             (*_HEAD, "orderType", "orderNo", "ebpCode", "ebcCode", "goodsValue", "freight",
              "currency")),
        Kind("CEB403", _E, "Receipts", "CEB404", "ReceiptsReturn", ("ebpCode", "orderNo"),
             (*_HEAD, "orderNo", "ebpCode", "payCode", "payNo", "charge", "currency")),
        Kind("CEB505", _E, "Logistics", "CEB506", "LogisticsReturn", ("logisticsCode", "logisticsNo"),
             (*_HEAD, "logisticsCode", "logisticsNo", "freight", "currency")),
        Kind("CEB603", _E, "Inventory", "CEB604", "InventoryReturn", ("copNo",),
             (*_HEAD, "orderNo", "ebpCode", "ebcCode", "ebcName", "logisticsCode", "logisticsNo",
              "copNo", "ieFlag", "tradeMode", "country", "currency", "agentCode",
              "statisticsFlag")),
        Kind("CEB507", _E, "Arrival", "CEB508", "ArrivalReturn", ("copNo",),
             (*_HEAD, "copNo", "operatorCode", "loctNo", "billNo")),
        Kind("CEB509", _E, "Departure", "CEB510", "DepartureReturn", ("copNo",),
             (*_HEAD, "copNo", "logisticsCode", "trafMode", "billNo", "leaveTime")),
        Kind("CEB701", _E, "SummaryApply", "CEB702", "SummaryApplyReturn", ("copNo",),
             (*_HEAD, "copNo", "ebcCode", "declAgentCode", "startTime", "endTime")),
    )
}  # fmt: skip

# Receipts that answer no message of their own: the tax bill and the summary result.
TAX_BILL: Final = "CEB816"
SUMMARY_RESULT: Final = "CEB792"
FORMAT_ERROR: Final = "CEB900"

# returnStatus texts (D§2.4), for returnInfo.
STATUS_TEXT: Final[dict[str, str]] = {
    "1": "电子口岸已暂存",
    "2": "电子口岸申报中",
    "100": "海关退单",
    "120": "海关入库",
    "300": "人工审核",
    "399": "海关审结",
    "500": "查验",
    "501": "扣留移送通关",
    "502": "扣留移送缉私",
    "503": "扣留移送法规",
    "599": "其它扣留",
    "700": "退运",
    "800": "放行",
    "899": "结关",
}
