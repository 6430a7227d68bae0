"""Currencies: per-currency tie-out, a record's currency, the home currency, exchange rates."""

from __future__ import annotations

from dataclasses import replace
from decimal import Decimal

import pandas as pd
import pytest

from reconcile import frames as F
from reconcile.config import ReconcileSettings
from reconcile.currencies import UNKNOWN_CURRENCY, currency_codes, home_cents, home_currency_of, rate_decimal
from reconcile.model import QboData, RunResult
from reconcile.params import Tolerances
from reconcile.reconciliation import reconcile
from reconcile.triage import load_rules
from tests.company import HOME, build_company, change_rows, row_of

RULES = load_rules(ReconcileSettings().triage_rules)


def run(awra, qbo, params) -> RunResult:
    return reconcile(awra, qbo, params, RULES)


def by_currency(result: RunResult, entity: str) -> dict:
    totals = next(t for t in result.totals if t.entity == entity)
    return {c.currency: c for c in totals.currencies}


def test_a_consistent_two_currency_company_yields_no_finding_and_ties_out_per_currency():
    result = run(*build_company())
    assert len(result.findings) == 0
    invoices = by_currency(result, "invoice")
    assert sorted(invoices) == ["KES", "USD"]
    assert (invoices["KES"].awra_total_cents, invoices["USD"].awra_total_cents) == (150_000, 20_000)
    assert (invoices["KES"].awra_count, invoices["USD"].qbo_count) == (1, 1)
    for t in result.totals:
        assert all(c.unexplained_cents == 0 and c.difference_cents == 0 for c in t.currencies)
    # two currencies: no entity-level money figure (it would add KES to USD)
    invoice = next(t for t in result.totals if t.entity == "invoice")
    assert invoice.awra_total_cents is None and invoice.single is None and invoice.ties_out
    assert next(t for t in result.totals if t.entity == "bill").awra_total_cents == 30_000
    assert result.home_currency == HOME


def test_a_difference_in_the_foreign_currency_is_explained_in_that_currency():
    awra, qbo, params = build_company()
    qbo = replace(qbo, transactions=change_rows(qbo.transactions, row_of("id", "102"), amount_cents=21_000))
    result = run(awra, qbo, params)
    amount = result.findings[result.findings["field"] == "amount"]
    assert len(amount) == 1
    assert (amount["currency"].iat[0], amount["effect_cents"].iat[0]) == ("USD", -1000)
    invoices = by_currency(result, "invoice")
    assert invoices["USD"].difference_cents == -1000 and invoices["USD"].bridge["mismatch"] == -1000
    assert invoices["USD"].unexplained_cents == 0
    assert invoices["KES"].bridge["mismatch"] == 0 and invoices["KES"].difference_cents == 0


def test_a_pair_in_two_currencies_splits_its_effect_so_each_currency_ties_out():
    awra, qbo, params = build_company()
    # same figure, another currency: QBO holds INV-2 as 200.00 KES
    qbo = replace(qbo, transactions=change_rows(qbo.transactions, row_of("id", "102"), currency="KES"))
    result = run(awra, qbo, params)
    currency = result.findings[result.findings["field"] == "currency"]
    assert len(currency) == 1
    row = currency.iloc[0]
    assert (row.currency, row.effect_cents, row.other_currency, row.other_effect_cents) == (
        "USD",
        20_000,
        "KES",
        -20_000,
    )
    invoices = by_currency(result, "invoice")
    assert (invoices["USD"].qbo_total_cents, invoices["KES"].qbo_total_cents) == (0, 170_000)
    assert invoices["USD"].unexplained_cents == invoices["KES"].unexplained_cents == 0
    assert "within_tolerance" not in invoices["USD"].bridge


def test_a_record_stating_no_currency_takes_its_counterparts():
    awra, qbo, params = build_company()
    awra = replace(awra, transactions=change_rows(awra.transactions, row_of("id", "a-inv2"), currency=None))
    result = run(awra, qbo, params)
    assert len(result.findings) == 0
    assert by_currency(result, "invoice")["USD"].awra_total_cents == 20_000


