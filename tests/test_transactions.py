"""The transaction stage on the documented scenario, record by record, and its invariants."""

from __future__ import annotations

from datetime import UTC, date, datetime

import numpy as np
import pandas as pd
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from reconcile import frames as F
from reconcile.model import AwraData, QboData
from reconcile.params import RunParams, Tolerances
from reconcile.transactions import reconcile_transactions
from tests.scenario import EXPECTED, EXPECTED_EFFECTS, build_scenario

KEY = ["entity", "category", "awra_id", "qbo_id", "field"]


def _keys(findings: pd.DataFrame) -> list[tuple]:
    return [tuple(None if pd.isna(v) else v for v in row) for row in findings[KEY].itertuples(index=False)]


@pytest.fixture(scope="module")
def scenario():
    awra, qbo, params = build_scenario()
    return awra, qbo, params, reconcile_transactions(awra, qbo, params)


# ---------------------------------------------------------------------------------------------
# the scenario, record by record


def test_scenario_finds_exactly_the_planted_findings(scenario):
    *_, result = scenario
    got = _keys(result.findings)
    assert sorted(got, key=str) == sorted(EXPECTED, key=str)


@pytest.mark.parametrize("key", EXPECTED, ids=lambda k: "-".join(str(x) for x in k))
def test_scenario_each_planted_finding(scenario, key):
    *_, result = scenario
    assert _keys(result.findings).count(key) == EXPECTED.count(key), key  # one per line for line fields


def test_scenario_effects(scenario):
    *_, result = scenario
    for key, effect in zip(_keys(result.findings), result.findings["effect_cents"], strict=True):
        assert effect == EXPECTED_EFFECTS.get(key, 0), key


def _in(totals, currency):
    return {c.currency: c for c in totals.currencies}[currency]


def test_scenario_totals_and_bridge(scenario):
    *_, result = scenario
    totals = {t.entity: t for t in result.totals}
    assert [t.entity for t in result.totals] == list(F.ENTITIES)
    # invoices come in two currencies (a-1006 is KES in QBO): never added together
    invoice_usd, invoice_kes = _in(totals["invoice"], "USD"), _in(totals["invoice"], "KES")
    assert [c.currency for c in totals["invoice"].currencies] == ["KES", "USD"]
    assert totals["invoice"].awra_total_cents is None and totals["invoice"].unexplained_cents is None
    assert (invoice_usd.awra_total_cents, invoice_usd.qbo_total_cents) == (130600, 124000)
    assert (invoice_kes.awra_total_cents, invoice_kes.qbo_total_cents, invoice_kes.qbo_count) == (0, 8000, 1)
    assert invoice_kes.bridge["mismatch"] == -8000 and invoice_kes.unexplained_cents == 0
    assert (totals["bill"].awra_total_cents, totals["bill"].qbo_total_cents) == (17500, 12000)
    assert (totals["journal"].awra_total_cents, totals["journal"].qbo_total_cents) == (110000, 115000)
    assert (totals["payment"].awra_total_cents, totals["payment"].qbo_total_cents) == (10000, 10000)
    assert totals["invoice"].awra_count == 23
    assert totals["invoice"].category_counts["mismatch"] == 15  # 13 header fields, 2 lines
    assert invoice_usd.bridge["missing_in_qbo"] == 4000 + 3000 + 1500 + 900
    for t in result.totals:
        assert t.ties_out, t
        for c in t.currencies:
            assert c.unexplained_cents == 0, c
            assert c.awra_total_cents - c.qbo_total_cents == sum(c.bridge.values())


def test_a_pair_in_two_currencies_splits_its_effect(scenario):
    *_, result = scenario
    row = _one(result, awra_id="a-1006", field="currency")
    assert (row.currency, row.effect_cents, row.other_currency, row.other_effect_cents) == ("USD", 8000, "KES", -8000)
    others = result.findings[result.findings["other_currency"].notna()]
    assert len(others) == 1


