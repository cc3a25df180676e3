"""The trade declaration as every agency sees it."""

from __future__ import annotations

from decimal import Decimal
from enum import StrEnum
from typing import Annotated

from pydantic import Field, field_validator

from schemas.base import Contract
from schemas.codes import (
    COUNTRIES,
    CURRENCIES,
    CUSTOMS_CODE_PATTERN,
    HS_CODE_PATTERN,
    uscc_problem,
)


class Direction(StrEnum):
    EXPORT = "export"
    IMPORT = "import"


class TradeMode(StrEnum):
    """Customs supervision modes (监管方式) the simulator handles."""

    GENERAL = "0110"
    CBEC_RETAIL = "9610"
    CBEC_BONDED = "1210"
    CBEC_B2B_DIRECT = "9710"
    CBEC_B2B_WAREHOUSE = "9810"


class EnterpriseType(StrEnum):
    """How the tax bureau refunds an exporter's VAT (domain.md §5.1)."""

    TRADING = "trading"  # 外贸企业: 免退税
    MANUFACTURER = "manufacturer"  # 生产企业: 免抵退税


class OriginCertificate(StrEnum):
    """Certificates of origin the simulator issues on request (domain.md §3)."""

    NON_PREFERENTIAL = "non_preferential"
    FORM_E = "form_e"  # ACFTA
    RCEP = "rcep"
    FORM_A = "form_a"  # GSP


class Filing(StrEnum):
    """How a 9710/9810 export is filed: an inventory list or a 报关单 (domain.md §1.4)."""

    LIST = "list"
    DECLARATION = "declaration"


class PaymentSource(StrEnum):
    """Who registers the export receipt or import payment with the bank (domain.md §4)."""

    SIMULATED = "simulated"  # the simulated buyer pays once the goods are released
    API = "api"  # the trader files it: POST /v1/declarations/{id}/payments


class Scenario(StrEnum):
    """Forced outcomes for the sandbox; absent means the seeded simulation decides."""

    HAPPY = "happy"
    CUSTOMS_REJECT = "customs_reject"
    RED_CHANNEL = "red_channel"
    INSPECTION_FAIL = "inspection_fail"
    REFUND_DENIED = "refund_denied"
    YELLOW_CHANNEL = "yellow_channel"
    SHORT_PAYMENT = "short_payment"
    STALL_CUSTOMS = "stall_customs"
    STALL_INSPECTION = "stall_inspection"
    STALL_FOREX = "stall_forex"
    STALL_TAX = "stall_tax"
    DELAYED = "delayed"


Money = Annotated[Decimal, Field(max_digits=18, decimal_places=4)]


class Party(Contract):
    """An enterprise named by its unified social credit code."""

    uscc: str = Field(description="18-character unified social credit code, check verified")
    name: str = Field(min_length=1, max_length=200)
    customs_code: str | None = Field(
        default=None, description="customs 10-character registration code (海关编码), optional"
    )

    @field_validator("customs_code")
    @classmethod
    def _customs_code(cls, value: str | None) -> str | None:
        if value is not None and not CUSTOMS_CODE_PATTERN.fullmatch(value):
            raise ValueError(
                "must be 10 characters: 4-digit location, zone digit, type digit, 4 characters"
            )
        return value

    @field_validator("uscc")
    @classmethod
    def _valid_uscc(cls, value: str) -> str:
        problem = uscc_problem(value)
        if problem:
            raise ValueError(f"not a valid unified social credit code: {problem}")
        return value


def _country(value: str) -> str:
    if value not in COUNTRIES:
        raise ValueError(f"{value!r} is not an ISO 3166-1 alpha-3 country code the simulator knows")
    return value


class Item(Contract):
    """One goods line of a declaration."""

    hs_code: str = Field(description="10-digit HS commodity code")
    description: str = Field(min_length=1, max_length=500)
    quantity: Annotated[Decimal, Field(gt=0, le=10_000_000, max_digits=18, decimal_places=4)]
    unit: str = Field(min_length=1, max_length=20, description="unit of measure, e.g. 台 or 011")
    unit_price: Annotated[Decimal, Field(ge=0, le=1_000_000_000, max_digits=18, decimal_places=4)]
    origin_country: str = Field(description="ISO 3166-1 alpha-3")
    licence_no: str | None = Field(
        default=None, max_length=40, description="licence number, for lines that need one"
    )

    @field_validator("hs_code")
    @classmethod
    def _hs_code(cls, value: str) -> str:
        if not HS_CODE_PATTERN.fullmatch(value):
            raise ValueError("must be a 10-digit HS code (digits only)")
        return value

    @field_validator("origin_country")
    @classmethod
    def _origin(cls, value: str) -> str:
        return _country(value)

    @property
    def value(self) -> Decimal:
        """Line value in the declaration's currency."""
        return self.quantity * self.unit_price


