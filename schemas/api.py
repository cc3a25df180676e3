"""The gateway's public request and response models."""

from __future__ import annotations

from datetime import date, datetime
from decimal import Decimal
from enum import StrEnum
from typing import Any

from pydantic import Field, field_validator, model_validator

from schemas.base import Contract
from schemas.samples import sample_declaration
from schemas.scenarios import HELPERS_BY_NAME, MagicReferenceError, forced_outcome
from schemas.trade import DeclarationData, Direction, TradeMode

IMPORT_ONLY = frozenset({TradeMode.CBEC_BONDED})
EXPORT_ONLY = frozenset({TradeMode.CBEC_B2B_DIRECT, TradeMode.CBEC_B2B_WAREHOUSE})


class Pace(StrEnum):
    """How fast a declaration moves: at once, a few seconds a stage, or when the trainer says."""

    INSTANT = "instant"
    DEMO = "demo"
    STEP = "step"


class DeclarationRequest(DeclarationData):
    """A declaration as a trader submits it."""

    model_config = DeclarationData.model_config | {
        "json_schema_extra": {"examples": [sample_declaration()]}
    }

    pace: Pace | None = Field(
        default=None,
        description="instant (default), demo (each stage takes a few seconds) or step (each "
        "stage waits for POST /v1/declarations/{id}/advance); default: the run's pace",
    )

    @model_validator(mode="after")
    def _mode_fits_direction(self) -> DeclarationRequest:
        if self.direction is Direction.EXPORT and self.trade_mode in IMPORT_ONLY:
            raise ValueError(
                f"trade_mode {self.trade_mode.value} is an import mode; direction must be import"
            )
        if self.direction is Direction.IMPORT and self.trade_mode in EXPORT_ONLY:
            raise ValueError(
                f"trade_mode {self.trade_mode.value} is an export mode; direction must be export"
            )
        try:
            forced_outcome(self.scenario, self.reference)
        except MagicReferenceError as exc:
            raise ValueError(f"reference: {exc}") from exc
        return self


class DeclarationCreated(Contract):
    """The answer to a submission: accepted for processing."""

    id: str
    status: str
    created_at: datetime
    links: dict[str, str]


MAX_BATCH = 500  # declarations one batch submission may carry


class DeclarationBatchRequest(Contract):
    """Several declarations submitted at once, all or none."""

    declarations: list[DeclarationRequest] = Field(
        min_length=1,
        max_length=MAX_BATCH,
        description=f"1 to {MAX_BATCH} declarations, each as POST /v1/declarations takes it",
    )


class DeclarationBatchCreated(Contract):
    """The answer to a batch: the declarations created, in the order they were sent."""

    data: list[DeclarationCreated]


class DeclarationView(Contract):
    """A declaration as the API shows it."""

    id: str
    status: str = Field(
        description="submitted, in_progress, completed, rejected, failed, stalled or cancelled"
    )
    state: str = Field(description="the saga's state, e.g. customs_review or refunding")
    steps: dict[str, str] = Field(description="each agency's step state")
    figures: dict[str, Decimal | str | None]
    entry_id: str | None
    channel: str | None
    customs_status: str | None = Field(description="the customs receipt code, e.g. 120, 800, 899")
    reason: str | None
    stalled_reason: str | None
    declaration: DeclarationData
    created_at: datetime
    updated_at: datetime


class DeclarationList(Contract):
    """A page of declarations, newest first."""

    data: list[DeclarationView]
    next_cursor: str | None


class SendAttempts(Contract):
    """How often the gateway sent one message: a re-send keeps the message's id."""

    count: int = Field(ge=1, description="sends so far; more than 1 after a re-send")
    last_sent_at: datetime = Field(description="when it was last sent")


class TimelineEntry(Contract):
    """One message of a declaration's journey, as the gateway sent or received it.

    Each message appears once: a command the deadline watcher or an operator sent again (under
    the same id, so the agency deduplicates it) is one entry whose `sends` counts the attempts.
    """

    seq: int
    id: str
    type: str
    direction: str = Field(description="sent (a command or status) or received (an agency event)")
    source: str
    occurred_at: datetime
    causation_id: str | None = Field(
        default=None, description="the message that caused this one (a reply names its command)"
    )
    payload: dict[str, Any]
    sends: SendAttempts | None = Field(
        default=None, description="for a message the gateway sent: its send attempts"
    )


class Timeline(Contract):
    """The ordered timeline of a declaration."""

    declaration_id: str
    data: list[TimelineEntry]


class EnterpriseCreate(Contract):
    """An enterprise to register (admin)."""

    name: str = Field(min_length=1, max_length=200)
    uscc: str | None = None


class EnterpriseCreated(Contract):
    """A registered enterprise and its API key, shown once."""

    id: str
    name: str
    api_key: str