def _one(result, **match) -> pd.Series:
    f = result.findings
    mask = np.ones(len(f), dtype=bool)
    for col, value in match.items():
        mask &= (f[col] == value).fillna(False).to_numpy(dtype=bool)
    assert mask.sum() == 1, match
    return f[mask].iloc[0]


def test_scenario_values_and_words(scenario):
    *_, result = scenario
    row = _one(result, awra_id="a-1002", field="amount")
    assert (row.awra_value, row.qbo_value, row.difference) == ("250.00", "240.00", "10.00")
    assert row.match_method == "link" and row.party == "Acme Ltd" and row.amount_cents == 25000
    assert row.txn_date == pd.Timestamp("2026-03-03")
    row = _one(result, awra_id="a-1004", field="txn_date")
    assert (row.awra_value, row.qbo_value, row.difference) == ("2026-03-10", "2026-03-12", "-2")
    row = _one(result, awra_id="a-1021", field="txn_date")
    assert row.match_method == "lookup_link" and row.effect_cents == 4400
    row = _one(result, awra_id="a-1015", category="sync_conflict")
    assert "do not retry: it is in QBO as Id 115" in row.action
    assert (row.sync_status, row.retry_count, row.message) == ("failed", 1, "Read timed out")
    row = _one(result, awra_id="a-1014", category="sync_conflict")
    assert "succeeded" in row.cause and "999" in row.cause
    row = _one(result, awra_id="a-1016", category="sync_conflict")
    assert "stuck" in row.cause
    row = _one(result, awra_id="a-1009", category="missing_in_qbo")
    assert (row.sync_status, row.retry_count) == ("failed", 3)
    assert "no QBO mapping" in row.message and "sync error" in row.action
    row = _one(result, awra_id="a-1023", field="number")
    assert row.match_method == "probable" and row.awra_value == "INV-1023"
    row = _one(result, category="missing_in_awra")
    assert row.qbo_id == "201" and row.party == "Acme Ltd" and row.amount_cents == 4500
    row = _one(result, category="duplicate_in_qbo")
    assert "113" in row.cause and "112" in row.cause
    row = _one(result, awra_id="a-1005", field="party")
    assert row.awra_value == "Beta Stores → QBO 59" and row.qbo_value == "Acme Ltd (58)"
    for value in result.findings[["cause", "action"]].itertuples(index=False):
        assert value.cause and value.action


def test_scenario_match_methods(scenario):
    *_, result = scenario
    m = result.matches.set_index("awra_id")
    assert m.loc["a-1024", "match_method"] == "sync_log" and m.loc["a-1024", "qbo_id"] == "124"
    assert m.loc["a-1001", "match_method"] == "link"
    assert m.loc["j-4001", "match_method"] == "number"
    assert m.loc["a-1023", "match_method"] == "probable"
    assert m.loc["a-1022", "match_method"] == "lookup_link"


def test_scenario_outcomes_one_per_record(scenario):
    awra, qbo, _, result = scenario
    out = result.outcomes
    assert not out.duplicated(["side", "entity", "id"]).any()
    assert len(out) == len(awra.transactions) + len(qbo.transactions)
    by = out.set_index(["side", "id"])["outcome"]
    assert by[("qbo", "130")] == "outside_filter"
    assert by[("qbo", "119")] == "matched"
    assert by[("awra", "a-1019")] == "not_ready"
    assert by[("awra", "a-1021")] == "out_of_window"


def test_scenario_findings_follow_the_schema(scenario):
    *_, result = scenario
    F.check_frame(result.findings, F.FINDINGS)
    assert list(result.findings.columns) == F.FINDINGS.names
    assert (result.findings["run_id"] == "scenario").all()


def test_inputs_are_not_modified():
    awra, qbo, params = build_scenario()
    before = (awra.transactions.copy(), qbo.transactions.copy(), awra.sync_log.copy(), awra.mappings.copy())
    reconcile_transactions(awra, qbo, params)
    for old, new in zip(before, (awra.transactions, qbo.transactions, awra.sync_log, awra.mappings), strict=True):
        pd.testing.assert_frame_equal(old, new)


