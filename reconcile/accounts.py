"""Account impact: what the window's documents post to each QBO account, per side and currency.

What an accountant sees in the general ledger. Each side's documents are turned into postings
on QBO accounts, signed debit positive, credit negative:

* invoice lines credit their item's income account: ``-amount`` (AWRA: the item's
  ``income_account_id`` through the account mapping; QBO: the Item's ``IncomeAccountRef``; a
  QBO discount line posts to its ``DiscountAccountRef`` and, being negative, debits it);
* bill lines debit their account, or their item's expense account: ``+amount`` (AWRA: the
  line's ``account_id``, else the item's ``expense_account_id``, through the account mapping;
  QBO: ``AccountRef``, else the Item's ``ExpenseAccountRef``);
* journal lines: ``debit - credit`` on their account (AWRA through the account mapping);
* payments debit their deposit account with the payment's amount (AWRA ``deposit_account_id``
  through the mapping; QBO ``DepositToAccountRef``); an AWRA payment naming no deposit account
  leaves it to QBO's default, so it posts where its QBO counterpart does.

Only records counted in their side's totals post (``tieout``: in window, status filter, usable
data), in the record's currency (``reconcile.currencies``); an AWRA posting whose account has no
QBO mapping lands on account ``<NA>``. Per QBO account and currency: ``awra_net``, ``qbo_net``,
``difference = awra_net - qbo_net``.

Every difference is attributed, record by record: a record's delta on an account (its AWRA
postings minus its counterpart's QBO postings) is explained by, in this order, a line-level
finding of the record (``line`` set), its money-carrying finding (``effect_cents`` or
``other_effect_cents`` not 0), a header mismatch of its amounts or status, or a record-level
finding (missing, duplicate, data quality, not ready); a record with none of its own is
explained by a mapping finding on an item or account its AWRA lines use (an item whose income
account maps elsewhere moves its lines from one account to another). What no finding explains
is ``unexplained``: "0.00" per account on consistent data and whenever every difference has a
finding. Pure: no I/O, inputs never modified.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, fields

import numpy as np
import pandas as pd

from reconcile import frames as F
from reconcile.match import factorize_together, gather, label_codes, texts_at
from reconcile.model import AwraData, QboData
from reconcile.params import RunParams
from reconcile.tieout import RunArrays

#: Header mismatch fields that explain a record's postings (the lines' money moved with them;
#: a payment's deposit account moves its whole amount from one account to another).
MONEY_FIELDS: tuple[str, ...] = (
    "amount",
    "line_total",
    "tax_amount",
    "currency",
    "status",
    "txn_date",
    "deposit_account",
)

#: Record-level categories that explain all of a record's postings.
RECORD_CATEGORIES: tuple[str, ...] = (
    "missing_in_qbo",
    "missing_in_awra",
    "duplicate_in_qbo",
    "duplicate_in_awra",
    "data_quality",
    "not_ready",
)

#: Master types whose mapping findings explain postings moved between accounts.
POSTING_MASTERS: tuple[str, ...] = ("item", "account")

#: Explaining findings listed per account in ``explained_by`` (the count is in ``findings``).
LISTED_FINDINGS = 5

#: What an account row without a QBO account is called.
NO_ACCOUNT_NAME = "(no QBO account)"


def account_impact(
    awra: AwraData, qbo: QboData, params: RunParams, findings: pd.DataFrame, arrays: RunArrays
) -> pd.DataFrame:
    """The ``frames.ACCOUNTS`` rows of a run, largest differences first.

    Per QBO account and currency: both nets and what explains their difference.
    ``findings``: the run's findings (every stage's); ``arrays``: the transaction stage's
    ``RunArrays`` (the pairing, the rows counted in totals, the currencies).
    """
    book = _Codes()
    qbo_deposits = book.codes(qbo.transactions["deposit_account_id"])
    a_post = _awra_postings(awra, arrays, book, qbo_deposits)
    q_post = _qbo_postings(qbo, arrays, book, qbo_deposits)
    if not len(a_post.row) and not len(q_post.row):
        return F.empty_frame(F.ACCOUNTS)
    n_matches = len(arrays.matches)
    a_m = _owners(arrays.awra_row, len(awra.transactions), n_matches)[a_post.row]
    # a QBO row no MATCHES row owns (none should) is a group of its own, apart from AWRA's
    q_m = _owners(arrays.qbo_row, len(qbo.transactions), n_matches + len(awra.transactions))[q_post.row]
    n_accounts, n_currencies = len(book.names) + 1, len(arrays.currency_names)

    def keyed(m: np.ndarray, post: _Postings) -> pd.Series:
        key = (m * n_accounts + post.account + 1) * n_currencies + post.currency
        return pd.Series(post.net).groupby(key).sum()

    both = pd.concat([keyed(a_m, a_post).rename("awra"), keyed(q_m, q_post).rename("qbo")], axis=1)
    both = both.fillna(0).astype(np.int64)
    key = both.index.to_numpy(dtype=np.int64)
    rest, currency = np.divmod(key, n_currencies)
    m, account = np.divmod(rest, n_accounts)
    names = np.array(["", *book.names], dtype=object)
    deltas = pd.DataFrame(
        {
            "m": m,
            "account": names[account],
            "currency": np.asarray(arrays.currency_names, dtype=object)[currency],
            "awra": both["awra"].to_numpy(),
            "qbo": both["qbo"].to_numpy(),
        }
    )
    deltas["delta"] = deltas["awra"] - deltas["qbo"]
    deltas["explainer"] = _explainers(deltas, a_post, a_m, book, awra, qbo, findings, arrays)
    return _account_rows(deltas, awra, qbo, findings)


# --------------------------------------------------------------------------- postings


def _objects(series: pd.Series) -> np.ndarray:
    """A column as a Python object array, missing values as ``None``."""
    return np.array(series.astype(object).where(series.notna(), None), dtype=object)


class _Codes:
    """Text values (QBO account Ids, AWRA item and account ids) as integer codes, one code book."""

    def __init__(self) -> None:
        self.names: list[str] = []
        self._index: dict[str, int] = {}

    def code(self, name: str) -> int:
        """The code of one text."""
        if name not in self._index:
            self._index[name] = len(self.names)
            self.names.append(name)
        return self._index[name]

    def codes(self, values: pd.Series, translate: Mapping[str, str | None] | None = None) -> np.ndarray:
        """Codes of a text column (-1 missing), each distinct value first passed through ``translate``."""
        codes, uniques = pd.factorize(values)
        table = np.full(len(uniques) + 1, -1, dtype=np.int64)  # the last slot: code -1 (missing)
        for i, value in enumerate(uniques):
            text = str(value) if translate is None else translate.get(str(value))
            if text is not None:
                table[i] = self.code(text)
        return table[codes]


@dataclass(frozen=True)
class _Postings:
    """One side's postings, one entry per posting (all integer arrays).

    ``row``: the transaction row; ``account``: the QBO account (a code, -1 none); ``net``: cents,
    debit positive; ``currency``: a ``RunArrays.currency_names`` code; for AWRA also ``item`` and
    ``via``: the AWRA item and account the posting goes through (codes, -1 none).
    """

    row: np.ndarray
    account: np.ndarray
    net: np.ndarray
    currency: np.ndarray
    item: np.ndarray
    via: np.ndarray

    @classmethod
    def join(cls, parts: list[_Postings]) -> _Postings:
        """The postings of every part, in order."""
        columns = {
            f.name: np.concatenate([getattr(p, f.name) for p in parts] + [np.zeros(0, np.int64)]).astype(np.int64)
            for f in fields(cls)
        }
        return cls(**columns)


def _owners(rows: np.ndarray, n: int, start: int) -> np.ndarray:
    """Per side row, the ``MATCHES`` row that owns it; rows none owns get ``start + row``."""
    own = start + np.arange(n, dtype=np.int64)
    has = rows >= 0
    own[rows[has]] = np.flatnonzero(has)
    return own


def _lookup(frame: pd.DataFrame, kind_column: str, kind: str, value: str, key: str = "id") -> dict[str, str | None]:
    """``key`` → ``value`` for the rows of one kind (the first row per key)."""
    rows = frame[(frame[kind_column] == kind).fillna(False).to_numpy(dtype=bool)].drop_duplicates(key)
    return {
        str(i): (None if v is None or v is pd.NA else str(v))
        for i, v in zip(rows[key].astype(object), rows[value].astype(object), strict=True)
        if i is not None and i is not pd.NA
    }


def _line_rows(lines: pd.DataFrame, transactions: pd.DataFrame, counted: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(positions of the lines of counted transactions, each one's transaction row)."""
    t_codes, l_codes = factorize_together(transactions["id"], lines["txn_id"])
    entities = len(F.ENTITIES) + 1
    t_key = t_codes * entities + label_codes(transactions["entity"], F.ENTITIES) + 1
    l_key = l_codes * entities + label_codes(lines["entity"], F.ENTITIES) + 1
    rows = np.flatnonzero(counted & (t_codes >= 0))
    keys, first = np.unique(t_key[rows], return_index=True)
    if not len(keys):
        return np.zeros(0, np.int64), np.zeros(0, np.int64)
    at = np.minimum(np.searchsorted(keys, l_key), len(keys) - 1)
    found = (keys[at] == l_key) & (l_codes >= 0)
    return np.flatnonzero(found), rows[first[at[found]]]


