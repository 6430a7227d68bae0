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
  through the mapping; QBO ``DepositToAccountRef``).

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

import numpy as np
import pandas as pd

from reconcile import frames as F
from reconcile.match import texts_at
from reconcile.model import AwraData, QboData
from reconcile.params import RunParams
from reconcile.tieout import RunArrays

#: Header mismatch fields that explain a record's postings (the lines' money moved with them).
MONEY_FIELDS: tuple[str, ...] = ("amount", "line_total", "tax_amount", "currency", "status", "txn_date")

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
    a_post = _awra_postings(awra, arrays)
    q_post = _qbo_postings(qbo, arrays)
    if not len(a_post) and not len(q_post):
        return F.empty_frame(F.ACCOUNTS)
    a_post = a_post.assign(m=_owners(arrays.awra_row, len(awra.transactions))[a_post["row"].to_numpy()])
    q_post = q_post.assign(m=_owners(arrays.qbo_row, len(qbo.transactions))[q_post["row"].to_numpy()])
    # a row no MATCHES row owns (none should) stays a group of its own
    a_post.loc[a_post["m"] < 0, "m"] = -1 - a_post.loc[a_post["m"] < 0, "row"]
    q_post.loc[q_post["m"] < 0, "m"] = -(10**12) - q_post.loc[q_post["m"] < 0, "row"]
    keys = ["m", "account", "currency"]
    a_sum = a_post.groupby(keys, sort=False)["net"].sum().rename("awra")
    q_sum = q_post.groupby(keys, sort=False)["net"].sum().rename("qbo")
    deltas = pd.concat([a_sum, q_sum], axis=1).fillna(0).astype(np.int64).reset_index()
    deltas["delta"] = deltas["awra"] - deltas["qbo"]
    explainer = _explainers(deltas, a_post, awra, qbo, findings, arrays)
    deltas["explainer"] = explainer
    return _account_rows(deltas, awra, qbo, findings)


# --------------------------------------------------------------------------- postings


def _owners(rows: np.ndarray, n: int) -> np.ndarray:
    """Per side row, the ``MATCHES`` row that owns it (-1 if none)."""
    own = np.full(n, -1, dtype=np.int64)
    has = rows >= 0
    own[rows[has]] = np.flatnonzero(has)
    return own


def _objects(series: pd.Series) -> np.ndarray:
    """A column as a Python object array, missing values as ``None``."""
    return np.array(series.astype(object).where(series.notna(), None), dtype=object)


def _text(series: pd.Series) -> pd.Series:
    return series.astype("string")


def _line_rows(lines: pd.DataFrame, transactions: pd.DataFrame, counted: np.ndarray) -> pd.DataFrame:
    """The lines of counted transactions, each with its transaction's row position (``row``)."""
    keys = pd.DataFrame(
        {
            "entity": _text(transactions["entity"]),
            "txn_id": _text(transactions["id"]),
            "row": np.arange(len(transactions)),
        }
    )
    keys = keys[counted].drop_duplicates(["entity", "txn_id"])
    return lines.merge(keys, how="inner", on=["entity", "txn_id"])


def _postings(
    entity: pd.Series,
    row: np.ndarray,
    account: pd.Series,
    net: np.ndarray,
    currency: np.ndarray,
    via: Mapping[str, pd.Series] | None = None,
) -> pd.DataFrame:
    out = pd.DataFrame(
        {
            "entity": _text(entity).to_numpy(),
            "row": row.astype(np.int64),
            "account": _text(account).fillna("").to_numpy(),
            "net": net.astype(np.int64),
            "currency": currency,
        }
    )
    for name, values in (via or {}).items():
        out[name] = _text(values).to_numpy()
    return out


def _awra_postings(awra: AwraData, run: RunArrays) -> pd.DataFrame:
    """AWRA postings: one row per line (payments: per record) of the records in the AWRA totals.

    Columns ``entity, row, account`` (QBO account Id through the mappings; ``""`` unmapped),
    ``net`` (cents, debit positive), ``currency``, and ``item`` / ``via_account`` (the AWRA item
    and account the posting goes through, for the mapping findings that explain it).
    """
    t = awra.transactions
    counted = run.a_in_total
    names = np.asarray(run.currency_names, dtype=object)
    masters = awra.masters
    items = masters[(masters["master_type"] == "item").fillna(False).to_numpy(dtype=bool)].drop_duplicates("id")
    income = pd.Series(items["income_account_id"].to_numpy(), index=items["id"].to_numpy())
    expense = pd.Series(items["expense_account_id"].to_numpy(), index=items["id"].to_numpy())
    maps = awra.mappings
    account_maps = maps[(maps["mapping_type"] == "account").fillna(False).to_numpy(dtype=bool)]
    account_maps = account_maps.drop_duplicates("awra_id")
    to_qbo = pd.Series(account_maps["qbo_id"].to_numpy(), index=account_maps["awra_id"].to_numpy())

    lines = _line_rows(awra.lines, t, counted)
    parts = []
    for entity, frame in lines.groupby("entity", sort=False):
        rows = frame["row"].to_numpy(dtype=np.int64)
        item = _text(frame["item_id"])
        if entity == "invoice":
            via = _text(item.map(income))
            net = -frame["amount_cents"].fillna(0).to_numpy(dtype=np.int64)
        elif entity == "bill":
            via = _text(frame["account_id"]).fillna(_text(item.map(expense)))
            net = frame["amount_cents"].fillna(0).to_numpy(dtype=np.int64)
        elif entity == "journal":
            via = _text(frame["account_id"])
            debit = frame["debit_cents"].fillna(0).to_numpy(dtype=np.int64)
            net = debit - frame["credit_cents"].fillna(0).to_numpy(dtype=np.int64)
        else:
            continue  # a payment posts its amount to its deposit account (below), not per application
        parts.append(
            _postings(
                frame["entity"],
                rows,
                via.map(to_qbo),
                net,
                names[run.a_currency[rows]],
                {"item": item, "via_account": via},
            )
        )
    parts.append(_payment_postings(t, counted, run.a_amount, names[run.a_currency], to_qbo))
    return pd.concat(parts, ignore_index=True)