class ScenarioExample(Contract):
    """A declaration kind that shows a scenario well."""

    direction: Direction
    trade_mode: TradeMode


class ScenarioView(Contract):
    """A forced outcome of the sandbox: send `scenario` with a declaration to get it."""

    scenario: str
    agency: str = Field(description="the agency that forces it, or `all`")
    outcome: str
    outcome_zh: str
    final_status: str = Field(description="the status the declaration ends in")
    codes: list[str] = Field(description="reason, receipt and event codes it shows")
    example: ScenarioExample
    reference: str = Field(description="the magic reference that forces it, e.g. SW-RED-<text>")
    acts_on: list[str] = Field(description="agencies told this outcome; the others are happy")


class HelperOutcomeView(Contract):
    """An outcome a test helper can push a pending step to."""

    name: str
    agency: str
    commands: list[str] = Field(description="the pending command types it answers")
    what: str


class ScenarioList(Contract):
    """Every forced outcome of the sandbox, and what the test helpers can force."""

    data: list[ScenarioView]
    test_helpers: list[HelperOutcomeView] = Field(
        default_factory=list, description="outcomes of POST /v1/test_helpers/.../outcomes"
    )


class ForceOutcome(Contract):
    """A test helper's request: push the declaration's pending step to this outcome now."""

    outcome: str = Field(description="one of GET /v1/scenarios `test_helpers` names")
    share: Decimal | None = Field(
        default=None,
        gt=0,
        le=2,
        max_digits=6,
        decimal_places=4,
        description="buyer_pays: the share of the declared value paid (default 1)",
    )

    @model_validator(mode="after")
    def _known(self) -> ForceOutcome:
        if self.outcome not in HELPERS_BY_NAME:
            raise ValueError(
                f"outcome {self.outcome!r} is not a test helper outcome; known: "
                + ", ".join(HELPERS_BY_NAME)
            )
        if self.share is not None and self.outcome != "buyer_pays":
            raise ValueError("share applies to buyer_pays only")
        return self


class ForcedStep(Contract):
    """What a test helper did: the command re-sent to the agency with the forced outcome."""

    id: str
    outcome: str
    agency: str
    command: str = Field(description="the command type sent to the agency")
    command_id: str = Field(description="the new command's id (it supersedes the pending one)")
    supersedes: str
    status: str


class ClockAdvance(Contract):
    """Move the sandbox clock of one declaration, or of your whole run, forward."""

    seconds: float = Field(gt=0, le=366 * 86_400, description="how far to move it")
    declaration_id: str | None = Field(
        default=None, max_length=64, description="only this declaration; absent: the whole run"
    )


class ClockDeclaration(Contract):
    """One declaration after the clock moved."""

    id: str
    status: str
    state: str
    clock_offset_s: float
    resent: list[str] = Field(description="commands re-sent as their deadlines passed")
    released: list[str] = Field(description="held (delayed) commands that went out")


class ClockView(Contract):
    """The sandbox clock: how far ahead of real time it runs, and what moved."""

    scope: str = Field(description="a declaration id, an enterprise id, or `all` (admin)")
    offset_s: float
    sandbox_time: datetime
    declarations: list[ClockDeclaration] = Field(default_factory=list)


class CancelRequest(Contract):
    """Why an operator cancels a declaration (shown as its reason)."""

    reason: str = Field(default="cancelled by an operator", min_length=1, max_length=500)


class OperatorAction(Contract):
    """What an operator's retry or cancel did."""

    id: str
    status: str
    state: str
    resent: list[str] = Field(description="types of the commands sent again")


class DeadLetterView(Contract):
    """A message a consumer could not handle, as an operator sees it."""

    id: str = Field(description="its position in sw.deadletter: partition-offset")
    reason: str
    kind: str
    service: str
    topic: str = Field(description="the topic it was consumed from")
    partition: int = Field(description="its partition in that topic")
    offset: int = Field(description="its offset in that partition")
    frame_index: int | None = Field(
        default=None,
        description="its place in that record when the record framed several messages "
        "(internal topics); the others of the frame were handled",
    )
    key: str | None
    message_id: str | None = Field(
        description="set when a handler refused a readable message (it counts as handled)"
    )
    at: datetime
    value: str = Field(description="the message as consumed (base64: prefix when not UTF-8)")


class DeadLetterList(Contract):
    """Dead letters, oldest first."""

    data: list[DeadLetterView]


class Replayed(Contract):
    """A dead letter sent back to the topic it came from."""

    id: str
    topic: str


class PaymentRequest(Contract):
    """An export receipt or import payment the trader registers with the bank (domain.md §4)."""

    amount: Decimal = Field(
        gt=0, max_digits=18, decimal_places=4, description="amount received or paid"
    )
    currency: str = Field(description="ISO 4217; must be the declaration's (else F103)")
    received_on: date | None = Field(
        default=None,
        description="value date (Beijing); default today. Days after release decide a late "
        "receipt (F203); a date ahead of today stands for money that comes that late.",
    )
    registration_no: str | None = Field(
        default=None,
        max_length=40,
        description="class C: the SAFE registration made before the transaction (F101/F102)",
    )