def _cents(frame: pd.DataFrame, column: str, at: np.ndarray) -> np.ndarray:
    return frame[column].to_numpy(dtype=np.int64, na_value=0)[at]


def _awra_postings(awra: AwraData, run: RunArrays, book: _Codes, qbo_deposits: np.ndarray) -> _Postings:
    """AWRA postings: each line (payments: each record) of the records in the AWRA totals.

    A line's QBO account is its AWRA account's mapping; ``item`` / ``via`` name the AWRA item
    and account it goes through (for the mapping findings that explain a difference). A payment
    without a deposit account leaves it to QBO's default: it posts where its QBO counterpart
    does (``qbo_deposits``: per QBO row, the code of its deposit account).
    """
    t, lines = awra.transactions, awra.lines
    income = _lookup(awra.masters, "master_type", "item", "income_account_id")
    expense = _lookup(awra.masters, "master_type", "item", "expense_account_id")
    to_qbo = _lookup(awra.mappings, "mapping_type", "account", "qbo_id", key="awra_id")
    positions, rows = _line_rows(lines, t, run.a_in_total)
    entity = label_codes(lines["entity"], F.ENTITIES)[positions]
    items, books = _Codes(), _Codes()
    item = items.codes(lines["item_id"])[positions]
    own_account = books.codes(lines["account_id"])[positions]
    pay = _payment_rows(t, run.a_in_total)
    deposit = books.codes(t["deposit_account_id"])[pay]
    via = np.full(len(positions), -1, dtype=np.int64)
    is_invoice, is_bill = entity == F.ENTITIES.index("invoice"), entity == F.ENTITIES.index("bill")
    is_journal = entity == F.ENTITIES.index("journal")
    item_income = _table(items.names, income, books)
    item_expense = _table(items.names, expense, books)
    via[is_invoice] = item_income[item[is_invoice]]
    via[is_bill | is_journal] = own_account[is_bill | is_journal]
    no_account = is_bill & (via < 0)
    via[no_account] = item_expense[item[no_account]]
    amount = _cents(lines, "amount_cents", positions)
    net = np.where(is_invoice, -amount, amount)
    net = np.where(is_journal, _cents(lines, "debit_cents", positions) - _cents(lines, "credit_cents", positions), net)
    keep = is_invoice | is_bill | is_journal  # a payment posts its amount (below), not per application
    account_of_via = _table(books.names, to_qbo, book)
    line_part = _Postings(
        row=rows[keep],
        account=account_of_via[via[keep]],
        net=net[keep],
        currency=run.a_currency[rows[keep]],
        item=_recode(item[keep], items, book),
        via=_recode(via[keep], books, book),
    )
    payment_part = _Postings(
        row=pay,
        account=_default_deposits(account_of_via[deposit], deposit < 0, pay, qbo_deposits, run),
        net=run.a_amount[pay],
        currency=run.a_currency[pay],
        item=np.full(len(pay), -1, dtype=np.int64),
        via=_recode(deposit, books, book),
    )
    return _Postings.join([line_part, payment_part])


