"""Mapping checks: AWRA master records and ``qbo_mappings`` against QBO's reference entities.

For customers, vendors, items, tax codes, accounts and payment methods (``frames.MASTER_TYPES``)
``check_mappings`` reports, as findings (``frames.FINDINGS``):

* ``mapping_missing``: a master record used by a transaction in the window, or active, has no
  mapping row, or its mapping has a blank ``qbo_id``. The cached ``qbo_name`` plays no part: it
  is a label AWRA often leaves blank, and a mapping is sound when its ``qbo_id`` names an
  existing, active QBO record of the right kind (CONTRACTS §1).
* ``mapping_broken``: the mapped QBO record does not exist, or it is inactive. (A mapping whose
  AWRA record is itself inactive and unused may point at an inactive QBO record: both sides are
  retired, which is not a problem.) A tax code mapped to ``TAX`` or ``NON`` is not broken: those
  are the pseudo tax codes a US company's sales lines carry (taxable / not taxable), never
  returned by a TaxCode query; ``NON`` is taken as a 0 % rate, ``TAX`` as a rate not known from
  the code alone (it comes from the transaction's tax code). Real TaxCode Ids are numeric, so the
  two names cannot be mistaken for one in any company.
* ``mapping_duplicate``: two AWRA records (active or used) map to one QBO record (one row per extra
  AWRA record), or QBO holds two active records of one type whose names are equal ignoring case
  and spacing (one row per extra QBO record). Many AWRA tax codes may map to ``TAX`` (or ``NON``)
  in a US company: that is how taxability is sent, not a duplicate.
* ``mapping_mismatch``: a mapped pair (AWRA record active or used) disagrees: the tax rate
  (compared as decimals), the account type (``ACCOUNT_TYPE_MATCH`` / ``ACCOUNT_CLASSIFICATION``),
  an item's income or expense account ("maps to wrong category": the AWRA item's account maps to a
  QBO account other than the QBO item's ``IncomeAccountRef`` / ``ExpenseAccountRef``), a card
  payment method mapped to a non-card QBO method and the reverse, or a customer or vendor mapped
  to a QBO record whose display name is blank (field ``qbo_name``).

"Name missing" (the walkthrough's first customer/vendor mapping problem) has two sides. A QBO
customer or vendor with a blank display name is a ``mapping_mismatch``: the pair exists and is
active (so it is neither missing nor broken) but disagrees, AWRA naming the party and QBO not,
and QBO users cannot find the party by name. An AWRA customer or vendor without a name is a row
the job cannot take as given: the AWRA reader lists it as ``data_quality`` (field ``name``), as
it does for every master record, so it is not repeated here.

Every mapping finding carries ``blocks_count`` / ``blocks_cents`` (with ``currency``: amounts in
two currencies are never added; with several, ``blocks_cents`` is ``<NA>`` and the message names
each currency's sum): the transactions in the window
(``in_window``, of the run's entities, whose status passes the run's status filter) that use the
master record *and* that the sync has not brought to QBO: not paired with a QBO record, or whose
latest sync attempt fails (``blocked_transactions``), and the sum of their ``amount_cents``. A
transaction that is in QBO and synced is not blocked by a gap in a mapping, whatever the gap. A
transaction *uses* a master through its party (``party_id``: customer for invoices and payments,
vendor for bills), its lines' ``item_id``, ``tax_code_id``, ``account_id`` and
``payment_method_id``, and the income account (invoices) or expense account (bills) of the items
on its lines. These counts are computed with merges and a group-by (``master_usage``), so they
scale to millions of lines.

Pure functions: inputs are never modified.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from reconcile import frames as F
from reconcile.match import match_records
from reconcile.model import AwraData, QboData
from reconcile.params import RunParams

#: The finding categories this module produces.
MAPPING_CATEGORIES: tuple[str, ...] = ("mapping_missing", "mapping_broken", "mapping_duplicate", "mapping_mismatch")

#: AWRA ``accounts.account_type`` -> the QBO ``Account.AccountType`` values that agree with it.
#: Compared ignoring case and spaces (QBO writes both "Accounts Receivable" and
#: "AccountsReceivable"). Extend here when AWRA grows a type.
ACCOUNT_TYPE_MATCH: Mapping[str, tuple[str, ...]] = {
    "receivable": ("Accounts Receivable",),
    "bank": ("Bank",),
    "income": ("Income", "Other Income"),
    "expense": ("Expense", "Other Expense", "Cost of Goods Sold"),
    "asset": ("Other Current Asset", "Fixed Asset", "Other Asset"),
    "payable": ("Accounts Payable",),
    "liability": ("Other Current Liability", "Long Term Liability", "Credit Card"),
    "equity": ("Equity",),
}

#: AWRA ``account_type`` -> QBO ``Account.Classification``, used when QBO gives no AccountType.
ACCOUNT_CLASSIFICATION: Mapping[str, str] = {
    "receivable": "Asset",
    "bank": "Asset",
    "asset": "Asset",
    "income": "Revenue",
    "expense": "Expense",
    "payable": "Liability",
    "liability": "Liability",
    "equity": "Equity",
}

#: The pseudo tax codes of a US company's lines (CONTRACTS §2, qbo-api-notes): valid mapping
#: targets though no TaxCode entity has those Ids, with the rate each stands for (``None``: the
#: rate comes from the transaction's tax code, not from the line's).
US_PSEUDO_TAX_CODES: Mapping[str, str | None] = {"TAX": None, "NON": "0"}

#: Latest sync states that mean the record's sync fails (it is blocked even if QBO has a copy).
SYNC_FAILING: tuple[str, ...] = ("failed", "retrying", "needs_attention")

#: How a master type is named in plain words.
LABELS: Mapping[str, str] = {
    "customer": "customer",
    "vendor": "vendor",
    "item": "item",
    "tax_code": "tax code",
    "account": "account",
    "payment_method": "payment method",
}

#: Where a finance admin fixes a mapping (AWRA's menu path).
MAPPING_SCREEN = "Integrations > QBO mappings"

#: Line columns that name a master record, with the master type they name.
_LINE_MASTER_COLUMNS: tuple[tuple[str, str], ...] = (
    ("item_id", "item"),
    ("tax_code_id", "tax_code"),
    ("account_id", "account"),
    ("payment_method_id", "payment_method"),
)

_USAGE_COLUMNS = ["entity", "txn_id", "master_type", "master_id"]


# --------------------------------------------------------------------------- usage


def _present(series: pd.Series) -> pd.Series:
    """True where a text value is neither missing nor blank."""
    return series.notna() & (series.astype("string").str.strip() != "").fillna(False)


def isin_fast(series: pd.Series, values: pd.Series) -> np.ndarray:
    """``series.isin(values)`` as a bool array, by hashing (pyarrow-backed ``isin`` is slow for many values).

    Text columns held in Arrow are looked up in Arrow's own hash set: no Python string per row.
    """
    data, wanted = _arrow_text(series), _arrow_text(values)
    if data is not None:
        if wanted is not None:
            value_set = pc.unique(wanted.combine_chunks().drop_null())
        else:  # only texts can equal a text
            texts = [v for v in pd.unique(values.dropna().to_numpy(dtype=object)) if isinstance(v, str)]
            value_set = pa.array(texts, type=pa.large_string())
        found = pc.is_in(data, value_set=value_set.cast(data.type))
        return pc.fill_null(found, False).to_numpy(zero_copy_only=False)
    index = pd.Index(pd.unique(values.dropna().to_numpy(dtype=object)))
    return np.asarray(index.get_indexer(series.astype(object).where(series.notna(), None).to_numpy()) >= 0)


def _arrow_text(series: pd.Series) -> pa.ChunkedArray | None:
    """The Arrow text array behind a text column, or ``None`` when it is held otherwise."""
    data = getattr(series.array, "_pa_array", None)
    if isinstance(data, pa.ChunkedArray) and (pa.types.is_string(data.type) or pa.types.is_large_string(data.type)):
        return data
    return None


def window_transactions(awra: AwraData, params: RunParams, blocked: pd.DataFrame | None = None) -> pd.DataFrame:
    """The AWRA transactions in the window of the run's entities, one row per (entity, id).

    Columns ``entity, id, party_id, amount_cents, currency, passes`` (``passes``: status passes the run's
    status filter and, when ``blocked`` (columns ``entity, id``) is given, the record is in it).
    """
    tx = awra.transactions
    keep = tx["in_window"].fillna(False).astype(bool) & tx["entity"].isin(params.entities)
    columns = ["entity", "id", "party_id", "amount_cents", "currency", "status"]
    out = tx.loc[keep, columns].drop_duplicates(["entity", "id"])
    passes = (out["status"] == params.status).fillna(False).astype(bool).to_numpy(dtype=bool)
    if blocked is not None:
        passes = passes & isin_fast(
            _record_key(out["entity"], out["id"]), _record_key(blocked["entity"], blocked["id"])
        )
    return out.assign(passes=passes).drop(columns="status").reset_index(drop=True)


def _record_key(entity: pd.Series, ids: pd.Series) -> pd.Series:
    """One text key per (entity, id) (ids are text; the separator cannot occur in an entity name)."""
    return entity.astype("string") + "\x1f" + ids.astype("string")


def blocked_transactions(matches: pd.DataFrame, awra: AwraData) -> pd.DataFrame:
    """The AWRA transactions a mapping gap can block: not in QBO, or whose sync fails.

    From the run's pairing frame (``match.MATCHES``): an AWRA record with no QBO counterpart, or
    whose latest sync attempt (``sync_row``) is in ``SYNC_FAILING``. Columns ``entity, id``; a
    record paired with QBO whose last sync succeeded (or was never logged) is not listed.
    """
    has_awra = matches["awra_row"].notna().to_numpy(dtype=bool)
    not_in_qbo = matches["qbo_row"].isna().to_numpy(dtype=bool)
    sync_row = matches["sync_row"].fillna(-1).to_numpy(dtype=np.int64)
    states = awra.sync_log["status"].to_numpy(dtype=object)
    latest = np.where(sync_row >= 0, states[np.maximum(sync_row, 0)] if len(states) else None, None)
    failing = pd.Series(latest, dtype="string").isin(SYNC_FAILING).fillna(False).to_numpy(dtype=bool)
    keep = has_awra & (not_in_qbo | failing)
    out = pd.DataFrame({"entity": matches["entity"].to_numpy()[keep], "id": matches["awra_id"].to_numpy()[keep]})
    return out.drop_duplicates().astype("string").reset_index(drop=True)


@dataclass(frozen=True)
class _Pairs:
    """Deduplicated (transaction position, master id) pairs of one master type."""

    master_type: str
    positions: np.ndarray  # int64 positions into the keys frame
    ids: np.ndarray  # object array of master ids, aligned with positions


def _dedupe(positions: np.ndarray, values: pd.Series | np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Unique (position, value) pairs, computed on integer codes (fast on millions of rows)."""
    # an Arrow text column is factorized in Arrow (the same codes and uniques, first seen first)
    codes, uniques = pd.factorize(values if _is_arrow_text(values) else np.asarray(values, dtype=object))
    if len(codes) == 0:
        return np.array([], dtype=np.int64), np.array([], dtype=object)
    width = np.int64(len(uniques) + 1)
    combined = pd.unique(positions.astype(np.int64) * width + codes.astype(np.int64))
    return combined // width, np.asarray(uniques, dtype=object)[combined % width]