class CbecDocuments(Contract):
    """The three documents of a CBEC retail import (三单): order, payment and waybill.

    Omitted, the simulated platform, payment firm and logistics firm file matching ones.
    """

    order_no: str = Field(min_length=1, max_length=60, description="CEB311 orderNo")
    buyer_id_number: str = Field(min_length=1, max_length=40, description="buyerIdNumber")
    buyer_name: str = Field(min_length=1, max_length=100)
    freight: Money = Decimal(0)
    tax: Money = Field(default=Decimal(0), description="tax the platform charged the buyer")
    actual_paid: Money = Field(description="acturalPaid = goods + freight + tax (CNY)")
    payment_no: str = Field(min_length=1, max_length=60, description="CEB411 payTransactionId")
    payer_id_number: str = Field(min_length=1, max_length=40)
    amount_paid: Money = Field(description="CEB411 amountPaid (CNY)")
    waybill_no: str = Field(min_length=1, max_length=60, description="CEB511 logisticsNo")
    consignee_name: str = Field(min_length=1, max_length=100)


class TaxFiling(Contract):
    """What the exporter files with the tax bureau for the refund (all optional)."""

    enterprise_type: EnterpriseType | None = Field(
        default=None, description="default: the tax bureau's register, else trading"
    )
    purchase_invoice_amount: Money | None = Field(
        default=None, description="VAT invoice amount excl. VAT (CNY); default: the customs value"
    )
    no_purchase_invoice: bool = Field(default=False, description="无票: no purchase invoice")
    domestic_output_vat: Money = Decimal(0)
    input_vat: Money = Field(default=Decimal(0), description="creditable input VAT of the month")
    duty_free_inputs: Money = Decimal(0)
    prior_credit: Money = Decimal(0)


class DeclarationData(Contract):
    """What the trader declares once and every agency acts on."""

    direction: Direction
    trade_mode: TradeMode
    declarant: Party
    counterparty_country: str = Field(description="ISO 3166-1 alpha-3")
    currency: str = Field(description="ISO 4217")
    items: tuple[Item, ...] = Field(min_length=1, max_length=50)
    reference: str | None = Field(
        default=None,
        min_length=1,
        max_length=64,
        description="your own reference, unique per enterprise; a sandbox magic value "
        "(`SW-<OUTCOME>-<text>`, docs/sandbox.md) forces an outcome",
    )
    scenario: Scenario | None = Field(
        default=None, description="sandbox: force an outcome (GET /v1/scenarios)"
    )
    cbec: CbecDocuments | None = Field(
        default=None, description="9610/1210 import: order, payment and waybill (三单)"
    )
    tax_filing: TaxFiling | None = Field(default=None, description="export refund filing data")
    certificate_of_origin: OriginCertificate | None = Field(
        default=None, description="export: certificate of origin requested"
    )
    filing: Filing | None = Field(
        default=None, description="9710/9810: list or 报关单; default: chosen by the rules"
    )
    payments: PaymentSource = Field(
        default=PaymentSource.SIMULATED,
        description="api: the trader registers the receipt (export) or payment (import) through "
        "POST /v1/declarations/{id}/payments once the goods are released; default: simulated",
    )

    @field_validator("counterparty_country")
    @classmethod
    def _counterparty(cls, value: str) -> str:
        return _country(value)

    @field_validator("currency")
    @classmethod
    def _currency(cls, value: str) -> str:
        if value not in CURRENCIES:
            known = ", ".join(sorted(CURRENCIES))
            raise ValueError(f"{value!r} is not an ISO 4217 currency the simulator knows ({known})")
        return value

    @property
    def total_value(self) -> Decimal:
        """Sum of the line values in the declaration's currency."""
        return sum((item.value for item in self.items), Decimal(0))