def _default_deposits(
    accounts: np.ndarray, unset: np.ndarray, rows: np.ndarray, qbo_deposits: np.ndarray, run: RunArrays
) -> np.ndarray:
    """AWRA payments' QBO deposit accounts, QBO's choice where AWRA names none (its default)."""
    partner = np.full(len(run.awra.transactions), -1, dtype=np.int64)
    paired = run.is_pair & (run.awra_row >= 0) & (run.qbo_row >= 0)
    partner[run.awra_row[paired]] = run.qbo_row[paired]
    theirs = gather(qbo_deposits, partner[rows], -1).astype(np.int64)
    return np.where(unset, theirs, accounts)


def _table(names: list[str], to: Mapping[str, str | None], book: _Codes) -> np.ndarray:
    """Per code of ``names`` (and -1 last), the code in ``book`` of what ``to`` maps it to (-1 none)."""
    codes = [-1 if (target := to.get(name)) is None else book.code(target) for name in names]
    return np.array([*codes, -1], dtype=np.int64)


def _recode(codes: np.ndarray, source: _Codes, target: _Codes) -> np.ndarray:
    """Codes of ``source``'s book as codes of ``target``'s (-1 stays -1), prefixed by kind."""
    table = np.array([target.code(f"awra:{n}") for n in source.names] + [-1], dtype=np.int64)
    return table[codes]