def _usage_pairs(awra: AwraData, keys: pd.DataFrame) -> list[_Pairs]:
    """Master usage of the transactions in ``keys`` (``entity, id, party_id``, positional index)."""
    keys = keys.reset_index(drop=True)
    found: dict[str, list[tuple[np.ndarray, np.ndarray]]] = {t: [] for t in F.MASTER_TYPES}
    party_type = keys["entity"].map(dict(F.PARTY_TYPE))
    party_ok = (_present(keys["party_id"]) & party_type.notna()).to_numpy(dtype=bool)
    for master_type in ("customer", "vendor"):
        mask = party_ok & (party_type == master_type).to_numpy(dtype=bool)
        found[master_type].append((np.flatnonzero(mask), keys["party_id"].to_numpy(dtype=object)[mask]))
    items = awra.masters.loc[awra.masters["master_type"] == "item"].drop_duplicates("id").set_index("id")
    lines = awra.lines
    if 4 * len(keys) < len(lines):
        lines = lines.loc[isin_fast(lines["txn_id"], keys["id"])]
    line_entity = lines["entity"]
    for entity, where in keys.groupby("entity", observed=True).indices.items():
        chunk = lines.loc[(line_entity == entity).fillna(False).to_numpy(dtype=bool)]
        if chunk.empty:
            continue
        local = _positions_in(chunk["txn_id"], keys["id"].iloc[where])
        in_scope = local >= 0
        positions = np.where(in_scope, where[np.maximum(local, 0)], -1)
        for column, master_type in _LINE_MASTER_COLUMNS:
            ok = in_scope & _present(chunk[column]).to_numpy(dtype=bool)
            if not ok.any():
                continue
            pos, vals = _dedupe(positions[ok], chunk[column][ok])
            found[master_type].append((pos, vals))
            if master_type == "item" and len(items):
                account_col = "expense_account_id" if entity == "bill" else "income_account_id"
                account = items[account_col].reindex(pd.Index(vals)).to_numpy(dtype=object)
                has = _present(pd.Series(account, dtype="string")).to_numpy(dtype=bool)
                found["account"].append((pos[has], account[has]))
    out: list[_Pairs] = []
    for master_type, parts in found.items():
        parts = [p for p in parts if len(p[0])]
        if not parts:
            continue
        pos = np.concatenate([p[0] for p in parts])
        vals = np.concatenate([p[1] for p in parts])
        if len(parts) > 1:
            pos, vals = _dedupe(pos, vals)
        out.append(_Pairs(master_type, pos, vals))
    return out


