"""The CEB door's pure parts: the code table, safe parsing, the match, receipts."""

from __future__ import annotations

import xml.etree.ElementTree as ET
from datetime import UTC, datetime
from decimal import Decimal

import pytest

from gateway.ceb import codes
from gateway.ceb.codes import CATALOGUE, NS, CodeError
from gateway.ceb.follow import receipts_of
from gateway.ceb.match import BusinessError, OnFile, check_links, declaration_of, uscc_of
from gateway.ceb.parse import FormatError, decimal, decode, encoding_of, parse
from gateway.ceb.receipts import (
    Receipt,
    answer_xml,
    format_error_xml,
    info,
    receipt_xml,
    return_time,
)
from gateway.ceb.sampleset import SETS, fresh, load, paths
from gateway.ceb.store import OnRecord, doc_key
from schemas.codes import uscc_problem
from schemas.messages import Figures, StatusChanged
from schemas.trade import Direction, TradeMode

C = f"{{{NS}}}"


# --- the code table ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("ceb", "iso"), [("142", "CNY"), ("502", "USD"), ("300", "EUR"), ("110", "HKD")]
)
def test_currency_codes_map_both_ways(ceb: str, iso: str) -> None:
    assert codes.currency(ceb) == iso and codes.ceb_currency(iso) == ceb


@pytest.mark.parametrize(
    ("ceb", "iso"), [("142", "CHN"), ("133", "KOR"), ("110", "HKG"), ("304", "DEU"), ("601", "AUS")]
)
def test_country_codes_map_both_ways(ceb: str, iso: str) -> None:
    assert codes.country(ceb) == iso and codes.ceb_country(iso) == ceb


def test_every_ceb_country_is_one_the_declaration_knows() -> None:
    from schemas.codes import COUNTRIES

    assert set(codes.COUNTRY_OF_CEB.values()) <= COUNTRIES


def test_unknown_codes_name_the_field_and_rule() -> None:
    with pytest.raises(CodeError) as caught:
        codes.currency("999")
    assert (caught.value.field, caught.value.rule) == ("currency", "code.currency")
    with pytest.raises(CodeError) as caught:
        codes.country("000", "InventoryList[0].country")
    assert caught.value.field == "InventoryList[0].country"


def test_ie_flag_and_trade_modes() -> None:
    assert codes.direction("I") is Direction.IMPORT and codes.direction("E") is Direction.EXPORT
    assert codes.trade_mode("1210", Direction.IMPORT) is TradeMode.CBEC_BONDED
    assert codes.trade_mode("9610", Direction.EXPORT) is TradeMode.CBEC_RETAIL
    with pytest.raises(CodeError, match="an export list takes 9610"):
        codes.trade_mode("1210", Direction.EXPORT)
    with pytest.raises(CodeError):
        codes.direction("X")


def test_units_of_d25() -> None:
    assert codes.UNITS["001"] == "台" and codes.UNITS["007"] == "个"


def test_catalogue_pairs_each_message_with_its_receipt() -> None:
    assert {k: v.receipt for k, v in CATALOGUE.items()} == {
        "CEB311": "CEB312", "CEB411": "CEB412", "CEB511": "CEB512", "CEB621": "CEB622",
        "CEB623": "CEB624", "CEB625": "CEB626", "CEB303": "CEB304", "CEB403": "CEB404",
        "CEB505": "CEB506", "CEB603": "CEB604", "CEB507": "CEB508", "CEB509": "CEB510",
        "CEB701": "CEB702",
    }  # fmt: skip


# --- parsing ----------------------------------------------------------------------------------


def _sample(name: str) -> bytes:
    return next(p.read_bytes() for p in paths(name.split("-")[0]) if p.name.startswith(name))


def test_every_sample_parses() -> None:
    seen = set()
    for which in SETS:
        for path in paths(which):
            message = parse(path.read_bytes())
            assert message.transfer["dxpMode"] == "DXP" and len(message.documents) == 1
            seen.add(message.kind.message)
    assert seen == {"CEB311", "CEB411", "CEB511", "CEB621", "CEB303", "CEB403", "CEB505",
                    "CEB603", "CEB507", "CEB509", "CEB701"}  # fmt: skip


def test_list_head_and_lines() -> None:
    message = parse(_sample("import-4"))
    invt = message.documents[0]
    assert invt.head["copNo"] == "SW-GREEN-I00001" and invt.head["tradeMode"] == "9610"
    assert invt.lines[0]["hsCode"] == "1901101000" and invt.lines[0]["unit"] == "140"