def _payment_rows(t: pd.DataFrame, counted: np.ndarray) -> np.ndarray:
    return np.flatnonzero(counted & (label_codes(t["entity"], F.ENTITIES) == F.ENTITIES.index("payment")))


def _qbo_postings(qbo: QboData, run: RunArrays, book: _Codes, deposits: np.ndarray) -> _Postings:
    """QBO postings, as ``_awra_postings`` gives them (no ``item`` / ``via``)."""
    t, lines = qbo.transactions, qbo.lines
    income = _lookup(qbo.references, "ref_type", "item", "income_account_id")
    expense = _lookup(qbo.references, "ref_type", "item", "expense_account_id")
    positions, rows = _line_rows(lines, t, run.q_in_total)
    entity = label_codes(lines["entity"], F.ENTITIES)[positions]
    is_invoice, is_bill = entity == F.ENTITIES.index("invoice"), entity == F.ENTITIES.index("bill")
    is_journal = entity == F.ENTITIES.index("journal")
    own_account = book.codes(lines["account_id"])[positions]
    by_income = book.codes(lines["item_id"], income)[positions]
    by_expense = book.codes(lines["item_id"], expense)[positions]
    # invoice: the item's income account (a discount line: its DiscountAccountRef); bill: the
    # line's AccountRef, else its item's expense account; journal: its AccountRef
    account = np.where(is_invoice, np.where(by_income >= 0, by_income, own_account), own_account)
    account = np.where(is_bill & (account < 0), by_expense, account)
    amount = _cents(lines, "amount_cents", positions)
    net = np.where(is_invoice, -amount, amount)
    net = np.where(is_journal, _cents(lines, "debit_cents", positions) - _cents(lines, "credit_cents", positions), net)
    keep = is_invoice | is_bill | is_journal
    none = np.full(int(keep.sum()), -1, dtype=np.int64)
    line_part = _Postings(rows[keep], account[keep], net[keep], run.q_currency[rows[keep]], none, none)
    pay = _payment_rows(t, run.q_in_total)
    none = np.full(len(pay), -1, dtype=np.int64)
    deposit = deposits[pay]
    return _Postings.join([line_part, _Postings(pay, deposit, run.q_amount[pay], run.q_currency[pay], none, none)])