def _positions_in(values: pd.Series, ids: pd.Series) -> np.ndarray:
    """Per value, its position in ``ids`` (unique; -1 when absent), in Arrow when both are Arrow text."""
    data, table = _arrow_text(values), _arrow_text(ids)
    if data is not None and table is not None:
        found = pc.index_in(data, value_set=table.combine_chunks().cast(data.type))
        return pc.fill_null(found, -1).to_numpy(zero_copy_only=False).astype(np.int64)
    return pd.Index(ids.to_numpy(dtype=object)).get_indexer(values.to_numpy(dtype=object))


def _is_arrow_text(values: object) -> bool:
    return isinstance(values, pd.Series) and _arrow_text(values) is not None


def master_usage(awra: AwraData, params: RunParams, records: pd.DataFrame | None = None) -> pd.DataFrame:
    """Which master records each transaction uses: columns ``entity, txn_id, master_type, master_id``.

    ``records`` (columns ``entity``, ``id``) restricts the answer to those transactions, in or out
    of the window; without it, the in-window transactions of the run's entities are used. One row
    per (transaction, master), deduplicated.
    """
    keys = _keys(awra, params, records)
    frames = [
        pd.DataFrame(
            {
                "entity": keys["entity"].to_numpy(dtype=object)[p.positions],
                "txn_id": keys["id"].to_numpy(dtype=object)[p.positions],
                "master_type": p.master_type,
                "master_id": p.ids,
            }
        )
        for p in _usage_pairs(awra, keys)
    ]
    usage = pd.concat(frames, ignore_index=True) if frames else pd.DataFrame(columns=_USAGE_COLUMNS)
    return usage.astype("string")


def _keys(awra: AwraData, params: RunParams, records: pd.DataFrame | None) -> pd.DataFrame:
    if records is None:
        return window_transactions(awra, params)
    wanted = records[["entity", "id"]].drop_duplicates()
    tx = awra.transactions
    tx = tx.loc[isin_fast(tx["id"], wanted["id"]), ["entity", "id", "party_id"]]  # the few asked for, first
    tx = tx.drop_duplicates(["entity", "id"])
    return wanted.merge(tx, on=["entity", "id"], how="inner").reset_index(drop=True)