@pytest.mark.parametrize("encoding", ["GBK", "gb2312"])
def test_chinese_encodings_in_the_prolog_are_honoured(encoding: str) -> None:
    text = _sample("import-1").decode().replace('encoding="UTF-8"', f'encoding="{encoding}"')
    data = text.encode("gbk")
    assert parse(data).documents[0].head["buyerName"] == "张三"
    assert encoding_of(data) == encoding.lower()


def test_several_documents_in_one_message() -> None:
    root = _sample("import-1").decode()
    start, end = root.index("<ceb:Order>"), root.index("</ceb:Order>") + len("</ceb:Order>")
    second = root[start:end].replace("000000000011", "000000000099")
    message = parse((root[:end] + second + root[end:]).encode())
    assert [d.guid[-2:] for d in message.documents] == ["11", "99"]


def test_a_signature_is_kept_aside() -> None:
    signed = _sample("import-1").replace(
        b"</ceb:CEB311Message>",
        b'<ds:Signature xmlns:ds="http://www.w3.org/2000/09/xmldsig#"><ds:SignedInfo/>'
        b"</ds:Signature></ceb:CEB311Message>",
    )
    assert parse(signed).signed and not parse(_sample("import-1")).signed


XXE = (
    b'<?xml version="1.0"?><!DOCTYPE r [<!ENTITY x SYSTEM "file:///etc/passwd">]>'
    b'<ceb:CEB311Message xmlns:ceb="http://www.chinaport.gov.cn/ceb" guid="G">&x;'
    b"</ceb:CEB311Message>"
)
LAUGHS = (
    b'<?xml version="1.0"?><!DOCTYPE lolz [<!ENTITY lol "lol">'
    + b"".join(
        f'<!ENTITY lol{i} "{("&lol" + (str(i - 1) if i > 1 else "") + ";") * 10}">'.encode()
        for i in range(1, 10)
    )
    + b"]><lolz>&lol9;</lolz>"
)


@pytest.mark.parametrize(
    ("data", "element", "rule"),
    [
        (XXE, "<!DOCTYPE>", "xml.dtd"),
        (LAUGHS, "<!DOCTYPE>", "xml.dtd"),
        (b"<ceb:CEB311Message xmlns:ceb='x'", "<message>", "xml.well_formed"),
        (b"<CEB311Message xmlns='urn:other' guid='G'/>", "CEB311Message", "ceb.namespace"),
        (f"<ceb:CEB999Message xmlns:ceb='{NS}' guid='G'/>".encode(), "CEB999Message",
         "ceb.message_type"),
        (f"<ceb:CEB311Message xmlns:ceb='{NS}' guid='G'/>".encode(), "Order", "xml.required"),
        (b'<?xml version="1.0" encoding="latin-1"?><a/>', "<?xml?>", "xml.encoding"),
        (b"<a>" + b"x" * 2_000_000 + b"</a>", "<message>", "xml.size"),
    ],
)  # fmt: skip
def test_what_cannot_be_read_is_a_format_error(data: bytes, element: str, rule: str) -> None:
    with pytest.raises(FormatError) as caught:
        parse(data)
    assert (caught.value.element, caught.value.rule) == (element, rule)


def test_a_missing_field_is_named() -> None:
    data = _sample("import-2").replace(b"<ceb:amountPaid>3293.00</ceb:amountPaid>", b"")
    with pytest.raises(FormatError) as caught:
        parse(data)
    assert caught.value.element == "Payment[0]/amountPaid"
    assert caught.value.guid == "5D1C0F6E-0411-4A00-9C00-000000000012"


@pytest.mark.parametrize("raw", ["abc", "-1", "1.23456", "NaN", "Infinity", ""])
def test_amounts_must_be_decimals(raw: str) -> None:
    with pytest.raises(FormatError, match="not an amount"):
        decimal(raw, "amountPaid")


def test_amounts() -> None:
    assert decimal("3293.00", "amountPaid") == Decimal("3293.00")


# --- the match --------------------------------------------------------------------------------


def _docs(which: str) -> dict[str, OnRecord]:
    found = {}
    for _, body in load(which, new=False):
        message = parse(body)
        found[message.kind.message] = OnRecord(
            message.documents[0].guid, "ent", message.kind.message, None, message.documents[0]
        )
    return found