# --------------------------------------------------------------------------- explaining


def _explainers(
    deltas: pd.DataFrame,
    a_post: _Postings,
    a_m: np.ndarray,
    book: _Codes,
    awra: AwraData,
    qbo: QboData,
    findings: pd.DataFrame,
    run: RunArrays,
) -> np.ndarray:
    """Per delta row, the position in ``findings`` of the finding explaining it (-1: none)."""
    out = np.full(len(deltas), -1, dtype=np.int64)
    m_values = deltas["m"].to_numpy(dtype=np.int64)
    moving = np.flatnonzero(deltas["delta"].to_numpy() != 0)
    if not len(moving) or not len(findings):
        return out
    ms, which = np.unique(m_values[moving], return_inverse=True)
    index = _FindingIndex(findings)
    fallbacks = _mapping_fallbacks(a_post, a_m, ms, book, index)
    out[moving] = _record_explainers(ms, run, awra, qbo, index, fallbacks)[which]
    return out


class _FindingIndex:
    """The findings by the record they are about, and mapping findings by master record."""

    def __init__(self, findings: pd.DataFrame) -> None:
        self.category = _objects(findings["category"])
        self.field = _objects(findings["field"])
        self.line = findings["line"].notna().to_numpy(dtype=bool)
        effect = findings["effect_cents"].fillna(0).to_numpy(dtype=np.int64)
        other = findings["other_effect_cents"].fillna(0).to_numpy(dtype=np.int64)
        self.carries = (effect != 0) | (other != 0)
        self.qbo_id = _objects(findings["qbo_id"])
        self.by_awra: dict[tuple[str, str], list[int]] = {}
        self.by_qbo: dict[tuple[str, str], list[int]] = {}
        self.by_master: dict[tuple[str, str], list[int]] = {}
        entity = _objects(findings["entity"])
        awra_id = _objects(findings["awra_id"])
        is_mapping = np.array([str(c).startswith("mapping_") for c in self.category], dtype=bool)
        for i in range(len(findings)):
            if is_mapping[i]:
                if entity[i] in POSTING_MASTERS and awra_id[i] is not None:
                    self.by_master.setdefault((entity[i], awra_id[i]), []).append(i)
                continue
            if awra_id[i] is not None:
                self.by_awra.setdefault((entity[i], awra_id[i]), []).append(i)
            if self.qbo_id[i] is not None:
                self.by_qbo.setdefault((entity[i], self.qbo_id[i]), []).append(i)

    def of_record(self, entity: str, awra_id: str | None, qbo_id: str | None) -> list[int]:
        """Findings about a record: by its AWRA id, else by its QBO id.

        When the record has a QBO twin, findings naming another QBO record are about that record.
        """
        if awra_id is not None:
            found = self.by_awra.get((entity, awra_id), [])
            return found if qbo_id is None else [i for i in found if self.qbo_id[i] in (None, qbo_id)]
        if qbo_id is not None:
            return list(self.by_qbo.get((entity, qbo_id), []))
        return []

    def best(self, candidates: Iterable[int]) -> int:
        """The candidate that best explains a record's postings (-1 when none does)."""
        found = list(candidates)
        for test in (
            lambda i: self.line[i],
            lambda i: self.carries[i],
            lambda i: self.category[i] == "mismatch" and self.field[i] in MONEY_FIELDS,
            lambda i: self.category[i] in RECORD_CATEGORIES,
        ):
            for i in found:
                if test(i):
                    return i
        return -1


