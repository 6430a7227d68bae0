"""Pairing: link, sync_log, number, probable; content pairing of shared keys; look-up planning."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace
from datetime import UTC, date, datetime

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from reconcile import frames as F
from reconcile.match import MATCHES, _stable_order, arrow_take, factorize_together, match_records, plan_lookups
from reconcile.model import AwraData, QboData
from reconcile.params import RunParams
from tests.scenario import build_scenario

PARAMS = RunParams(
    run_id="t",
    company="c",
    company_name="C",
    date_from=date(2026, 3, 1),
    date_to=date(2026, 3, 31),
    now=datetime(2026, 4, 1, tzinfo=UTC),
)


def txn(rid, number, amount=1000, day="2026-03-10", party="p1", link=None, entity="invoice", **kw):
    return {
        "entity": entity,
        "id": rid,
        "number": number,
        "txn_date": pd.Timestamp(day),
        "party_id": party,
        "amount_cents": amount,
        "status": kw.pop("status", "posted"),
        "is_void": kw.pop("is_void", False),
        "qbo_link": link,
        "in_window": kw.pop("in_window", True),
        "data_ok": kw.pop("data_ok", True),
        **kw,
    }


def data(awra_rows, qbo_rows, sync=(), maps=(), broken=()):
    """AWRA and QBO frames; QBO holds a record for every party mapping's ``qbo_id`` but those in ``broken``."""
    empty = AwraData.empty()
    parties = [
        {"ref_type": m["mapping_type"], "id": m["qbo_id"], "name": f"Party {m['qbo_id']}", "active": True}
        for m in maps
        if m["mapping_type"] in ("customer", "vendor") and m["qbo_id"] not in broken
    ]
    awra = AwraData(
        transactions=F.conform(pd.DataFrame(awra_rows, columns=F.TRANSACTIONS.names), F.TRANSACTIONS),
        lines=empty.lines,
        masters=empty.masters,
        mappings=F.conform(pd.DataFrame(list(maps), columns=F.MAPPINGS.names), F.MAPPINGS),
        sync_log=F.conform(pd.DataFrame(list(sync), columns=F.SYNC_LOG.names), F.SYNC_LOG),
        sync_runs=empty.sync_runs,
        data_quality=empty.data_quality,
    )
    qbo = QboData(
        transactions=F.conform(pd.DataFrame(qbo_rows, columns=F.TRANSACTIONS.names), F.TRANSACTIONS),
        lines=QboData.empty().lines,
        references=F.conform(pd.DataFrame(parties, columns=F.REFERENCES.names), F.REFERENCES),
    )
    return awra, qbo


def pairs_of(matches: pd.DataFrame) -> dict[str, tuple[str, str]]:
    paired = matches[matches["awra_id"].notna() & matches["qbo_id"].notna()]
    return {a: (q, m) for a, q, m in zip(paired["awra_id"], paired["qbo_id"], paired["match_method"], strict=True)}


def test_frame_follows_its_schema():
    awra, qbo, params = build_scenario()
    F.check_frame(match_records(awra, qbo, params), MATCHES)


def test_link_beats_number():
    # a1 is linked to q2 although q1 carries its number: the link wins, q1 is an extra copy
    awra, qbo = data([txn("a1", "N1", link="q2")], [txn("q1", "N1"), txn("q2", "N1-edited")])
    m = match_records(awra, qbo, PARAMS)
    assert pairs_of(m) == {"a1": ("q2", "link")}
    extra = m[m["qbo_id"] == "q1"].iloc[0]
    assert extra["outcome"] == "duplicate_in_qbo"
    assert awra.transactions["id"].iat[int(extra["ref_row"])] == "a1"


def test_latest_succeeded_sync_gives_the_link():
    sync = [
        {"id": "s1", "connector": "qbo", "record_type": "invoice", "record_id": "a1", "status": "succeeded",
         "qbo_id": "q9", "attempted_at": pd.Timestamp("2026-03-02", tz="UTC")},
        {"id": "s2", "connector": "qbo", "record_type": "invoice", "record_id": "a1", "status": "succeeded",
         "qbo_id": "q2", "attempted_at": pd.Timestamp("2026-03-05", tz="UTC")},
        {"id": "s3", "connector": "qbo", "record_type": "invoice", "record_id": "a1", "status": "failed",
         "qbo_id": None, "attempted_at": pd.Timestamp("2026-03-06", tz="UTC")},
        {"id": "s4", "connector": "other", "record_type": "invoice", "record_id": "a1", "status": "succeeded",
         "qbo_id": "q9", "attempted_at": pd.Timestamp("2026-03-07", tz="UTC")},
    ]  # fmt: skip
    awra, qbo = data([txn("a1", "X")], [txn("q2", "Y"), txn("q9", "Z")], sync=sync)
    m = match_records(awra, qbo, PARAMS)
    assert pairs_of(m)["a1"] == ("q2", "sync_log")
    row = m[m["awra_id"] == "a1"].iloc[0]
    assert awra.sync_log["id"].iat[int(row["sync_row"])] == "s3"  # the latest attempt overall