class PaymentFiled(Contract):
    """A receipt or payment sent to forex; its answer moves the declaration on."""

    id: str
    status: str
    state: str
    command: str = Field(description="forex.receipt.settle or forex.payment.register")
    days_after_release: int


class ReturnRequest(Contract):
    """The return of a CBEC retail import (CEB625)."""

    returned_on: date | None = Field(
        default=None, description="day the return is applied for (Beijing); default today"
    )


class ReturnFiled(Contract):
    """A return sent to tax; its answer (tax.return.assessed) shows in the timeline."""

    id: str
    status: str


# --- webhooks ----------------------------------------------------------------------------------

WEBHOOK_STATUSES = (
    "submitted",
    "in_progress",
    "completed",
    "rejected",
    "failed",
    "stalled",
    "cancelled",
)
# ceb.receipt: a CEB receipt, its XML in `data.xml` (gateway/ceb/webhook.py, docs/ceb.md).
WEBHOOK_EVENT_TYPES = (*(f"declaration.{s}" for s in WEBHOOK_STATUSES), "ceb.receipt")
WEBHOOK_WILDCARD = "*"


class WebhookEndpointCreate(Contract):
    """An endpoint to register: where to post, and which events."""

    url: str = Field(
        min_length=8,
        max_length=2048,
        description="http(s) URL the events are POSTed to",
        examples=["https://erp.example.com/hooks/singlewindow"],
    )
    enabled_events: list[str] = Field(
        default_factory=lambda: [WEBHOOK_WILDCARD],
        min_length=1,
        max_length=len(WEBHOOK_EVENT_TYPES),
        description="`*` for every event, or some of: " + ", ".join(WEBHOOK_EVENT_TYPES),
    )
    description: str | None = Field(default=None, max_length=500)
    hardening: bool = Field(
        default=False,
        description="deliver some events twice and some late (out of order), seeded by the run "
        "seed, so the receiver can prove it copes",
    )

    @field_validator("url")
    @classmethod
    def _absolute_http_url(cls, url: str) -> str:
        scheme, _, rest = url.partition("://")
        if scheme not in ("http", "https") or not rest or rest.startswith("/"):
            raise ValueError(f"must be an absolute http:// or https:// URL, not {url!r}")
        return url

    @field_validator("enabled_events")
    @classmethod
    def _known_event_types(cls, enabled: list[str]) -> list[str]:
        unknown = [e for e in enabled if e != WEBHOOK_WILDCARD and e not in WEBHOOK_EVENT_TYPES]
        if unknown:
            raise ValueError(
                f"unknown event type(s) {', '.join(unknown)}; use `*` or "
                + ", ".join(WEBHOOK_EVENT_TYPES)
            )
        return list(dict.fromkeys(enabled))


class WebhookEndpointView(Contract):
    """A registered endpoint (its secret is shown only once, when it is created)."""

    id: str
    url: str
    enabled_events: list[str]
    description: str | None
    hardening: bool
    created_at: datetime
    links: dict[str, str]


class WebhookEndpointCreated(WebhookEndpointView):
    """A new endpoint with its signing secret: store it now, it is never shown again."""

    secret: str = Field(description="whsec_…: the HMAC-SHA256 key of the SW-Signature header")


class WebhookEndpointList(Contract):
    """The enterprise's endpoints, oldest first."""

    data: list[WebhookEndpointView]


class WebhookAttemptView(Contract):
    """One POST of a delivery."""

    number: int
    at: datetime
    status_code: int | None = Field(description="the receiver's HTTP status; null if none came")
    error: str | None = Field(description="why it failed: HTTP 500, timeout, connection refused…")
    duration_ms: float
    response_excerpt: str | None = Field(description="the first 200 characters of the answer")


class WebhookDeliveryView(Contract):
    """One event to one endpoint, with every attempt so far (the delivery log)."""

    id: str
    event_id: str = Field(description="the same for every delivery of the event (dedupe on it)")
    event_type: str
    endpoint_id: str
    declaration_id: str
    duplicate: bool = Field(description="true for the extra copy a hardening endpoint was dealt")
    status: str = Field(description="pending, succeeded or failed")
    attempts: int
    max_attempts: int
    next_attempt_at: datetime | None
    last_status_code: int | None
    last_error: str | None
    created_at: datetime
    updated_at: datetime
    log: list[WebhookAttemptView]


class WebhookDeliveryList(Contract):
    """A page of deliveries, oldest first."""

    data: list[WebhookDeliveryView]
    next_cursor: str | None