def usage_stats(awra: AwraData, params: RunParams, blocked: pd.DataFrame | None = None) -> pd.DataFrame:
    """Per master record used in the window: ``master_type, master_id, used, blocks_*``.

    ``used``: some in-window transaction of the run's entities uses it (any status);
    ``blocks_count``: the transactions that also pass the status filter and are in ``blocked``
    (``blocked_transactions``; without it, every one that passes). Their money is summed per
    currency, never across currencies: ``blocks_cents`` / ``blocks_currency`` when they are all in
    one currency (``<NA>`` when in several), and ``blocks_amounts`` says every currency's sum in
    words (``1,250.00 KES and 30.00 USD``).
    """
    keys = window_transactions(awra, params, blocked)
    passes = keys["passes"].to_numpy(dtype=bool)
    cents = keys["amount_cents"].fillna(0).to_numpy(dtype=np.int64)
    currency_codes, currencies = pd.factorize(keys["currency"].astype("string").fillna(""))
    n_currencies = max(len(currencies), 1)
    frames = []
    for p in _usage_pairs(awra, keys):
        codes, uniques = pd.factorize(p.ids)
        blocking = passes[p.positions]
        count = np.bincount(codes, weights=blocking, minlength=len(uniques))
        # one integer sum per (master, currency): bincount's float weights are exact only below 2**53
        cells = codes * n_currencies + currency_codes[p.positions]
        money = np.zeros(len(uniques) * n_currencies, dtype=np.int64)
        np.add.at(money, cells[blocking], cents[p.positions][blocking])
        seen = np.zeros(len(uniques) * n_currencies, dtype=bool)
        seen[cells[blocking]] = True
        frames.append(
            pd.DataFrame(
                {
                    "master_type": p.master_type,
                    "master_id": np.asarray(uniques, dtype=object),
                    "blocks_count": count.astype(np.int64),
                    **_money_per_currency(
                        money.reshape(-1, n_currencies), seen.reshape(-1, n_currencies), list(currencies)
                    ),
                }
            )
        )
    dtypes = {
        "master_type": "string",
        "master_id": "string",
        "blocks_count": "Int64",
        "blocks_cents": "Int64",
        "blocks_currency": "string",
        "blocks_amounts": "string",
    }
    if not frames:
        return pd.DataFrame(columns=[*dtypes, "used"]).astype(dtypes)
    return pd.concat(frames, ignore_index=True).assign(used=True).astype(dtypes)


def _money_per_currency(money: np.ndarray, seen: np.ndarray, currencies: list[str]) -> dict[str, list[object]]:
    """``blocks_cents`` / ``blocks_currency`` (one currency only) and ``blocks_amounts`` per master."""
    cents: list[object] = []
    currency: list[object] = []
    amounts: list[object] = []
    for row, present in zip(money.tolist(), seen.tolist(), strict=True):
        used = [k for k, hit in enumerate(present) if hit]
        one = len(used) == 1
        cents.append(row[used[0]] if one else (0 if not used else None))
        currency.append((currencies[used[0]] or None) if one else None)
        amounts.append(" and ".join(f"{format_cents(row[k])} {currencies[k]}".rstrip() for k in used) or None)
    return {"blocks_cents": cents, "blocks_currency": currency, "blocks_amounts": amounts}


# --------------------------------------------------------------------------- text helpers


def format_cents(cents: object) -> str:
    """Integer cents as ``1,250.00`` (``-12.50`` for negatives)."""
    if cents is None or cents is pd.NA:
        return "not recorded"
    value = Decimal(int(cents)) / 100  # type: ignore[call-overload]
    return f"{value:,.2f}"


def _text(value: object) -> str | None:
    if value is None or value is pd.NA or (isinstance(value, float) and value != value):
        return None
    text = str(value).strip()
    return text or None


def label_of(master_type: object) -> str:
    """A master type in plain words (``tax_code`` -> ``tax code``)."""
    text = str(master_type)
    return LABELS.get(text, text)


def describe_master(master_type: object, code: object, name: object, master_id: object) -> str:
    """A master record in plain words: ``customer C-017 'Acme'``."""
    label = label_of(master_type)
    ident = _text(code) or _text(master_id) or "?"
    shown = _text(name)
    return f"{label} {ident} '{shown}'" if shown else f"{label} {ident}"


def describe_qbo(master_type: object, qbo_id: object, qbo_name: object) -> str:
    """A QBO record in plain words: ``QBO customer 58 'Acme Ltd'``."""
    label = label_of(master_type)
    shown = _text(qbo_name)
    ident = _text(qbo_id) or "?"
    return f"QBO {label} {ident} '{shown}'" if shown else f"QBO {label} {ident}"


#: The blocked-transactions columns a mapping finding is built from (``usage_stats``).
_BLOCKS: tuple[str, ...] = ("blocks_count", "blocks_cents", "blocks_currency", "blocks_amounts")


def _blocks_phrase(count: object, amounts: object) -> str:
    n = 0 if count is None or count is pd.NA else int(count)  # type: ignore[call-overload]
    if n == 0:
        return "it blocks no transaction in the window"
    noun = "transaction" if n == 1 else "transactions"
    return f"it blocks {n} {noun} in the window ({_text(amounts) or format_cents(0)})"


def _norm_name(series: pd.Series) -> pd.Series:
    return series.astype("string").str.lower().str.replace(r"\s+", "", regex=True)


def _decimal(value: object) -> Decimal | None:
    text = _text(value)
    if text is None:
        return None
    try:
        return Decimal(text)
    except InvalidOperation:
        return None


