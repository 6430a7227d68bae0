"""Account impact: per QBO account and currency, AWRA net vs QBO net and what explains it."""

from __future__ import annotations

import random
from dataclasses import replace

import numpy as np
import pandas as pd
import pytest

from reconcile import accounts
from reconcile import frames as F
from reconcile.accounts import NO_ACCOUNT_NAME, account_impact
from reconcile.config import ReconcileSettings
from reconcile.model import RunResult
from reconcile.reconciliation import reconcile
from reconcile.sources.awra import read_awra
from reconcile.transactions import reconcile_transactions
from reconcile.triage import load_rules
from tests.company import build_company, change_rows, row_of
from tests.consistent_company import PARAMS, generate, qbo_data, write_awra
from tests.test_consistent_company import EXAMPLES, PLANTS

RULES = load_rules(ReconcileSettings().triage_rules)


def run(awra, qbo, params) -> RunResult:
    return reconcile(awra, qbo, params, RULES)


def account(result: RunResult, qbo_id: str | None, currency: str) -> pd.Series:
    a = result.accounts
    mask = (a["account"].isna() if qbo_id is None else a["account"] == qbo_id) & (a["currency"] == currency)
    rows = a[mask.fillna(False).to_numpy(dtype=bool)]
    assert len(rows) == 1, (qbo_id, currency, a)
    return rows.iloc[0]


def assert_every_account_ties_out(result: RunResult) -> None:
    assert (result.accounts["unexplained_cents"] == 0).all(), result.accounts


def test_consistent_books_post_the_same_to_every_account():
    result = run(*build_company())
    assert len(result.findings) == 0
    F.check_frame(result.accounts, F.ACCOUNTS)
    seen = set(zip(result.accounts["account"], result.accounts["currency"], strict=True))
    assert seen == {("80", "KES"), ("81", "KES"), ("82", "KES"), ("84", "USD"), ("85", "USD")}
    assert (result.accounts["difference_cents"] == 0).all()
    assert_every_account_ties_out(result)
    assert (result.accounts["findings"] == 0).all() and result.accounts["explained_by"].isna().all()


def test_postings_are_debit_positive():
    result = run(*build_company())
    # invoice lines credit income (-1,500.00), the journal credits sales (-100.00)
    assert account(result, "80", "KES").awra_net_cents == -160_000
    # PAY-1 debits the bank with 1,500.00, the journal debits it with 100.00
    assert account(result, "81", "KES").qbo_net_cents == 160_000
    assert account(result, "82", "KES").awra_net_cents == 30_000  # the bill debits supplies
    assert (account(result, "84", "USD").awra_net_cents, account(result, "85", "USD").qbo_net_cents) == (
        -20_000,
        20_000,
    )
    assert account(result, "80", "KES")["name"] == "Sales"


def test_an_amount_difference_is_explained_on_the_accounts_it_touches():
    awra, qbo, params = build_company()
    qbo = replace(
        qbo,
        transactions=change_rows(qbo.transactions, row_of("id", "101"), amount_cents=160_000, line_total_cents=160_000),
        lines=change_rows(qbo.lines, lambda f: (f["txn_id"] == "101") & (f["line_no"] == 2), amount_cents=60_000),
    )
    result = run(awra, qbo, params)
    sales = account(result, "80", "KES")
    assert (sales.difference_cents, sales.explained_cents, sales.unexplained_cents) == (10_000, 10_000, 0)
    # the line that changed explains it (the header amount finding carries the record's money)
    assert sales.explained_by == "mismatch line_amount invoice INV-1 line 2" and sales.findings == 1
    assert_every_account_ties_out(result)


def test_an_item_whose_income_account_differs_in_qbo_is_explained_by_its_mapping_finding():
    awra, qbo, params = build_company()
    # QBO's Consulting item posts to Export sales (84) while AWRA's maps to Sales (80)
    qbo = replace(
        qbo,
        references=change_rows(
            qbo.references, lambda f: (f["ref_type"] == "item") & (f["id"] == "90"), income_account_id="84"
        ),
    )
    result = run(awra, qbo, params)
    mapping = result.findings[result.findings["category"] == "mapping_mismatch"]
    assert list(mapping["awra_id"]) == ["i-svc"]
    sales, export = account(result, "80", "KES"), account(result, "84", "KES")
    assert (sales.difference_cents, export.difference_cents) == (-150_000, 150_000)
    assert sales.explained_by == export.explained_by == "mapping_mismatch income_account item i-svc"
    assert_every_account_ties_out(result)