def _mapping_fallbacks(
    a_post: _Postings, a_m: np.ndarray, ms: np.ndarray, book: _Codes, index: _FindingIndex
) -> np.ndarray:
    """Per ``MATCHES`` row in ``ms`` (sorted), the mapping finding explaining its postings (-1: none).

    Of the AWRA items and accounts its postings go through, the first in (kind, id) order that
    carries a mapping finding; that master's first finding. Only masters with a finding can
    answer, so each posting is ranked by a table look-up and each record keeps its lowest rank.
    """
    keys = sorted(index.by_master)
    if not keys or not len(ms):
        return np.full(len(ms), -1, dtype=np.int64)
    rank = {key: r for r, key in enumerate(keys)}
    names = [name.removeprefix("awra:") for name in book.names]
    none = len(keys)  # the rank of "no finding", also what code -1 (no item / account) reads
    item_rank = np.array([*(rank.get(("item", n), none) for n in names), none], dtype=np.int64)
    account_rank = np.array([*(rank.get(("account", n), none) for n in names), none], dtype=np.int64)
    at = np.flatnonzero(np.isin(a_m, ms))
    posting_rank = np.minimum(item_rank[a_post.item[at]], account_rank[a_post.via[at]])
    best = np.full(len(ms), none, dtype=np.int64)
    np.minimum.at(best, np.searchsorted(ms, a_m[at]), posting_rank)
    first_finding = np.array([*(index.by_master[key][0] for key in keys), -1], dtype=np.int64)
    return first_finding[best]


def _record_explainers(
    ms: np.ndarray,
    run: RunArrays,
    awra: AwraData,
    qbo: QboData,
    index: _FindingIndex,
    fallbacks: np.ndarray,
) -> np.ndarray:
    """Per ``MATCHES`` row in ``ms``, the finding explaining its postings (-1: none).

    The record's own best finding (``_FindingIndex.best``), else its mapping finding
    (``fallbacks``, from ``_mapping_fallbacks``); none for a group no ``MATCHES`` row owns.
    The records' ids are taken in one go: the per-record work is dictionary look-ups only.
    """
    out = np.full(len(ms), -1, dtype=np.int64)
    known = (ms >= 0) & (ms < len(run.matches))
    at = ms[known]
    entities = run.matches["entity"].to_numpy(dtype=object)[at]
    awra_ids = texts_at(awra.transactions["id"], run.awra_row[at])
    qbo_ids = texts_at(qbo.transactions["id"], run.qbo_row[at])
    chosen = []
    for entity, awra_id, qbo_id in zip(entities, awra_ids, qbo_ids, strict=True):
        chosen.append(index.best(index.of_record(str(entity), awra_id or None, qbo_id or None)))
    own = np.array(chosen, dtype=np.int64)
    out[known] = np.where(own >= 0, own, fallbacks[known])
    return out


# --------------------------------------------------------------------------- account rows


def _finding_refs(findings: pd.DataFrame, positions: np.ndarray) -> list[str]:
    """``category field entity number`` of each finding, for ``explained_by``."""
    cols = ("category", "field", "entity", "awra_number", "awra_id", "qbo_id", "line")
    values = {c: texts_at(findings[c], positions) for c in cols}
    out = []
    for i in range(len(positions)):
        qbo_ref = f"QBO {values['qbo_id'][i]}" if values["qbo_id"][i] else ""
        record = values["awra_number"][i] or values["awra_id"][i] or qbo_ref
        line = f" line {values['line'][i]}" if values["line"][i] else ""
        words = [values["category"][i], values["field"][i], values["entity"][i], f"{record}{line}"]
        out.append(" ".join(w for w in words if w))
    return out