def _is_false(value: object) -> bool:
    """True only for a known False (a missing flag is not False)."""
    return value is False or (isinstance(value, np.bool_) and not value)


def _natural_key(series: pd.Series) -> pd.Series:
    """Sort key putting ``"9"`` before ``"10"`` (QBO ids are numeric text)."""
    text = series.astype("string").fillna("")
    return text.str.len().astype("Int64").astype(str).str.zfill(6) + text


# --------------------------------------------------------------------------- the checks


def _joined(awra: AwraData, qbo: QboData, params: RunParams, blocked: pd.DataFrame) -> pd.DataFrame:
    """Masters with their usage, mapping and mapped QBO record, one row per master."""
    masters = awra.masters.loc[awra.masters["master_type"].isin(F.MASTER_TYPES)].drop_duplicates(["master_type", "id"])
    stats = usage_stats(awra, params, blocked)
    m = masters.merge(stats, left_on=["master_type", "id"], right_on=["master_type", "master_id"], how="left")
    m = m.drop(columns="master_id")
    m["used"] = m["used"].astype("boolean").fillna(False).astype(bool)
    m["blocks_count"] = m["blocks_count"].astype("Int64").fillna(0)
    none_blocked = m["blocks_count"] == 0
    m["blocks_cents"] = m["blocks_cents"].astype("Int64").mask(none_blocked, 0)
    m["relevant"] = m["active"].fillna(False).astype(bool) | m["used"]

    maps = awra.mappings.drop_duplicates(["mapping_type", "awra_id"])[
        ["mapping_type", "awra_id", "qbo_id", "qbo_name", "updated_at", "updated_by"]
    ].rename(columns={"updated_at": "map_updated_at", "updated_by": "map_updated_by"})
    m = m.merge(maps, left_on=["master_type", "id"], right_on=["mapping_type", "awra_id"], how="left")
    m = m.drop(columns=["mapping_type", "awra_id"])
    m["has_mapping_row"] = m["map_updated_at"].notna() | m["qbo_id"].notna() | m["qbo_name"].notna()
    m["mapped"] = _present(m["qbo_id"])

    known = F.concat_frames([qbo.references, _pseudo_tax_codes()], F.REFERENCES)
    refs = known.drop_duplicates(["ref_type", "id"])[
        [
            "ref_type",
            "id",
            "name",
            "active",
            "qbo_type",
            "classification",
            "income_account_id",
            "expense_account_id",
            "rate_percent",
        ]
    ]
    refs = refs.rename(columns={c: f"ref_{c}" for c in refs.columns if c not in ("ref_type",)})
    m = m.merge(refs, left_on=["master_type", "qbo_id"], right_on=["ref_type", "ref_id"], how="left")
    m["ref_exists"] = m["ref_id"].notna()
    m["pseudo"] = (m["master_type"] == "tax_code").fillna(False).to_numpy(dtype=bool) & isin_fast(
        m["qbo_id"], pd.Series(list(US_PSEUDO_TAX_CODES), dtype="string")
    )
    return m.drop(columns=["ref_type"]).reset_index(drop=True)


def _pseudo_tax_codes() -> pd.DataFrame:
    """``TAX`` / ``NON`` as active tax-code references, so mappings to them are sound."""
    rows = [
        {"ref_type": "tax_code", "id": code, "name": code, "active": True, "rate_percent": rate}
        for code, rate in US_PSEUDO_TAX_CODES.items()
    ]
    return F.conform(pd.DataFrame(rows), F.REFERENCES)


def _rows(
    frame: pd.DataFrame,
    params: RunParams,
    category: str,
    *,
    field: Sequence[object],
    awra_value: Sequence[object],
    qbo_value: Sequence[object],
    cause: Sequence[object],
    action: Sequence[object],
    message: Sequence[object],
    qbo_id: Sequence[object] | None = None,
) -> pd.DataFrame:
    n = len(frame)
    out = pd.DataFrame(
        {
            "run_id": [params.run_id] * n,
            "entity": frame["master_type"].tolist(),
            "category": [category] * n,
            "awra_id": frame["id"].tolist(),
            "awra_number": frame["code"].tolist(),
            "qbo_id": list(qbo_id) if qbo_id is not None else frame["qbo_id"].tolist(),
            "party": frame["name"].tolist(),
            "field": field,
            "awra_value": awra_value,
            "qbo_value": qbo_value,
            "cause": cause,
            "action": action,
            "message": message,
            "effect_cents": [0] * n,
            "blocks_count": frame["blocks_count"].tolist(),
            "blocks_cents": frame["blocks_cents"].tolist(),
            # the currency the blocked money is in (mapping findings have no record currency)
            "currency": frame["blocks_currency"].tolist() if "blocks_currency" in frame else [None] * n,
        }
    )
    out = out.astype({"qbo_id": "string", "field": "string", "awra_value": "string", "qbo_value": "string"})
    return F.conform(out, F.FINDINGS)


def _missing(m: pd.DataFrame, params: RunParams) -> pd.DataFrame:
    rows = m.loc[(m["relevant"]) & ~m["mapped"]]
    field: list[object] = []
    awra_value: list[object] = []
    qbo_value: list[object] = []
    cause: list[object] = []
    action: list[object] = []
    message: list[object] = []
    for r in rows.itertuples(index=False):
        who = describe_master(r.master_type, r.code, r.name, r.id)
        label = label_of(r.master_type)
        what = "has a mapping with a blank QBO id" if r.has_mapping_row else "has no QBO mapping"
        why = "used in the window" if r.used else "active"
        field.append("qbo_id")
        awra_value.append(_text(r.code) or _text(r.id))
        qbo_value.append(None)
        cause.append(f"{label} not mapped to QBO")
        action.append(f"Map {who} to its QBO {label} in {MAPPING_SCREEN}")
        message.append(f"{who} ({why}) {what}; {_blocks_phrase(r.blocks_count, r.blocks_amounts)}")
    return _rows(
        rows,
        params,
        "mapping_missing",
        field=field,
        awra_value=awra_value,
        qbo_value=qbo_value,
        cause=cause,
        action=action,
        message=message,
    )