def test_a_record_without_currency_or_counterpart_counts_in_the_home_currency():
    awra, qbo, params = build_company()
    awra = replace(awra, transactions=change_rows(awra.transactions, row_of("id", "b-1"), currency=None, qbo_link=None))
    qbo = replace(qbo, transactions=qbo.transactions[qbo.transactions["id"] != "201"].reset_index(drop=True))
    result = run(awra, qbo, params)
    missing = result.findings[result.findings["category"] == "missing_in_qbo"]
    assert list(missing["currency"]) == [HOME]
    assert by_currency(result, "bill")[HOME].bridge["missing_in_qbo"] == 30_000
    unknown = run(awra, replace(qbo, home_currency=None), params)
    assert list(by_currency(unknown, "bill")) == [UNKNOWN_CURRENCY]


# -------------------------------------------------------------------------------- exchange rates


def _rate_result(qbo_rate: str, tolerance: str, *, home: str | None = HOME, config_home: str | None = None):
    awra, qbo, params = build_company()
    qbo = replace(
        qbo,
        transactions=change_rows(qbo.transactions, row_of("id", "102"), exchange_rate=qbo_rate),
        home_currency=home,
    )
    params = replace(
        params,
        tolerances=Tolerances(exchange_rate=Decimal(tolerance)),
        home_currency=config_home,
    )
    result = run(awra, qbo, params)
    return result.findings[result.findings["field"] == "exchange_rate"]


def test_an_exchange_rate_beyond_the_tolerance_is_reported_with_home_amounts():
    found = _rate_result("130", "0")
    assert len(found) == 1
    row = found.iloc[0]
    assert (row.awra_value, row.qbo_value, row.difference, row.currency) == ("129.5", "130", "-0.5", "USD")
    # AWRA: 200.00 USD x 129.5; QBO: its HomeTotalAmt as stated
    assert "200.00 USD = 25,900.00 KES" in row.cause and "= 25,900.00 KES)" in row.cause.split("QBO")[1]
    assert row.effect_cents == 0


def test_the_exchange_rate_tolerance_is_exact_on_both_sides_of_the_line():
    assert len(_rate_result("130", "0.5")) == 0
    assert len(_rate_result("130", "0.4999999")) == 1
    assert len(_rate_result("129.4", "0.1")) == 0
    assert len(_rate_result("129.39", "0.1")) == 1


def test_no_exchange_rate_finding_while_the_home_currency_is_unknown():
    assert len(_rate_result("130", "0", home=None)) == 0
    # the config's home currency stands in when QBO's Preferences do not say
    assert len(_rate_result("130", "0", home=None, config_home="KES")) == 1


def test_a_side_without_a_rate_is_not_compared():
    awra, qbo, params = build_company()
    awra = replace(awra, transactions=change_rows(awra.transactions, row_of("id", "a-inv2"), exchange_rate=None))
    qbo = replace(qbo, transactions=change_rows(qbo.transactions, row_of("id", "102"), exchange_rate="140"))
    assert len(run(awra, qbo, params).findings) == 0


# -------------------------------------------------------------------------------- helpers


def test_home_currency_comes_from_qbo_then_the_config():
    _, qbo, params = build_company()
    assert home_currency_of(qbo, params) == "KES"
    assert home_currency_of(replace(qbo, home_currency=None), replace(params, home_currency="UGX")) == "UGX"
    assert home_currency_of(QboData.empty(), params) is None


def test_currency_codes_share_one_space():
    a, q, names = currency_codes(
        pd.Series(["KES", None, "USD"], dtype="string"), pd.Series(["USD", "EUR", None], dtype="string"), ("KES",)
    )
    assert [names[c] if c >= 0 else None for c in a] == ["KES", None, "USD"]
    assert [names[c] if c >= 0 else None for c in q] == ["USD", "EUR", None]
    assert names.count("KES") == 1


def test_rates_and_home_amounts_are_exact():
    assert rate_decimal("129.5") == Decimal("129.5") and rate_decimal(None) is None and rate_decimal("x") is None
    assert home_cents(20_000, Decimal("129.5")) == 2_590_000
    assert home_cents(1, Decimal("0.5")) == 1 and home_cents(-1, Decimal("0.5")) == -1  # half away from zero
    assert home_cents(333, Decimal("0.0077")) == 3


@pytest.mark.parametrize("schema", [F.TRANSACTIONS])
def test_transactions_declare_the_currency_columns(schema):
    assert {"exchange_rate", "home_amount_cents", "deposit_account_id"} <= set(schema.names)
