"""The source bundles: unions of a window with its look-ups (``AwraData`` / ``QboData.extended``)."""

from __future__ import annotations

from typing import Any

import pandas as pd
from hypothesis import given, settings
from hypothesis import strategies as st

from reconcile import frames as F
from reconcile.model import LookupRequest, QboData, _union

KEY = ["entity", "txn_id", "line_no", "ref_id"]


def lines(rows: list[tuple[Any, Any, Any, Any]]) -> pd.DataFrame:
    frame = pd.DataFrame(rows, columns=KEY, dtype=object)
    return F.conform(frame.assign(line_no=pd.array(frame["line_no"].tolist(), dtype="Int64")), F.LINES)


def naive_union(first: pd.DataFrame, second: pd.DataFrame) -> pd.DataFrame:
    """What ``_union`` did before it looked at candidate rows only: key tuples of every row."""
    seen = pd.MultiIndex.from_frame(first[KEY].astype("string").fillna(""))
    incoming = pd.MultiIndex.from_frame(second[KEY].astype("string").fillna(""))
    return F.concat_frames([first, second[~incoming.isin(seen)]], F.LINES)


row = st.tuples(
    st.sampled_from(["invoice", "bill"]),
    st.sampled_from(["1", "2", "", None]),
    st.sampled_from([0, 1, 2, None]),
    st.sampled_from(["7", "", None]),
)


@settings(max_examples=60, deadline=None)
@given(st.lists(row, min_size=1, max_size=12), st.lists(row, min_size=1, max_size=6))
def test_union_drops_exactly_the_rows_whose_key_is_already_there(first: list[Any], second: list[Any]) -> None:
    a, b = lines(first), lines(second)
    pd.testing.assert_frame_equal(_union(a, b, F.LINES, KEY), naive_union(a, b))


def test_extended_raw_is_dict_update_order_and_values() -> None:
    window = QboData.empty()
    window = QboData(
        window.transactions, window.lines, window.references, raw={"Invoice": {"1": {"v": 1}, "2": {"v": 2}}}
    )
    more = QboData(
        window.transactions, window.lines, window.references, raw={"Invoice": {"3": {"v": 3}, "1": {"v": 9}}}
    )
    raw = window.extended(more).raw
    assert raw == {"Invoice": {"1": {"v": 9}, "2": {"v": 2}, "3": {"v": 3}}}
    assert list(raw["Invoice"]) == ["1", "2", "3"]


def test_lookup_requests_merge_as_the_union_of_their_key_sets():
    first = LookupRequest(qbo_ids={"invoice": frozenset({"1", "2"})}, awra_numbers={"bill": frozenset({"B-1"})})
    second = LookupRequest(qbo_ids={"invoice": frozenset({"2", "3"}), "payment": frozenset({"9"})})
    both = first.merged(second)
    assert both.qbo_ids == {"invoice": frozenset({"1", "2", "3"}), "payment": frozenset({"9"})}
    assert both.awra_numbers == {"bill": frozenset({"B-1"})}
    assert not both.qbo_numbers and not both.awra_links
    assert first.merged(None) is first