def _broken(m: pd.DataFrame, params: RunParams) -> pd.DataFrame:
    absent = _present(m["qbo_id"]) & ~m["ref_exists"]
    inactive = m["ref_exists"] & ~m["ref_active"].fillna(True).astype(bool) & m["relevant"]
    rows = m.loc[absent | inactive]
    field: list[object] = []
    awra_value: list[object] = []
    qbo_value: list[object] = []
    cause: list[object] = []
    action: list[object] = []
    message: list[object] = []
    for r in rows.itertuples(index=False):
        who = describe_master(r.master_type, r.code, r.name, r.id)
        label = label_of(r.master_type)
        target = describe_qbo(r.master_type, r.qbo_id, r.ref_name if r.ref_exists else r.qbo_name)
        if not r.ref_exists:
            state, fix = "does not exist", f"Re-map {who} to an existing QBO {label} in {MAPPING_SCREEN}"
        else:
            state = "is inactive"
            fix = f"Reactivate {target} in QBO, or re-map {who} to an active QBO {label} in {MAPPING_SCREEN}"
        field.append("qbo_id")
        awra_value.append(_text(r.qbo_id))
        qbo_value.append("inactive" if r.ref_exists else "absent")
        cause.append(f"mapped QBO {label} {state}")
        action.append(fix)
        message.append(
            f"{who} maps to {target}, which {state} in QBO; {_blocks_phrase(r.blocks_count, r.blocks_amounts)}"
        )
    return _rows(
        rows,
        params,
        "mapping_broken",
        field=field,
        awra_value=awra_value,
        qbo_value=qbo_value,
        cause=cause,
        action=action,
        message=message,
    )


def _duplicates(m: pd.DataFrame, qbo: QboData, params: RunParams) -> pd.DataFrame:
    return F.concat_frames([_duplicates_in_awra(m, params), _duplicates_in_qbo(m, qbo, params)], F.FINDINGS)


def _duplicates_in_awra(m: pd.DataFrame, params: RunParams) -> pd.DataFrame:
    """Two AWRA records map to one QBO record: one row per extra AWRA record."""
    cols = ["master_type", "id", "code", "name", "qbo_id", "qbo_name", "ref_name", "ref_exists"]
    mapped = m.loc[m["relevant"] & _present(m["qbo_id"]) & ~m["pseudo"], [*cols, *_BLOCKS]]
    shared = mapped.groupby(["master_type", "qbo_id"], observed=True)["id"].transform("size") > 1
    mapped = mapped.loc[shared].copy()
    mapped["order_key"] = _natural_key(mapped["code"].fillna(mapped["id"]))
    mapped = mapped.sort_values(["master_type", "qbo_id", "order_key", "id"], kind="stable")
    rank = mapped.groupby(["master_type", "qbo_id"], observed=True).cumcount()
    firsts = {
        (str(r.master_type), str(r.qbo_id)): describe_master(r.master_type, r.code, r.name, r.id)
        for r in mapped.loc[rank == 0].itertuples(index=False)
    }
    extra = mapped.loc[rank > 0]
    awra_value: list[object] = []
    qbo_value: list[object] = []
    cause: list[object] = []
    action: list[object] = []
    message: list[object] = []
    for r in extra.itertuples(index=False):
        other = firsts[(str(r.master_type), str(r.qbo_id))]
        who = describe_master(r.master_type, r.code, r.name, r.id)
        target = describe_qbo(r.master_type, r.qbo_id, r.ref_name if r.ref_exists else r.qbo_name)
        label = label_of(r.master_type)
        awra_value.append(_text(r.code) or _text(r.id))
        qbo_value.append(_text(r.qbo_id))
        cause.append(f"two AWRA {label} records map to one QBO {label}")
        action.append(
            f"Decide whether {who} and {other} are the same {label}: merge them in AWRA, or map {who} to its "
            f"own QBO {label} in {MAPPING_SCREEN}"
        )
        message.append(f"{who} and {other} both map to {target}; {_blocks_phrase(r.blocks_count, r.blocks_amounts)}")
    return _rows(
        extra,
        params,
        "mapping_duplicate",
        field=["qbo_id"] * len(extra),
        awra_value=awra_value,
        qbo_value=qbo_value,
        cause=cause,
        action=action,
        message=message,
    )