def test_a_line_posted_to_another_account_with_the_same_totals_is_explained_by_its_line():
    awra, qbo, params = build_company()
    # the bill's line is coded to the bank (81) in QBO: same totals, so no header finding
    qbo = replace(qbo, lines=change_rows(qbo.lines, row_of("txn_id", "201"), account_id="81"))
    result = run(awra, qbo, params)
    assert [tuple(r) for r in result.findings[["entity", "category", "field", "line"]].itertuples(index=False)] == [
        ("bill", "mismatch", "line_account", "1")
    ]
    supplies, bank = account(result, "82", "KES"), account(result, "81", "KES")
    assert (supplies.difference_cents, bank.difference_cents) == (30_000, -30_000)
    assert (supplies.unexplained_cents, bank.unexplained_cents) == (0, 0)
    assert supplies.explained_by == bank.explained_by == "mismatch line_account bill BILL-1 line 1"
    assert_every_account_ties_out(result)


def test_an_account_difference_without_a_finding_shows_as_unexplained():
    awra, qbo, params = build_company()
    qbo = replace(qbo, lines=change_rows(qbo.lines, row_of("txn_id", "201"), account_id="81"))
    core = reconcile_transactions(awra, qbo, params)
    assert core.arrays is not None
    # the findings without the line comparison's: nothing explains the posting that moved
    findings = core.findings[core.findings["line"].isna()]
    unexplained = account_impact(awra, qbo, params, findings, core.arrays).set_index("account")["unexplained_cents"]
    assert (unexplained["82"], unexplained["81"]) == (30_000, -30_000)


def test_a_missing_document_and_an_unmapped_account_are_explained():
    awra, qbo, params = build_company()
    qbo = replace(qbo, transactions=qbo.transactions[qbo.transactions["id"] != "401"].reset_index(drop=True))
    awra = replace(awra, mappings=awra.mappings[awra.mappings["awra_id"] != "a-cogs"].reset_index(drop=True))
    result = run(awra, qbo, params)
    bank = account(result, "81", "KES")
    assert (bank.difference_cents, bank.unexplained_cents) == (150_000, 0)
    assert "missing_in_qbo payment PAY-1" in bank.explained_by
    unmapped = account(result, None, "KES")
    assert unmapped["name"] == NO_ACCOUNT_NAME and unmapped.awra_net_cents == 30_000
    assert unmapped.explained_by == "mapping_missing qbo_id account a-cogs" and unmapped.unexplained_cents == 0
    assert account(result, "82", "KES").explained_by == "mapping_missing qbo_id account a-cogs"
    assert_every_account_ties_out(result)


def test_largest_differences_come_first():
    awra, qbo, params = build_company()
    qbo = replace(
        qbo, transactions=qbo.transactions[~qbo.transactions["id"].isin(["201", "301"])].reset_index(drop=True)
    )
    result = run(awra, qbo, params)
    differences = result.accounts["difference_cents"].abs().tolist()
    assert differences == sorted(differences, reverse=True) and differences[0] == 30_000


def test_a_payment_without_a_deposit_account_posts_where_qbo_put_it():
    awra, qbo, params = build_company()
    # AWRA leaves the deposit account to QBO's default (allowed): no difference, no finding
    awra = replace(awra, transactions=change_rows(awra.transactions, row_of("id", "p-1"), deposit_account_id=None))
    result = run(awra, qbo, params)
    assert len(result.findings) == 0
    assert (result.accounts["difference_cents"] == 0).all() and account(result, "81", "KES").awra_net_cents == 160_000


# --------------------------------------------------------------------------- the explaining, record by record


