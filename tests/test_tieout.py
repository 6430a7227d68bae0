"""Totals, effects and the bridge."""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pandas as pd

from reconcile import frames as F
from reconcile.match import PairingArrays, pair_records
from reconcile.tieout import RunArrays, cents_text, entity_totals
from reconcile.transactions import reconcile_transactions
from tests.scenario import build_scenario
from tests.test_match import PARAMS, data, txn


def test_cents_text():
    values = pd.Series(pd.array([0, 5, -5, 1250, -100001, None], dtype="Int64"))
    assert cents_text(values).tolist()[:5] == ["0.00", "0.05", "-0.05", "12.50", "-1000.01"]
    assert pd.isna(cents_text(values).iloc[5])


def test_totals_follow_the_contract_definition():
    awra, qbo = data(
        [
            txn("a1", "N1", amount=100),
            txn("a2", "N2", amount=200, status="approved"),  # not the filter
            txn("a3", "N3", amount=400, data_ok=False),  # bad data
            txn("a4", "N4", amount=800, in_window=False),  # looked up
        ],
        [
            txn("q1", "N1", amount=1000),
            txn("q2", "N2", amount=2000, is_void=True, status="void"),  # not on the QBO side
            txn("q3", "N3", amount=4000),
        ],
    )
    result = reconcile_transactions(awra, qbo, PARAMS)
    invoice = result.totals[0]
    assert (invoice.awra_count, invoice.awra_total_cents) == (1, 100)
    assert (invoice.qbo_count, invoice.qbo_total_cents) == (2, 5000)
    assert invoice.unexplained_cents == 0
    assert invoice.bridge["mismatch"] == 100 - 1000
    assert invoice.bridge["data_quality"] == -4000


def test_void_filter_uses_the_voided_qbo_side():
    awra, qbo = data([txn("a1", "N1", status="void", is_void=True)], [txn("q1", "N1", is_void=True, status="void")])
    result = reconcile_transactions(awra, qbo, replace(PARAMS, status="void"))
    invoice = result.totals[0]
    assert (invoice.awra_total_cents, invoice.qbo_total_cents, invoice.unexplained_cents) == (1000, 1000, 0)


def test_each_effect_is_carried_once():
    awra, qbo, params = build_scenario()
    result = reconcile_transactions(awra, qbo, params)
    f = result.findings
    # a-1002 differs in amount, line_total and its line's amount: only the amount carries the money
    rows = f[f["awra_id"] == "a-1002"]
    assert sorted(rows["effect_cents"].tolist()) == [0, 0, 1000]
    assert rows.loc[rows["effect_cents"] != 0, "field"].iat[0] == "amount"
    # a-1014 is missing and its sync log contradicts QBO: the missing finding carries it
    rows = f[f["awra_id"] == "a-1014"].set_index("category")
    assert (rows.loc["missing_in_qbo", "effect_cents"], rows.loc["sync_conflict", "effect_cents"]) == (1500, 0)


def test_totals_can_be_recomputed_with_extra_zero_effect_findings():
    awra, qbo, params = build_scenario()
    result = reconcile_transactions(awra, qbo, params)
    extra = F.conform(
        pd.DataFrame(
            {"run_id": ["scenario"], "entity": ["invoice"], "category": ["retry_loop"], "awra_id": ["a-1009"],
             "effect_cents": [0]}
        ),
        F.FINDINGS,
    )  # fmt: skip
    again = entity_totals(pd.concat([result.findings, extra], ignore_index=True), awra, qbo, params)
    assert again[0].category_counts["retry_loop"] == 1
    assert [[c.unexplained_cents for c in t.currencies] for t in again] == [[0, 0], [0], [0], [0]]
    assert again[0].bridge == result.totals[0].bridge


def test_a_broken_effect_shows_as_unexplained():
    awra, qbo, params = build_scenario()
    result = reconcile_transactions(awra, qbo, params)
    broken = result.findings.assign(effect_cents=pd.array([0] * len(result.findings), dtype="Int64"))
    totals = entity_totals(broken, awra, qbo, params)
    usd = {c.currency: c for c in totals[0].currencies}["USD"]
    assert usd.unexplained_cents == usd.awra_total_cents - usd.qbo_total_cents != 0


def test_run_arrays_from_pairing_match_those_derived_from_the_frames():
    # reconcile_transactions hands the pairing's arrays to RunArrays instead of deriving them again
    awra, qbo, params = build_scenario()
    matches, pairing = pair_records(awra, qbo, params)
    given = RunArrays(matches, awra, qbo, params, pairing)
    derived = RunArrays(matches, awra, qbo, params)
    for field in PairingArrays.__dataclass_fields__:
        assert np.array_equal(getattr(given, field), getattr(derived, field)), field
    assert np.array_equal(given.effects, derived.effects)