def test_a_matching_import_list_becomes_a_9610_import() -> None:
    """3,000.00 of formula + 20.00 freight + 273.00 tax = 3,293.00 paid (acturalPaid)."""
    d = _docs("import")
    on_file = OnFile(d["CEB311"].document, d["CEB411"].document, d["CEB511"].document)
    declaration = declaration_of(CATALOGUE["CEB621"], d["CEB621"].document, on_file)
    assert declaration.direction is Direction.IMPORT and declaration.trade_mode.value == "9610"
    assert declaration.currency == "CNY" and declaration.counterparty_country == "AUS"
    assert declaration.reference == "SW-GREEN-I00001"
    assert declaration.total_value == Decimal("3000.00")
    assert declaration.cbec is not None
    assert declaration.cbec.actual_paid == declaration.cbec.amount_paid == Decimal("3293.00")
    assert declaration.cbec.consignee_name == declaration.cbec.buyer_name == "张三"
    assert declaration.declarant.customs_code == "3301961Q43"
    assert uscc_problem(declaration.declarant.uscc) is None


def test_an_export_list_becomes_a_9610_export() -> None:
    d = _docs("export")
    on_file = OnFile(d["CEB303"].document, None, d["CEB505"].document)
    declaration = declaration_of(CATALOGUE["CEB603"], d["CEB603"].document, on_file)
    assert (declaration.direction, declaration.currency) == (Direction.EXPORT, "USD")
    assert declaration.counterparty_country == "DEU" and declaration.cbec is None
    assert declaration.items[0].unit == "001" and declaration.items[0].origin_country == "CHN"


@pytest.mark.parametrize(
    ("missing", "code", "field"),
    [("order", "C305", "orderNo"), ("payment", "C306", "orderNo"),
     ("waybill", "C307", "logisticsNo")],
)  # fmt: skip
def test_a_document_not_on_file_is_named(missing: str, code: str, field: str) -> None:
    d = _docs("import")
    docs = {"order": d["CEB311"].document, "payment": d["CEB411"].document,
            "waybill": d["CEB511"].document}  # fmt: skip
    docs[missing] = None  # type: ignore[assignment]
    found = check_links(CATALOGUE["CEB621"], d["CEB621"].document, OnFile(**docs))
    assert [(e.code, e.field) for e in found] == [(code, field)]


def test_another_buyer_on_the_list_is_c308() -> None:
    d = _docs("import")
    invt = d["CEB621"].document
    other = type(invt)({**invt.head, "buyerName": "李四"}, invt.lines)
    on_file = OnFile(d["CEB311"].document, d["CEB411"].document, d["CEB511"].document)
    with pytest.raises(BusinessError) as caught:
        declaration_of(CATALOGUE["CEB621"], other, on_file)
    assert caught.value.code == "C308"
    assert caught.value.info.startswith("C308 buyerIdNumber: list buyer '李四'")
    assert caught.value.info.endswith("[rule cbec.three_documents.buyer]")


def test_a_waybill_of_another_order_is_c310() -> None:
    d = _docs("import")
    waybill = d["CEB511"].document
    other = type(waybill)({**waybill.head, "orderNo": "ORD-OTHER"})
    found = check_links(
        CATALOGUE["CEB621"], d["CEB621"].document,
        OnFile(d["CEB311"].document, d["CEB411"].document, other),
    )  # fmt: skip
    assert [e.code for e in found] == ["C310"]


def test_an_unknown_code_on_the_list_is_c313() -> None:
    d = _docs("import")
    invt = d["CEB621"].document
    other = type(invt)({**invt.head, "currency": "999"}, invt.lines)
    on_file = OnFile(d["CEB311"].document, d["CEB411"].document, d["CEB511"].document)
    with pytest.raises(BusinessError) as caught:
        declaration_of(CATALOGUE["CEB621"], other, on_file)
    assert (caught.value.code, caught.value.field) == ("C313", "currency")


def test_the_uscc_standing_for_a_customs_code_is_valid_and_stable() -> None:
    assert uscc_of("3301961Q43") == uscc_of("3301961Q43")
    assert uscc_of("3301961Q43").startswith("91330100")
    assert uscc_problem(uscc_of("440316T004")) is None


def test_document_keys() -> None:
    head = {"ebpCode": "E", "orderNo": "O", "copNo": "C"}
    assert doc_key(CATALOGUE["CEB311"], head, "ent") == "CEB311|E|O"
    assert doc_key(CATALOGUE["CEB621"], head, "ent") == "CEB621|ent|C"


# --- receipts ---------------------------------------------------------------------------------

AT = datetime(2026, 12, 6, 6, 30, 45, 123456, tzinfo=UTC)


