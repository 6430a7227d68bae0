"""Decoding QBO answers: pages read for their ids, payloads with the library's exact decimals."""

from __future__ import annotations

import json
from decimal import Decimal
from pathlib import Path

import pytest
import simplejson
from hypothesis import given, settings
from hypothesis import strategies as st

from reconcile.sources.qbo_decode import RawRows, UnreadableAnswer, read_page

SAMPLES = Path(__file__).parent / "fixtures" / "qbo-samples"


def _library_decode(body: bytes) -> object:
    """What python-quickbooks makes of an answer with ``use_decimal=True``."""
    return json.loads(body.decode("utf-8"), parse_float=Decimal)


def _envelope(entity: str, rows: list, **extra: object) -> bytes:
    return simplejson.dumps(
        {"QueryResponse": {entity: rows, **extra}, "time": "2026-11-26T01:00:00.000-08:00"}
    ).encode()


def test_a_real_query_answer_reads_like_the_library():
    body = (SAMPLES / "exquickbooks_query_item_QueryResponse.json").read_bytes()
    page = read_page(body, "Item")
    expected = _library_decode(body)["QueryResponse"]["Item"]
    assert page.key == "Item" and len(page) == 19
    assert page.ids == [row["Id"] for row in expected]
    assert page.payloads() == expected


def test_real_entities_inside_an_envelope_decode_exactly():
    for line in (SAMPLES / "airbyte_expected_records_subset.jsonl").read_text().splitlines():
        record = json.loads(line, parse_float=Decimal)["data"]
        body = simplejson.dumps({"QueryResponse": {"Thing": [record], "maxResults": 1}}, use_decimal=True).encode()
        page = read_page(body, "Thing")
        assert page.ids == [record["Id"]]
        assert page.payloads() == [record]
        assert page.payloads() == _library_decode(body)["QueryResponse"]["Thing"]


def test_past_the_last_page_is_empty():
    page = read_page(b'{"QueryResponse": {}, "time": "2026-11-26T01:00:00.000-08:00"}', "Invoice")
    assert (page.key, page.ids, page.payloads()) == ("", [], [])


def test_records_under_another_name_are_found():
    page = read_page(_envelope("invoice", [{"Id": "7"}], startPosition=1), "Invoice")
    assert (page.key, page.ids) == ("invoice", ["7"])


def test_unusual_members_and_rows_take_the_loose_path():
    body = _envelope("Invoice", [{"Id": 12}, {"DocNumber": "no id"}, "not an object"], warning="partial", extra=None)
    page = read_page(body, "Invoice")
    assert page.ids == ["12", None, None]
    assert page.payloads() == [{"Id": 12}, {"DocNumber": "no id"}, "not an object"]


@pytest.mark.parametrize(
    ("body", "reason"),
    [
        (b"<html>Bad gateway</html>", "not JSON"),
        (b'{"QueryResponse": {"Invoice": [{"Id": "1"}', "not JSON"),
        (b'{"time": "2026-11-26"}', "no QueryResponse"),
        (b'{"QueryResponse": [1, 2]}', "QueryResponse is not QBO's"),
    ],
    ids=["html", "cut-short", "no-response", "response-not-object"],
)
def test_unreadable_answers_say_why(body, reason):
    with pytest.raises(UnreadableAnswer, match=reason):
        read_page(body, "Invoice")


def test_raw_rows_keep_only_the_positions_asked():
    first = read_page(_envelope("Invoice", [{"Id": "1"}, {"Id": "2"}]), "Invoice")
    second = read_page(_envelope("Invoice", [{"Id": "2"}, {"Id": "3", "TotalAmt": 1.10}]), "Invoice")
    rows = RawRows()
    rows.add(first)
    rows.add(second, keep=[1])
    assert len(rows) == 3 and rows.ids() == ["1", "2", "3"]
    assert rows.payloads() == [{"Id": "1"}, {"Id": "2"}, {"Id": "3", "TotalAmt": Decimal("1.10")}]


_money = st.decimals(allow_nan=False, allow_infinity=False, places=None, min_value=-(10**15), max_value=10**15)
_leaf = st.one_of(st.none(), st.booleans(), st.integers(-(10**20), 10**20), _money, st.text(max_size=8))
_value = st.recursive(
    _leaf,
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=5), inner, max_size=4),
    max_leaves=12,
)


@settings(max_examples=200, deadline=None)
@given(rows=st.lists(st.dictionaries(st.text(max_size=6), _value, max_size=5), max_size=4))
def test_payloads_equal_the_library_decode_for_any_numbers(rows):
    body = _envelope("Invoice", rows)
    decoded = read_page(body, "Invoice").payloads()
    expected = _library_decode(body)["QueryResponse"]["Invoice"]
    assert decoded == expected
    assert repr(decoded) == repr(expected)  # same types and the same digits (Decimal('1.10') stays 1.10)