def _explainers_record_by_record(deltas, a_post, a_m, book, awra, qbo, findings, run_arrays):
    """The explaining as it was first written: one record at a time, every look-up its own.

    The reference the array version (``accounts._explainers``) must agree with.
    """
    out = np.full(len(deltas), -1, dtype=np.int64)
    moving = np.flatnonzero(deltas["delta"].to_numpy() != 0)
    if not len(moving) or not len(findings):
        return out
    index = accounts._FindingIndex(findings)
    matches = run_arrays.matches
    chosen: dict[int, int] = {}
    for position in moving.tolist():
        m = int(deltas["m"].iat[position])
        if m not in chosen:
            chosen[m] = _record_explainer(m, matches, a_post, a_m, book, awra, qbo, run_arrays, index)
        out[position] = chosen[m]
    return out


def _record_explainer(m, matches, a_post, a_m, book, awra, qbo, run_arrays, index) -> int:
    if m < 0 or m >= len(matches):
        return -1
    entity = str(matches["entity"].iat[m])
    ar, qr = int(run_arrays.awra_row[m]), int(run_arrays.qbo_row[m])
    awra_id = None if ar < 0 or pd.isna(awra.transactions["id"].iat[ar]) else str(awra.transactions["id"].iat[ar])
    qbo_id = None if qr < 0 or pd.isna(qbo.transactions["id"].iat[qr]) else str(qbo.transactions["id"].iat[qr])
    own = index.best(index.of_record(entity, awra_id, qbo_id))
    if own >= 0:
        return own
    used = set()
    for i in np.flatnonzero(a_m == m).tolist():
        if a_post.item[i] >= 0:
            used.add(("item", book.names[a_post.item[i]].removeprefix("awra:")))
        if a_post.via[i] >= 0:
            used.add(("account", book.names[a_post.via[i]].removeprefix("awra:")))
    for key in sorted(used):
        for i in index.by_master.get(key, []):
            return i
    return -1


def _move_a_used_items_income(c, rng) -> None:
    """QBO's item credits another income account than AWRA's: its lines move, only its mapping says why."""
    item = rng.choice(sorted(i for i in c.used["items"] if c.row("items", i)["income_account_id"]))
    other = {"ac-income-0": "ac-income-1"}.get(c.row("items", item)["income_account_id"], "ac-income-0")
    c.payload("Item", c.qbo_id[("items", item)])["IncomeAccountRef"] = {"value": c.qbo_id[("accounts", other)]}


def _break_a_used_accounts_mapping(c, rng) -> None:
    """A used account maps to no QBO record: its AWRA postings land elsewhere."""
    c.mapping("accounts", rng.choice(sorted(c.used["accounts"])))["qbo_id"] = "987654"


#: Differences that move postings; several at once, so findings of every kind compete to explain
#: (the two above make records whose only explanation is a mapping finding, often two at once).
_MOVERS = {"used_item_income": _move_a_used_items_income, "used_account_mapping": _break_a_used_accounts_mapping}
_MOVING_PLANTS = (
    "amount",
    "txn_date",
    "party",
    "status",
    "missing_in_awra",
    "duplicate_in_qbo",
    "mapping_missing",
    "mapping_item_account",
    "line_item",
    "line_account",
    "line_amount",
    "line_posting",
    "line_extra",
    "deposit_account",
)


@pytest.mark.parametrize("seed", range(EXAMPLES))
def test_the_array_explaining_equals_the_record_by_record_one(tmp_path, seed):
    rng = random.Random(f"explaining-{seed}")
    company = generate(rng).copy()
    kinds = rng.sample(_MOVING_PLANTS, rng.randint(2, 6))
    # a removed journal last: the plants before it may need one (a company can have only one)
    kinds.sort(key=lambda kind: kind == "missing_in_awra")
    for kind in ["used_item_income", "used_account_mapping", *kinds]:
        (_MOVERS[kind] if kind in _MOVERS else PLANTS[kind].plant)(company, rng)
    awra = read_awra(write_awra(company, tmp_path, "company"), PARAMS)
    qbo = qbo_data(company)
    result = reconcile(awra, qbo, PARAMS, RULES)
    arrays = reconcile_transactions(awra, qbo, PARAMS).arrays
    assert arrays is not None
    fast = account_impact(awra, qbo, PARAMS, result.findings, arrays)
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(accounts, "_explainers", _explainers_record_by_record)
        reference = account_impact(awra, qbo, PARAMS, result.findings, arrays)
    pd.testing.assert_frame_equal(fast, reference)
    pd.testing.assert_frame_equal(fast, result.accounts)