def test_entity_filter_leaves_other_entities_out():
    awra, qbo, params = build_scenario()
    from dataclasses import replace

    result = reconcile_transactions(awra, qbo, replace(params, entities=("bill",)))
    assert set(result.findings["entity"]) == {"bill"}
    assert [t.entity for t in result.totals] == ["bill"]
    assert set(result.outcomes["entity"]) == {"bill"}


def test_tolerance_moves_small_differences_to_their_own_bridge_line():
    awra, qbo, params = build_scenario()
    from dataclasses import replace

    result = reconcile_transactions(
        awra, qbo, replace(params, tolerances=Tolerances(amount_cents=1000, line_total_cents=1000))
    )
    assert ("invoice", "mismatch", "a-1002", "102", "amount") not in _keys(result.findings)
    invoice = _in(result.totals[0], "USD")
    assert invoice.bridge["within_tolerance"] == 1000
    assert result.totals[0].ties_out


# ---------------------------------------------------------------------------------------------
# properties

WINDOW = (date(2026, 3, 1), date(2026, 3, 31))
PARAMS = RunParams(
    run_id="prop",
    company="c",
    company_name="C",
    date_from=WINDOW[0],
    date_to=WINDOW[1],
    now=datetime(2026, 4, 1, tzinfo=UTC),
)

_day = st.integers(min_value=-3, max_value=33)  # days after Feb 28 (some beyond the window)


def _row(entity, rid, number, day, party, amount, status, void, link, data_ok, in_window_rule=True, currency="USD"):
    when = pd.Timestamp("2026-02-28") + pd.Timedelta(days=day)
    in_window = WINDOW[0] <= when.date() <= WINDOW[1]
    return {
        "entity": entity,
        "id": rid,
        "number": number,
        "txn_date": when,
        "party_id": party,
        "party_name": party,
        "currency": currency,
        "amount_cents": amount if data_ok else None,
        "tax_cents": 0,
        "line_total_cents": amount if data_ok else None,
        "status": status,
        "is_void": void,
        "qbo_link": link,
        "in_window": in_window,
        "data_ok": data_ok,
    }


def _currency(draw, symmetric: bool) -> str | None:
    """USD mostly; some KES and some rows stating none (never added across: each ties out alone)."""
    return "USD" if symmetric else draw(st.sampled_from(["USD", "USD", "KES", None]))


