"""The CEB door's routes: POST /v1/ceb/messages and the receipt mailbox."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated, Any

from fastapi import APIRouter, Query, Request, Response
from sqlalchemy import Connection

from gateway.ceb import store
from gateway.ceb.door import Door, check_amounts
from gateway.ceb.parse import FormatError, Message, encoding_of, parse
from gateway.ceb.receipts import answer_xml, format_error_xml, stored_elements
from gateway.core.deps import ConfigDep, Enterprise, RuntimeDep
from gateway.core.errors import NotFound
from gateway.saga.declare import intend
from schemas.ceb import CebReceiptList, CebReceiptView
from services.common.changes import Changes
from services.common.problems import Problem

XML = "application/xml"
MEDIA = ("application/xml", "text/xml")
_XML_BODY = {"content": {XML: {"schema": {"type": "string"}}}}
REQUEST_BODY: dict[str, Any] = {
    "requestBody": {
        "required": True,
        "description": "A CEB message (namespace http://www.chinaport.gov.cn/ceb) as the transfer "
        "client delivers it: CEB311/411/511/621/623/625 (import), CEB303/403/505/603/507/509/701 "
        "(export); UTF-8, GB2312 or GBK as its prolog says.",
        **_XML_BODY,
    }
}


def _now() -> datetime:
    return datetime.now(UTC)


router = APIRouter(tags=["ceb"])


def read(data: bytes, *, sandbox: bool) -> Message:
    message = parse(data)
    if message.signed and not sandbox:
        raise FormatError(
            "ds:Signature", "ceb.signature",
            "signatures are accepted unverified in sandbox mode only (SW_SANDBOX)",
            guid=message.guid, kind=message.kind.message)  # fmt: skip
    check_amounts(message)
    return message


@router.post(
    "/v1/ceb/messages",
    openapi_extra=REQUEST_BODY,
    response_class=Response,
    responses={
        200: {"description": "The receipts of the message's documents", **_XML_BODY},
        400: {"description": "CEB900: the message could not be read", **_XML_BODY},
    },
)
async def submit_ceb_message(
    request: Request, enterprise_id: Enterprise, runtime: RuntimeDep, config: ConfigDep
) -> Response:
    """Send a CEB message; the answer is its receipts as CEB XML (one receipt message per
    type, one `…Return` per document). A format error is a CEB900 (400) naming the
    element and the rule; a business error a receipt with returnStatus 100."""
    media = request.headers.get("content-type", "").split(";", 1)[0].strip().lower()
    if media not in MEDIA:
        raise Problem(
            415, "bad-body", "Request body refused",
            f"Content-Type must be application/xml, not {media or 'missing'}",
            errors=[{"field": "<body>", "rule": "media_type", "message": "send XML"}],
        )  # fmt: skip
    data = await request.body()
    encoding = encoding_of(data)
    try:
        message = read(data, sandbox=runtime.settings.sandbox)
    except FormatError as error:
        return Response(format_error_xml(error, _now(), encoding=encoding), 400, media_type=XML)

    def unit(conn: Connection) -> tuple[Any, Changes]:
        changes = Changes()
        return Door(config=config, intend=intend, now=_now).unit(
            conn, changes, message, enterprise_id
        ), changes

    outcome = await runtime.intake.run(unit, savepoint=False)
    body = answer_xml(outcome.receipts, stored_elements(outcome.replayed), encoding=encoding)
    return Response(body, 200, media_type=XML)


@router.get("/v1/ceb/receipts", response_model=CebReceiptList)
async def list_ceb_receipts(
    enterprise_id: Enterprise,
    runtime: RuntimeDep,
    after: Annotated[int, Query(ge=0, description="the cursor: the last seq read")] = 0,
    limit: Annotated[int, Query(ge=1, le=500)] = 100,
) -> CebReceiptList:
    """The enterprise's receipts after the cursor, oldest first (a transfer client's
    download: read, then ask again with `after` = the `cursor` returned)."""
    posted = await runtime.db.read(
        lambda conn: store.receipts_since(
            conn, enterprise_id=enterprise_id, after=after, limit=limit
        )
    )
    return CebReceiptList(
        data=[_view(p) for p in posted], cursor=posted[-1].seq if posted else after
    )


@router.get(
    "/v1/ceb/receipts/{ori_guid}",
    response_class=Response,
    responses={200: {"description": "Every receipt about the document", **_XML_BODY}},
)
async def list_ceb_document_receipts(
    ori_guid: str, enterprise_id: Enterprise, runtime: RuntimeDep
) -> Response:
    """Every receipt about one document (by the guid it was sent with), oldest first, in
    a `ceb:Receipts` wrapper."""
    posted = await runtime.db.read(
        lambda conn: store.receipts_of(conn, enterprise_id=enterprise_id, ori_guid=ori_guid)
    )
    if not posted:
        raise NotFound(f"no receipt about document {ori_guid}")
    body = answer_xml([], stored_elements([p.xml for p in posted]), wrap=True)
    return Response(body, 200, media_type=XML)


def _view(posted: store.Posted) -> CebReceiptView:
    return CebReceiptView(
        seq=posted.seq,
        ori_guid=posted.ori_guid,
        message=posted.message,
        return_status=posted.status,
        xml=posted.xml.decode(),
        declaration_id=posted.declaration_id,
    )