def test_shared_numbers_pair_by_content_not_row_order():
    awra, qbo = data(
        [txn("a1", "N", amount=500), txn("a2", "N", amount=900)],
        [txn("q1", "N", amount=900), txn("q2", "N", amount=500)],
    )
    assert pairs_of(match_records(awra, qbo, PARAMS)) == {"a1": ("q2", "number"), "a2": ("q1", "number")}
    # then date, when the amounts tie
    awra, qbo = data(
        [txn("a1", "N", day="2026-03-05"), txn("a2", "N", day="2026-03-20")],
        [txn("q1", "N", day="2026-03-21"), txn("q2", "N", day="2026-03-04")],
    )
    assert pairs_of(match_records(awra, qbo, PARAMS)) == {"a1": ("q2", "number"), "a2": ("q1", "number")}


def test_two_awra_records_with_one_number():
    awra, qbo = data([txn("a1", "N", amount=700), txn("a2", "N", amount=500)], [txn("q1", "N", amount=500)])
    m = match_records(awra, qbo, PARAMS)
    assert pairs_of(m) == {"a2": ("q1", "number")}
    dup = m[m["awra_id"] == "a1"].iloc[0]
    assert dup["outcome"] == "duplicate_in_awra"
    assert qbo.transactions["id"].iat[int(dup["ref_row"])] == "q1"


def test_lone_duplicates_on_one_side():
    awra, qbo = data([txn("a2", "N"), txn("a1", "N")], [])
    m = match_records(awra, qbo, PARAMS).set_index("awra_id")
    assert m.loc["a1", "outcome"] == "missing_in_qbo"
    assert m.loc["a2", "outcome"] == "duplicate_in_awra"


def test_probable_match_needs_mapping_amount_and_near_date():
    maps = [{"mapping_type": "customer", "awra_id": "p1", "qbo_id": "58"}]
    awra, qbo = data(
        [txn("a1", "N1", amount=750, day="2026-03-10"), txn("a2", "N2", amount=999, day="2026-03-10")],
        [
            txn("q1", None, amount=750, day="2026-03-12", party="58"),  # within 3 days
            txn("q2", None, amount=999, day="2026-03-20", party="58"),  # too far
        ],
        maps=maps,
    )
    m = match_records(awra, qbo, PARAMS)
    assert pairs_of(m) == {"a1": ("q1", "probable")}
    assert match_records(awra, qbo, replace(PARAMS, probable_match_days=0))["match_method"].isna().all()


def test_out_of_window_twin_is_a_lookup_pair():
    awra, qbo = data([txn("a1", "N1", day="2026-03-31")], [txn("q1", "N1", day="2026-04-02", in_window=False)])
    m = match_records(awra, qbo, PARAMS)
    assert pairs_of(m) == {"a1": ("q1", "lookup_number")}
    assert m["outcome"].tolist() == ["out_of_window"]


def test_records_outside_the_filter_still_pair():
    awra, qbo = data([txn("a1", "N1", status="draft")], [txn("q1", "N1")])
    m = match_records(awra, qbo, PARAMS)
    assert pairs_of(m) == {"a1": ("q1", "number")}


def test_voided_qbo_record_alone_is_outside_the_filter():
    awra, qbo = data([], [txn("q1", "N1", is_void=True, status="void")])
    assert match_records(awra, qbo, PARAMS)["outcome"].tolist() == ["outside_filter"]


def test_repeated_row_keeps_the_in_window_copy():
    awra, qbo = data([txn("a1", "N1", in_window=False), txn("a1", "N1")], [txn("q1", "N1")])
    m = match_records(awra, qbo, PARAMS)
    assert sorted(m["outcome"]) == ["matched", "repeated_row"]
    assert int(m.loc[m["outcome"] == "matched", "awra_row"].iat[0]) == 1


def test_plan_lookups_asks_for_unpaired_records_only():
    awra, qbo, params = build_scenario()
    in_window = AwraData(
        transactions=awra.transactions[awra.transactions["in_window"].to_numpy(dtype=bool)].reset_index(drop=True),
        lines=awra.lines,
        masters=awra.masters,
        mappings=awra.mappings,
        sync_log=awra.sync_log,
        sync_runs=awra.sync_runs,
        data_quality=awra.data_quality,
    )
    q_in = QboData(
        transactions=qbo.transactions[qbo.transactions["in_window"].to_numpy(dtype=bool)].reset_index(drop=True),
        lines=qbo.lines,
        references=qbo.references,
    )
    plan = plan_lookups(in_window, q_in, params)
    assert "INV-1021" in plan.qbo_numbers["invoice"] and "121" in plan.qbo_ids["invoice"]
    assert "999" in plan.qbo_ids["invoice"]  # a-1014's stale link
    assert "INV-1001" not in plan.qbo_numbers["invoice"]  # paired in the window
    assert "122" in plan.awra_links["invoice"] and "INV-1022" in plan.awra_numbers["invoice"]
    assert "BILL-3002" in plan.qbo_numbers["bill"]
    assert not plan.is_empty()