def _duplicates_in_qbo(m: pd.DataFrame, qbo: QboData, params: RunParams) -> pd.DataFrame:
    """QBO holds two active records of one type whose names agree ignoring case and spacing.

    One row per extra QBO record (the lowest Id is kept); ``awra_id`` is an AWRA record mapped to
    that QBO record, else one mapped to another record of the group, else empty.
    """
    refs = qbo.references
    active = refs.loc[
        refs["ref_type"].isin(F.MASTER_TYPES) & refs["active"].fillna(False).astype(bool) & _present(refs["name"])
    ].drop_duplicates(["ref_type", "id"])
    active = active.assign(norm_key=_norm_name(active["name"]), order_key=_natural_key(active["id"]))
    active = active.sort_values(["ref_type", "norm_key", "order_key"], kind="stable")
    group = active.groupby(["ref_type", "norm_key"], observed=True)
    size = group["id"].transform("size")
    rank = group.cumcount()
    dup = active.loc[size > 1]
    if dup.empty:
        return F.empty_frame(F.FINDINGS)
    by_qbo: dict[tuple[str, str], dict[str, object]] = {}
    dup_types = m["master_type"].isin(dup["ref_type"].unique()) & m["qbo_id"].isin(dup["id"])
    candidates_m = m.loc[dup_types, ["master_type", "id", "code", "name", "qbo_id", *_BLOCKS]]
    for r in candidates_m.sort_values(["master_type", "id"], kind="stable").itertuples(index=False):
        by_qbo.setdefault(
            (str(r.master_type), str(r.qbo_id)),
            {
                "id": r.id,
                "code": r.code,
                "name": r.name,
                "blocks_count": r.blocks_count,
                "blocks_cents": r.blocks_cents,
                "blocks_currency": r.blocks_currency,
                "blocks_amounts": r.blocks_amounts,
            },
        )
    ids_in_group: dict[tuple[str, str], list[str]] = {}
    for r in dup.itertuples(index=False):
        ids_in_group.setdefault((str(r.ref_type), str(r.norm_key)), []).append(str(r.id))
    rows: list[dict[str, object]] = []
    awra_value: list[object] = []
    qbo_value: list[object] = []
    cause: list[object] = []
    action: list[object] = []
    message: list[object] = []
    qbo_ids: list[object] = []
    for r in dup.loc[rank > 0].itertuples(index=False):
        ref_type, qid = str(r.ref_type), str(r.id)
        ids = ids_in_group[(ref_type, str(r.norm_key))]
        candidates = [qid, *[i for i in ids if i != qid]]
        hit = next((i for i in candidates if (ref_type, i) in by_qbo), None)
        label = label_of(ref_type)
        shown_ids = ", ".join(ids)
        if hit is not None:
            master = by_qbo[(ref_type, hit)]
            who = describe_master(ref_type, master["code"], master["name"], master["id"])
            rows.append({"master_type": ref_type, **master})
            tail = f"; {who} maps to QBO {label} {hit}; " + _blocks_phrase(
                master["blocks_count"], master["blocks_amounts"]
            )
        else:
            rows.append(
                {
                    "master_type": ref_type,
                    "id": None,
                    "code": None,
                    "name": r.name,
                    "blocks_count": 0,
                    "blocks_cents": 0,
                    "blocks_currency": None,
                    "blocks_amounts": None,
                }
            )
            tail = "; no AWRA record maps to them"
        qbo_ids.append(qid)
        awra_value.append(None)
        qbo_value.append(r.name)
        cause.append(f"QBO holds {len(ids)} active {label} records with one name")
        action.append(
            f"Merge or rename the duplicate {label} records in QBO (Ids {shown_ids}), then check which one "
            f"AWRA maps to in {MAPPING_SCREEN}"
        )
        message.append(f"QBO holds {len(ids)} active {label} records named like '{r.name}' (Ids {shown_ids}){tail}")
    frame = pd.DataFrame(rows).astype({"id": "string", "code": "string", "name": "string"})
    return _rows(
        frame,
        params,
        "mapping_duplicate",
        field=["qbo_name"] * len(frame),
        awra_value=awra_value,
        qbo_value=qbo_value,
        cause=cause,
        action=action,
        message=message,
        qbo_id=qbo_ids,
    )