@st.composite
def cases(draw, symmetric: bool = False):
    """Small random AWRA/QBO data: shared numbers, duplicates, links, statuses, bad rows."""
    entities = draw(st.lists(st.sampled_from(["invoice", "bill", "journal"]), min_size=1, max_size=2, unique=True))
    numbers = [None, "N1", "N2", "N3", "N4"]
    amounts = [100, 250, 999]
    parties = ["p1", "p2"]
    a_rows, q_rows, sync = [], [], []
    for entity in entities:
        n_q = draw(st.integers(0, 5))
        q_ids = [f"q{entity[0]}{i}" for i in range(n_q)]
        for rid in q_ids:
            void = False if symmetric else draw(st.booleans())
            q_rows.append(
                _row(
                    entity,
                    rid,
                    draw(st.sampled_from(numbers)),
                    draw(_day),
                    draw(st.sampled_from(parties)),
                    draw(st.sampled_from(amounts)),
                    "void" if void else "posted",
                    void,
                    None,
                    True,
                    currency=_currency(draw, symmetric),
                )
            )
        for i in range(draw(st.integers(0, 5))):
            rid = f"a{entity[0]}{i}"
            status = "posted" if symmetric else draw(st.sampled_from(["posted", "posted", "approved", "draft", "void"]))
            link = None
            if not symmetric and q_ids and draw(st.booleans()):
                link = draw(st.sampled_from([*q_ids, "nowhere"]))
            data_ok = True if symmetric else draw(st.integers(0, 5)) > 0
            a_rows.append(
                _row(
                    entity,
                    rid,
                    draw(st.sampled_from(numbers)),
                    draw(_day),
                    draw(st.sampled_from(parties)),
                    draw(st.sampled_from(amounts)),
                    status,
                    status == "void",
                    link,
                    data_ok,
                    currency=_currency(draw, symmetric),
                )
            )
            if not symmetric and draw(st.booleans()):
                sync.append(
                    {
                        "id": f"s{len(sync)}",
                        "connector": "qbo",
                        "record_type": entity,
                        "record_id": rid,
                        "status": draw(st.sampled_from(["succeeded", "failed", "pending", "retrying"])),
                        "retry_count": 1,
                        "qbo_id": draw(st.sampled_from([*q_ids, "nowhere", None])),
                        "attempted_at": pd.Timestamp("2026-03-30", tz="UTC")
                        + pd.Timedelta(hours=draw(st.integers(0, 40))),
                    }
                )
    if symmetric:
        # AWRA numbers must be unique (two AWRA records with one number are duplicate_in_awra even when
        # both have a twin) while QBO's matter only against AWRA: keep to the cases where the contract's
        # two definitions mirror each other, i.e. no number is carried by several rows on both sides.
        for entity in entities:
            a_count: dict[str, int] = {}
            for r in a_rows:
                if r["entity"] == entity and r["number"] is not None:
                    a_count[r["number"]] = a_count.get(r["number"], 0) + 1
            seen: dict[str, int] = {}
            for r in q_rows:
                n = r["number"]
                if r["entity"] == entity and n is not None and a_count.get(n, 0) >= 2:
                    seen[n] = seen.get(n, 0) + 1
                    if seen[n] > 1:
                        r["number"] = None
    maps = (
        []
        if symmetric
        else [{"mapping_type": t, "awra_id": p, "qbo_id": p} for t in ("customer", "vendor") for p in parties]
    )
    awra = AwraData.empty()
    awra = AwraData(
        transactions=F.conform(pd.DataFrame(a_rows, columns=F.TRANSACTIONS.names), F.TRANSACTIONS),
        lines=awra.lines,
        masters=awra.masters,
        mappings=F.conform(pd.DataFrame(maps, columns=F.MAPPINGS.names), F.MAPPINGS),
        sync_log=F.conform(pd.DataFrame(sync, columns=F.SYNC_LOG.names), F.SYNC_LOG),
        sync_runs=awra.sync_runs,
        data_quality=awra.data_quality,
    )
    qbo = QboData(
        transactions=F.conform(pd.DataFrame(q_rows, columns=F.TRANSACTIONS.names), F.TRANSACTIONS),
        lines=QboData.empty().lines,
        references=QboData.empty().references,
    )
    return awra, qbo


def _shuffled(frame: pd.DataFrame, seed: int) -> pd.DataFrame:
    return frame.sample(frac=1, random_state=seed).reset_index(drop=True)


PROPS = settings(max_examples=20, deadline=None, suppress_health_check=[HealthCheck.too_slow])


def _balanced(result) -> None:
    for t in result.totals:
        for c in t.currencies:
            shown = result.findings[[*KEY, "currency", "effect_cents", "other_currency", "other_effect_cents"]]
            assert c.unexplained_cents == 0, (t, shown)


@PROPS
@given(cases())
def test_every_record_has_exactly_one_outcome_and_the_bridge_balances(case):
    awra, qbo = case
    result = reconcile_transactions(awra, qbo, PARAMS)
    _balanced(result)
    out = result.outcomes
    assert not out.duplicated(["side", "entity", "id"]).any()
    expected = {("awra", e, i) for e, i in zip(awra.transactions["entity"], awra.transactions["id"], strict=True)}
    expected |= {("qbo", e, i) for e, i in zip(qbo.transactions["entity"], qbo.transactions["id"], strict=True)}
    assert set(zip(out["side"], out["entity"], out["id"], strict=True)) == expected
    assert out["outcome"].notna().all()