def _account_rows(deltas: pd.DataFrame, awra: AwraData, qbo: QboData, findings: pd.DataFrame) -> pd.DataFrame:
    """One ``ACCOUNTS`` row per (account, currency), largest differences first."""
    grouped = deltas.groupby(["account", "currency"], sort=True)
    table = grouped[["awra", "qbo", "delta"]].sum()
    explained = deltas[deltas["explainer"] >= 0].groupby(["account", "currency"])["delta"].sum()
    table["explained"] = explained.reindex(table.index).fillna(0).astype(np.int64)
    refs: dict[tuple[str, str], tuple[int, str]] = {}
    shares = deltas[(deltas["explainer"] >= 0) & (deltas["delta"] != 0)]
    if len(shares):
        by_finding = (
            shares.assign(share=shares["delta"].abs())
            .groupby(["account", "currency", "explainer"])["share"]
            .sum()
            .reset_index()
            .sort_values(["account", "currency", "share", "explainer"], ascending=[True, True, False, True])
        )
        texts = dict(
            zip(by_finding["explainer"], _finding_refs(findings, by_finding["explainer"].to_numpy()), strict=True)
        )
        for (account, currency), group in by_finding.groupby(["account", "currency"], sort=False):
            listed = [texts[e] for e in group["explainer"].head(LISTED_FINDINGS)]
            more = len(group) - len(listed)
            text = "; ".join(listed) + (f"; and {more} more" if more else "")
            refs[(str(account), str(currency))] = (len(group), text)
    accounts = table.index.get_level_values(0).astype(str)
    currencies = table.index.get_level_values(1).astype(str)
    names = _account_names(accounts, awra, qbo)
    out = pd.DataFrame(
        {
            "account": pd.array([a or None for a in accounts], dtype="string"),
            "name": names,
            "currency": list(currencies),
            "awra_net_cents": table["awra"].to_numpy(dtype=np.int64),
            "qbo_net_cents": table["qbo"].to_numpy(dtype=np.int64),
            "difference_cents": table["delta"].to_numpy(dtype=np.int64),
            "explained_cents": table["explained"].to_numpy(dtype=np.int64),
            "unexplained_cents": (table["delta"] - table["explained"]).to_numpy(dtype=np.int64),
            "findings": [refs.get(k, (0, ""))[0] for k in zip(accounts, currencies, strict=True)],
            "explained_by": [refs.get(k, (0, None))[1] for k in zip(accounts, currencies, strict=True)],
        }
    )
    order = np.lexsort(
        (
            out["currency"].to_numpy(dtype=str),
            out["account"].fillna("").to_numpy(dtype=str),
            -np.abs(out["difference_cents"].to_numpy()),
        )
    )
    return F.conform(out.iloc[order].reset_index(drop=True), F.ACCOUNTS)


def _account_names(accounts: pd.Index, awra: AwraData, qbo: QboData) -> list[str]:
    """The QBO account's name; else the name of an AWRA account mapped to it; else the Id."""
    refs = qbo.references
    qbo_accounts = refs[(refs["ref_type"] == "account").fillna(False).to_numpy(dtype=bool)].drop_duplicates("id")
    qbo_names = dict(zip(qbo_accounts["id"].astype(object), qbo_accounts["name"].astype(object), strict=True))
    masters = awra.masters
    awra_accounts = masters[(masters["master_type"] == "account").fillna(False).to_numpy(dtype=bool)]
    awra_names = dict(zip(awra_accounts["id"].astype(object), awra_accounts["name"].astype(object), strict=True))
    maps = awra.mappings
    account_maps = maps[(maps["mapping_type"] == "account").fillna(False).to_numpy(dtype=bool)]
    mapped_from = dict(zip(account_maps["qbo_id"].astype(object), account_maps["awra_id"].astype(object), strict=True))
    out = []
    for account in accounts:
        if not account:
            out.append(NO_ACCOUNT_NAME)
            continue
        name = qbo_names.get(account)
        if not isinstance(name, str):
            name = awra_names.get(mapped_from.get(account))
        out.append(name if isinstance(name, str) else f"QBO account {account}")
    return out


__all__ = ["NO_ACCOUNT_NAME", "account_impact"]