def _payment_postings(
    t: pd.DataFrame,
    counted: np.ndarray,
    amounts: np.ndarray,
    currency: np.ndarray,
    to_qbo: pd.Series | None,
) -> pd.DataFrame:
    """Each counted payment debits its deposit account with its amount (AWRA: through ``to_qbo``)."""
    rows = np.flatnonzero(counted & (t["entity"] == "payment").fillna(False).to_numpy(dtype=bool))
    via = _text(t["deposit_account_id"].take(rows)).reset_index(drop=True)
    account = via.map(to_qbo) if to_qbo is not None else via
    extra = {"item": pd.Series(pd.NA, index=via.index, dtype="string"), "via_account": via}
    entity = pd.Series(["payment"] * len(rows), dtype="string")
    return _postings(entity, rows, account, amounts[rows], currency[rows], extra if to_qbo is not None else None)


def _qbo_postings(qbo: QboData, run: RunArrays) -> pd.DataFrame:
    """QBO postings, the same columns as ``_awra_postings`` without ``item`` / ``via_account``."""
    t = qbo.transactions
    counted = run.q_in_total
    names = np.asarray(run.currency_names, dtype=object)
    refs = qbo.references
    items = refs[(refs["ref_type"] == "item").fillna(False).to_numpy(dtype=bool)].drop_duplicates("id")
    income = pd.Series(items["income_account_id"].to_numpy(), index=items["id"].to_numpy())
    expense = pd.Series(items["expense_account_id"].to_numpy(), index=items["id"].to_numpy())
    lines = _line_rows(qbo.lines, t, counted)
    parts = []
    for entity, frame in lines.groupby("entity", sort=False):
        rows = frame["row"].to_numpy(dtype=np.int64)
        item = _text(frame["item_id"])
        account = _text(frame["account_id"])
        if entity == "invoice":
            account = _text(item.map(income)).fillna(account)  # discount lines: DiscountAccountRef
            net = -frame["amount_cents"].fillna(0).to_numpy(dtype=np.int64)
        elif entity == "bill":
            account = account.fillna(_text(item.map(expense)))
            net = frame["amount_cents"].fillna(0).to_numpy(dtype=np.int64)
        elif entity == "journal":
            debit = frame["debit_cents"].fillna(0).to_numpy(dtype=np.int64)
            net = debit - frame["credit_cents"].fillna(0).to_numpy(dtype=np.int64)
        else:
            continue
        parts.append(_postings(frame["entity"], rows, account, net, names[run.q_currency[rows]]))
    parts.append(_payment_postings(t, counted, run.q_amount, names[run.q_currency], None))
    return pd.concat(parts, ignore_index=True)


# --------------------------------------------------------------------------- explaining


def _explainers(
    deltas: pd.DataFrame,
    a_post: pd.DataFrame,
    awra: AwraData,
    qbo: QboData,
    findings: pd.DataFrame,
    run: RunArrays,
) -> np.ndarray:
    """Per delta row, the position in ``findings`` of the finding explaining it (-1: none)."""
    out = np.full(len(deltas), -1, dtype=np.int64)
    moving = np.flatnonzero(deltas["delta"].to_numpy() != 0)
    if not len(moving) or not len(findings):
        return out
    index = _FindingIndex(findings)
    used = _masters_used(a_post, deltas["m"].to_numpy()[moving])
    matches = run.matches
    chosen: dict[int, int] = {}
    m_values = deltas["m"].to_numpy(dtype=np.int64)
    for position in moving.tolist():
        m = int(m_values[position])
        if m not in chosen:
            chosen[m] = _record_explainer(m, matches, awra, qbo, run, index, used.get(m, ()))
        out[position] = chosen[m]
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


def _masters_used(a_post: pd.DataFrame, ms: np.ndarray) -> dict[int, tuple[tuple[str, str], ...]]:
    """Per ``MATCHES`` row, the items and accounts its AWRA postings go through."""
    rows = a_post[a_post["m"].isin(ms)]
    out: dict[int, list[tuple[str, str]]] = {}
    for m, item, account in zip(rows["m"], rows["item"], rows["via_account"], strict=True):
        seen = out.setdefault(int(m), [])
        for key in (("item", item), ("account", account)):
            if isinstance(key[1], str) and key not in seen:
                seen.append(key)
    return {m: tuple(sorted(keys)) for m, keys in out.items()}


def _record_explainer(
    m: int,
    matches: pd.DataFrame,
    awra: AwraData,
    qbo: QboData,
    run: RunArrays,
    index: _FindingIndex,
    masters: tuple[tuple[str, str], ...],
) -> int:
    """The finding explaining the postings of ``MATCHES`` row ``m`` (-1: none)."""
    if m < 0 or m >= len(matches):
        return -1
    entity = str(matches["entity"].iat[m])
    ar, qr = int(run.awra_row[m]), int(run.qbo_row[m])
    awra_id = texts_at(awra.transactions["id"], np.array([ar]))[0] or None
    qbo_id = texts_at(qbo.transactions["id"], np.array([qr]))[0] or None
    own = index.best(index.of_record(entity, awra_id, qbo_id))
    if own >= 0:
        return own
    for key in masters:
        for i in index.by_master.get(key, []):
            return i
    return -1


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