@PROPS
@given(cases(), st.integers(0, 2**16))
def test_shuffling_rows_changes_nothing(case, seed):
    awra, qbo = case
    base = reconcile_transactions(awra, qbo, PARAMS)
    awra2 = AwraData(
        transactions=_shuffled(awra.transactions, seed),
        lines=awra.lines,
        masters=awra.masters,
        mappings=_shuffled(awra.mappings, seed + 1),
        sync_log=_shuffled(awra.sync_log, seed + 2),
        sync_runs=awra.sync_runs,
        data_quality=awra.data_quality,
    )
    qbo2 = QboData(transactions=_shuffled(qbo.transactions, seed + 3), lines=qbo.lines, references=qbo.references)
    other = reconcile_transactions(awra2, qbo2, PARAMS)
    _balanced(other)
    pd.testing.assert_frame_equal(base.findings, other.findings)
    assert base.totals == other.totals
    cols = ["side", "entity", "id", "outcome", "match_method", "counterpart_id"]
    sort = ["side", "entity", "id"]
    pd.testing.assert_frame_equal(
        base.outcomes[cols].sort_values(sort).reset_index(drop=True),
        other.outcomes[cols].sort_values(sort).reset_index(drop=True),
    )


_SWAP = {
    "missing_in_qbo": "missing_in_awra",
    "missing_in_awra": "missing_in_qbo",
    "duplicate_in_qbo": "duplicate_in_awra",
    "duplicate_in_awra": "duplicate_in_qbo",
}


@PROPS
@given(cases(symmetric=True))
def test_swapping_the_sides_swaps_the_findings(case):
    awra, qbo = case
    base = reconcile_transactions(awra, qbo, PARAMS)
    swapped_awra = AwraData(
        transactions=qbo.transactions,
        lines=awra.lines,
        masters=awra.masters,
        mappings=awra.mappings,
        sync_log=awra.sync_log,
        sync_runs=awra.sync_runs,
        data_quality=awra.data_quality,
    )
    swapped_qbo = QboData(transactions=awra.transactions, lines=qbo.lines, references=qbo.references)
    other = reconcile_transactions(swapped_awra, swapped_qbo, PARAMS)
    _balanced(base)
    _balanced(other)

    def view(findings: pd.DataFrame, swap: bool) -> list[tuple]:
        rows = []
        for f in findings.itertuples(index=False):
            cat, a_id, q_id = f.category, f.awra_id, f.qbo_id
            effect = int(f.effect_cents)
            if swap:
                cat, a_id, q_id, effect = _SWAP.get(cat, cat), q_id, a_id, -effect
            field = None if pd.isna(f.field) else f.field
            rows.append(
                (f.entity, cat, None if pd.isna(a_id) else a_id, None if pd.isna(q_id) else q_id, field, effect)
            )
        return sorted(rows, key=str)

    assert view(base.findings, False) == view(other.findings, True)
    for t, u in zip(base.totals, other.totals, strict=True):
        assert (t.awra_total_cents, t.qbo_total_cents) == (u.qbo_total_cents, u.awra_total_cents)


def test_demo_rules_void_and_bad_rows():
    from tests.test_match import data, txn

    awra, qbo = data(
        [
            txn("a1", "N1", status="void", is_void=True),  # void on both sides: no finding
            txn("a2", "N2", status="void", is_void=True),  # voided in AWRA only: status, not not_ready
            txn("a3", "N3", amount=500),  # voided in QBO only: status only, no amount mismatch
            txn("a4", "N4", status="draft", data_ok=False),  # bad row: data_quality only
        ],
        [
            txn("q1", "N1", is_void=True, status="void"),
            txn("q2", "N2"),
            txn("q3", "N3", amount=0, is_void=True, status="void"),
        ],
    )
    result = reconcile_transactions(awra, qbo, PARAMS)
    assert _keys(result.findings) == [
        ("invoice", "mismatch", "a2", "q2", "status"),
        ("invoice", "mismatch", "a3", "q3", "status"),
        ("invoice", "data_quality", "a4", None, None),
    ]
    _balanced(result)