def test_plan_lookups_uses_the_sync_log_link():
    sync = [
        {"id": "s1", "connector": "qbo", "record_type": "invoice", "record_id": "a1", "status": "succeeded",
         "qbo_id": "q7", "attempted_at": pd.Timestamp("2026-03-02", tz="UTC")},
    ]  # fmt: skip
    awra, qbo = data([txn("a1", "N1")], [], sync=sync)
    plan = plan_lookups(awra, qbo, PARAMS)
    assert plan.qbo_ids == {"invoice": frozenset({"q7"})}
    assert plan.qbo_numbers == {"invoice": frozenset({"N1"})}
    assert plan.awra_links == {} and plan.awra_numbers == {}


def test_two_synced_awra_records_with_one_number():
    # both have their own QBO twin: the higher id is still an extra AWRA copy of the number
    awra, qbo = data(
        [txn("10", "N", link="q1"), txn("9", "N", link="q2")],
        [txn("q1", "N"), txn("q2", "N")],
    )
    m = match_records(awra, qbo, PARAMS).set_index("awra_id")
    assert m.loc["10", "awra_duplicate"] and not m.loc["9", "awra_duplicate"]  # 10 > 9 as numbers
    assert (m["outcome"] == "matched").all()


def test_unpaired_bad_rows_and_voids_are_not_missing_or_not_ready():
    awra, qbo = data(
        [txn("a1", "N1", data_ok=False), txn("a2", "N2", status="void", is_void=True)],
        [txn("q1", "N3", data_ok=False)],
    )
    m = match_records(awra, qbo, PARAMS)
    assert sorted(m["outcome"]) == ["bad_data", "bad_data", "outside_filter"]


def _same_partition(values: Sequence[object], codes: np.ndarray) -> bool:
    """Equal values share a code, different values do not, missing values are -1."""
    for i, v in enumerate(values):
        if (codes[i] == -1) != (v is None):
            return False
        for j, w in enumerate(values):
            if v is not None and w is not None and (v == w) != (codes[i] == codes[j]):
                return False
    return True


def test_factorize_together_codes_equal_texts_alike_whatever_their_shape():
    rng = np.random.default_rng(11)
    pool = ["", "a", "a\x00", "ab", "é", "INV-00000001", "INV-00000002", "QB-7", "x" * 9, "y" * 17, "z" * 31]
    for _ in range(200):
        values = [None if rng.random() < 0.1 else str(rng.choice(pool)) + str(rng.integers(0, 3)) for _ in range(60)]
        cut = int(rng.integers(0, 61))
        left = pd.Series(pd.array(values[:cut], dtype="string"))
        right = pd.Series(pd.array(values[cut:], dtype="string"))
        assert _same_partition(values, np.concatenate(factorize_together(left, right)))


def test_factorize_together_integer_ids_with_far_outliers():
    rng = np.random.default_rng(12)
    for _ in range(200):
        near = rng.integers(1_000, 1_100, 40)
        far = rng.integers(0, 10**17, 40)
        raw = np.where(rng.random(40) < 0.2, far, near)
        values = [None if rng.random() < 0.1 else str(v) for v in raw]
        left = pd.Series(pd.array(values[:25], dtype="string"))
        right = pd.Series(pd.array(values[25:], dtype="string"))
        assert _same_partition(values, np.concatenate(factorize_together(left, right)))


def test_stable_order_is_the_text_sort_of_entity_awra_id_qbo_id():
    rng = np.random.default_rng(13)
    pool = ["1", "2", "10", "9", "a", "b", "", "é"]
    for _ in range(300):
        n_a, n_q, m = int(rng.integers(1, 12)), int(rng.integers(1, 12)), int(rng.integers(0, 25))
        a_ids = pd.Series(pd.array([None if rng.random() < 0.15 else rng.choice(pool) for _ in range(n_a)], "string"))
        q_ids = pd.Series(pd.array([None if rng.random() < 0.15 else rng.choice(pool) for _ in range(n_q)], "string"))
        a_rows, q_rows, ent = rng.integers(-1, n_a, m), rng.integers(-1, n_q, m), rng.integers(0, 3, m)
        table = pa.table({"e": ent, "a": arrow_take(a_ids, a_rows), "q": arrow_take(q_ids, q_rows)})
        keys = [(name, "ascending", "at_start") for name in ("e", "a", "q")]
        expected = pc.sort_indices(table, sort_keys=keys).to_numpy()
        assert (_stable_order(ent, a_rows, q_rows, a_ids, q_ids) == expected).all()