def _mismatches(m: pd.DataFrame, qbo: QboData, params: RunParams) -> pd.DataFrame:
    checked = m["master_type"].isin(("customer", "vendor", "tax_code", "account", "item", "payment_method"))
    pairs = m.loc[m["relevant"] & m["ref_exists"] & checked]
    account_map = m.loc[(m["master_type"] == "account") & _present(m["qbo_id"])].set_index("id")["qbo_id"]
    refs = qbo.references
    qbo_accounts = refs.loc[refs["ref_type"] == "account"].drop_duplicates("id").set_index("id")["name"]
    records: list[tuple[int, str, str | None, str | None, str, str, str]] = []
    for pos, r in enumerate(pairs.itertuples(index=False)):
        who = describe_master(r.master_type, r.code, r.name, r.id)
        target = describe_qbo(r.master_type, r.qbo_id, r.ref_name)
        blocks = _blocks_phrase(r.blocks_count, r.blocks_amounts)
        if r.master_type in ("customer", "vendor"):
            # an inactive record is reported broken already: its name is not the point then
            if _text(r.ref_name) is None and not _is_false(r.ref_active):
                label = label_of(r.master_type)
                records.append(
                    (
                        pos,
                        "qbo_name",
                        _text(r.name),
                        None,
                        f"QBO {label} has no name",
                        f"Give {target} a display name in QBO (AWRA calls it '{_text(r.name) or _text(r.id)}')",
                        f"{who} maps to {target}, whose display name is blank in QBO; {blocks}",
                    )
                )
        elif r.master_type == "tax_code":
            ours, theirs = _decimal(r.rate_percent), _decimal(r.ref_rate_percent)
            if ours is not None and theirs is not None and ours != theirs:
                records.append(
                    (
                        pos,
                        "rate_percent",
                        _text(r.rate_percent),
                        _text(r.ref_rate_percent),
                        "tax rate differs from QBO",
                        f"Correct the rate of {who} or of {target} (whichever is wrong), or map {who} to the QBO "
                        f"tax code with rate {ours}% in {MAPPING_SCREEN}",
                        f"{who} has rate {ours}% but {target} has {theirs}%; {blocks}",
                    )
                )
        elif r.master_type == "account":
            ours_type = _text(r.account_type)
            if ours_type is None or ours_type.lower() not in ACCOUNT_TYPE_MATCH:
                continue
            key = ours_type.lower()
            accepted = ACCOUNT_TYPE_MATCH[key]
            qbo_type, qbo_class = _text(r.ref_qbo_type), _text(r.ref_classification)
            if qbo_type is not None:
                squash = {a.replace(" ", "").lower() for a in accepted}
                bad = qbo_type.replace(" ", "").lower() not in squash
                shown = qbo_type
            elif qbo_class is not None:
                bad = qbo_class.lower() != ACCOUNT_CLASSIFICATION[key].lower()
                shown = qbo_class
            else:
                continue
            if bad:
                records.append(
                    (
                        pos,
                        "account_type",
                        ours_type,
                        shown,
                        "account type differs from QBO",
                        f"Map {who} to a QBO account of type {' / '.join(accepted)} in {MAPPING_SCREEN}, or correct "
                        f"the account type on the side that is wrong",
                        f"{who} is a {ours_type} account but {target} is {shown}; {blocks}",
                    )
                )
        elif r.master_type == "item":
            for ours_col, ref_col, field, words in (
                ("income_account_id", "ref_income_account_id", "income_account", "income"),
                ("expense_account_id", "ref_expense_account_id", "expense_account", "expense"),
            ):
                awra_account = _text(getattr(r, ours_col))
                qbo_item_account = _text(getattr(r, ref_col))
                if awra_account is None or qbo_item_account is None or awra_account not in account_map.index:
                    continue
                mapped_to = _text(account_map.loc[awra_account])
                if mapped_to is None or mapped_to == qbo_item_account:
                    continue
                if mapped_to not in qbo_accounts.index:
                    # the account's own mapping points at no QBO account: reported once, as broken
                    # (the item's account is not the fault, and mending the mapping settles both)
                    continue
                mapped_name = qbo_accounts.get(mapped_to) if mapped_to in qbo_accounts.index else None
                item_name = qbo_accounts.get(qbo_item_account) if qbo_item_account in qbo_accounts.index else None
                records.append(
                    (
                        pos,
                        field,
                        mapped_to,
                        qbo_item_account,
                        f"item maps to wrong {words} category",
                        f"Make the {words} account of {who} and of {target} agree: change the item's {words} account "
                        f"in QBO or AWRA, or fix the account mapping in {MAPPING_SCREEN}",
                        f"{who} posts {words} to AWRA account {awra_account}, mapped to "
                        f"{describe_qbo('account', mapped_to, mapped_name)}, but {target} posts to "
                        f"{describe_qbo('account', qbo_item_account, item_name)}; {blocks}",
                    )
                )
        elif r.master_type == "payment_method":
            method, qbo_type = _text(r.method_type), _text(r.ref_qbo_type)
            if method is None or qbo_type is None:
                continue
            awra_card = method.lower() == "card"
            qbo_card = qbo_type.upper() == "CREDIT_CARD"
            if awra_card != qbo_card:
                want = "card (CREDIT_CARD)" if awra_card else "non-card (NON_CREDIT_CARD)"
                records.append(
                    (
                        pos,
                        "method_type",
                        method,
                        qbo_type,
                        "payment method type differs from QBO",
                        f"Map {who} to a {want} QBO payment method in {MAPPING_SCREEN}",
                        f"{who} is a {method} method but {target} is {qbo_type}; {blocks}",
                    )
                )
    if not records:
        return F.empty_frame(F.FINDINGS)
    rows = pairs.iloc[[rec[0] for rec in records]]
    return _rows(
        rows,
        params,
        "mapping_mismatch",
        field=[rec[1] for rec in records],
        awra_value=[rec[2] for rec in records],
        qbo_value=[rec[3] for rec in records],
        cause=[rec[4] for rec in records],
        action=[rec[5] for rec in records],
        message=[rec[6] for rec in records],
    )


def check_mappings(
    awra: AwraData, qbo: QboData, params: RunParams, *, blocked: pd.DataFrame | None = None
) -> pd.DataFrame:
    """Mapping findings (``frames.FINDINGS``) for every master type; see the module docstring.

    ``blocked`` (``blocked_transactions`` of the run's pairing) says which transactions a mapping
    gap blocks; without it the pairing is computed here (``match.match_records``).
    """
    if blocked is None:
        blocked = blocked_transactions(match_records(awra, qbo, params), awra)
    m = _joined(awra, qbo, params, blocked)
    parts = [_missing(m, params), _broken(m, params), _duplicates(m, qbo, params), _mismatches(m, qbo, params)]
    return F.concat_frames(parts, F.FINDINGS)


__all__ = [
    "ACCOUNT_CLASSIFICATION",
    "ACCOUNT_TYPE_MATCH",
    "LABELS",
    "MAPPING_CATEGORIES",
    "SYNC_FAILING",
    "US_PSEUDO_TAX_CODES",
    "blocked_transactions",
    "check_mappings",
    "describe_master",
    "describe_qbo",
    "format_cents",
    "master_usage",
    "usage_stats",
    "window_transactions",
]