def test_return_time_is_17_digits_of_beijing_time() -> None:
    assert return_time(AT) == "20261206143045123"


def test_receipt_xml_is_a_ceb_message() -> None:
    receipt = Receipt("CEB312", "G1", "120", info("120", "新增申报成功[G1]"), AT,
                      {"ebpCode": "E", "orderNo": "O"})  # fmt: skip
    root = ET.fromstring(decode(receipt_xml(receipt, encoding="gb2312")))
    assert root.tag == f"{C}CEB312Message" and root.get("version") == "1.0"
    one = root.find(f"{C}OrderReturn")
    assert one is not None
    fields = {c.tag.removeprefix(C): c.text for c in one}
    assert fields == {"guid": "G1", "ebpCode": "E", "orderNo": "O", "returnStatus": "120",
                      "returnTime": "20261206143045123",
                      "returnInfo": "[Code:120;Desc:海关入库; 新增申报成功[G1]]"}  # fmt: skip
    assert receipt_xml(receipt, encoding="gb2312").startswith(
        b"<?xml version='1.0' encoding='gb2312'"
    )


def test_an_answer_groups_receipts_by_message() -> None:
    one = Receipt("CEB312", "G1", "2", info("2"), AT)
    two = Receipt("CEB312", "G2", "2", info("2"), AT)
    root = ET.fromstring(answer_xml([one, two]))
    assert root.tag == f"{C}CEB312Message" and len(root) == 2
    mixed = ET.fromstring(answer_xml([one, Receipt("CEB702", "G3", "120", info("120"), AT)]))
    assert mixed.tag == f"{C}Receipts" and len(mixed) == 2


def test_a_format_error_names_element_and_rule() -> None:
    error = FormatError("Payment[0]/amountPaid", "xml.required", "missing", guid="G", kind="CEB411")
    root = ET.fromstring(format_error_xml(error, AT))
    fields = {c.tag.removeprefix(C): c.text for c in root[0]}
    assert root.tag == f"{C}CEB900Message"
    assert (fields["oriCopMsgId"], fields["oriMessageType"]) == ("G", "CEB411")
    assert fields["oriBizMessage"] == "Payment[0]/amountPaid"
    assert "[rule xml.required]" in (fields["returnInfo"] or "")


def test_receipts_follow_the_causing_event() -> None:
    """A customs release carries CEB622 800; a rejection's 100 says the saga's reason; the
    tax event becomes the CEB816 with its figures."""
    d = _docs("import")
    listed = d["CEB621"]
    status = StatusChanged(
        enterprise_id="ent", direction=Direction.IMPORT, trade_mode=TradeMode.CBEC_RETAIL,
        status="in_progress", state="s", trigger="customs.goods.released", steps={},
        figures=Figures(declared_value=Decimal(1), currency="CNY"),
    )  # fmt: skip
    release = {"receipts": [{"message": "CEB622", "status": "800", "info": "[Code:800]"},
                            {"message": "CEB508", "status": "120", "info": "x"}]}  # fmt: skip
    accepted = {"invt_no": "2924" + "2026I000000001", "pre_no": "B20261206000000001"}
    got = receipts_of(status, release, accepted, listed, AT)
    assert [(r.message, r.status, r.keys["invtNo"]) for r in got] == [
        ("CEB622", "800", "29242026I000000001")
    ]
    rejected = status.model_copy(update={"reason": "C301 cbec.amount_paid: …"})
    got = receipts_of(rejected, {"receipts": [{"message": "CEB622", "status": "100",
                                               "info": "x"}]}, None, listed, AT)  # fmt: skip
    assert got[0].info == "[Code:100;Desc:海关退单; C301 cbec.amount_paid: …]"
    taxed = status.model_copy(update={"trigger": "tax.import.collected"})
    cause = {"duty": {"amount": "0"}, "vat": {"amount": "273.0"},
             "consumption_tax": {"amount": "0"}, "total": "273"}  # fmt: skip
    (bill,) = receipts_of(taxed, cause, accepted, listed, AT)
    assert bill.message == "CEB816" and bill.extra["taxTotal"] == "273.00"


def test_fresh_samples_keep_their_links() -> None:
    a, b = fresh([_sample("import-1"), _sample("import-4")], "TAG00001")
    assert b"ORD20261206TAG00001" in a and b"ORD20261206TAG00001" in b
    assert b"SW-GREEN-ITAG00001" in b and b"5D1C0F6E" not in a + b
