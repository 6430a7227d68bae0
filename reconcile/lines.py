"""Compare the lines of paired records: ``mismatch`` findings per differing line and field.

Every pair that ``compare`` compares (its AWRA row passes the status filter, both rows usable)
has its lines compared too, unless either side is voided (a pair voided on one side carries
only its ``status`` finding; a voided QBO document keeps its lines at 0). Lines are compared
through the mappings (``AwraData.mappings``): the AWRA item's, account's and tax code's QBO
mapping against the QBO line's ref. Where a mapping is unknown (no mapping row, blank
``qbo_id``) that field is not compared: mapping gaps are the mapping checks' findings.

Fields (``frames.LINE_MISMATCH_FIELDS``), per entity:

* invoice: ``line_item`` (not on a QBO discount line, which names an account, no item),
  ``line_amount``, ``line_tax_code``;
* bill: ``line_item`` for an AWRA line with an item, ``line_account`` for one with an account
  only (a QBO line of the other kind differs), ``line_amount``, ``line_tax_code``;
* journal: ``line_account``, ``line_posting`` (debit or credit), ``line_amount``;
* every entity: ``line_extra`` for a line on one side only; for payments that is an
  ``application`` finding, like an application to another invoice or of another amount (one
  finding per differing application). An application's invoice is resolved to its QBO
  counterpart through the run's invoice pairing, else the link AWRA recorded on the invoice
  (``LINES.ref_link``).
* payments' header fields ``deposit_account`` and ``payment_method`` (line 0 on both sides,
  see ``frames.LINES``), skipped where AWRA names none (QBO applies its defaults).

A tax code or item AWRA leaves blank on a line is not compared. Line pairing (``pair_lines``,
used by ``explain`` too) never relies on row order: per record pair, (1) lines at the same
position (``line_no`` = QBO ``LineNum``) that agree on every field, (2) lines with the same
content anywhere (QBO can reorder; repeats are taken in position order), (3) what is left, best
candidates first: same item/account/invoice, same amount, same position, other fields; two
lines that share none of item, amount and position are not paired, (4) unless they are the only
lines left of their records. What stays unpaired is on one side only.

Money: a line finding never carries money (``effect_cents`` 0, ``tieout.CARRIER_RANK``
``other_field``); a record whose total differs keeps its header ``amount`` finding.

Vectorized over all lines of an entity (integer codes, numpy, one hash join per stage); only
the lines left after the exact stages are paired candidate by candidate, and text is built only
for the lines that differ.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from reconcile import frames as F
from reconcile.compare import compared_pairs
from reconcile.mappings import US_PSEUDO_TAX_CODES
from reconcile.match import (
    MATCH_METHODS,
    arrow_strings,
    arrow_take,
    factorize_together,
    label_codes,
    string_series,
    strings_from_codes,
)
from reconcile.model import AwraData, QboData
from reconcile.params import RunParams
from reconcile.tieout import CARRIER_RANK, Raw, RunArrays, new_findings

#: Line fields compared per entity (``application`` covers a payment's lines on one side too).
ENTITY_LINE_FIELDS: Mapping[str, tuple[str, ...]] = {
    "invoice": ("line_item", "line_amount", "line_tax_code", "line_extra"),
    "bill": ("line_item", "line_account", "line_amount", "line_tax_code", "line_extra"),
    "journal": ("line_account", "line_posting", "line_amount", "line_extra"),
    "payment": ("application",),
}

#: Payment header fields compared here (line 0 on both sides): field -> (LINES column, mapping type).
PAYMENT_HEADER_FIELDS: Mapping[str, tuple[str, str]] = {
    "deposit_account": ("account_id", "account"),
    "payment_method": ("payment_method_id", "payment_method"),
}

#: Code of a value that is absent, and of an AWRA value whose QBO mapping is unknown.
NONE, UNMAPPED = -1, -2

_CAUSE = {
    "line_item": "the line carries another item in QBO than the AWRA item's QBO mapping",
    "line_account": "the line posts to another QBO account than the AWRA account's mapping",
    "line_amount": "the line amount differs",
    "line_tax_code": "the line's tax code in QBO is not the AWRA tax code's QBO mapping",
    "line_posting": "the journal line is posted on the other side (debit vs credit)",
    "application": "the payment is applied to other invoices, or in another split, than in AWRA: "
    "the customer's open invoices and AR aging differ",
    "deposit_account": "deposited to another QBO account than the AWRA deposit account's mapping",
    "payment_method": "the payment method in QBO is not the AWRA payment method's QBO mapping",
}
_ACTION = {
    "line_item": "correct the item on the QBO line (or the item mapping, if that is what is wrong)",
    "line_account": "correct the account on the QBO line (or the account mapping, if that is what is wrong)",
    "line_amount": "compare the line on both sides and correct the side that is wrong",
    "line_tax_code": "correct the tax code on the QBO line (or the tax code mapping, if that is what is wrong)",
    "line_posting": "correct the debit/credit side of the QBO journal line",
    "application": "unapply the payment in QBO and apply it to the same invoices and amounts as in AWRA",
    "deposit_account": "correct the Deposit to account on the QBO payment",
    "payment_method": "correct the payment method on the QBO payment",
}
_EXTRA_WORDS = {
    "awra": ("this line is in AWRA but not in QBO", "add the line in QBO, or remove it in AWRA if it is wrong"),
    "qbo": ("this line is in QBO but not in AWRA (added in QBO?)", "remove it in QBO, or record it in AWRA"),
}


@dataclass(frozen=True)
class _Side:
    """One side's lines of the compared pairs of one entity, as integer codes.

    ``row``: position in that side's ``lines`` frame; ``pair``: index into the pairs compared;
    ``pos``: ``line_no``; ``item``/``account``/``tax``/``ref``: codes in one space with the other
    side's (``NONE``; ``UNMAPPED`` on the AWRA side); ``amount`` cents (``amount_na``);
    ``posting``: 1 debit, 2 credit, 0 unknown (journals).
    """

    row: np.ndarray
    pair: np.ndarray
    pos: np.ndarray
    item: np.ndarray
    account: np.ndarray
    tax: np.ndarray
    ref: np.ndarray
    amount: np.ndarray
    amount_na: np.ndarray
    posting: np.ndarray


@dataclass(frozen=True)
class LinePairs:
    """The line pairing of some record pairs of one entity (see ``pair_lines``).

    One entry per paired line and per line on one side only: ``pair`` (index into the record
    pairs given), ``awra_line`` / ``qbo_line`` (positions in ``awra.lines`` / ``qbo.lines``, -1
    for none), and per compared field a mask of the entries where it differs (``differs``;
    ``line_extra`` / ``application`` also mark the one-sided entries).
    """

    entity: str
    pair: np.ndarray
    awra_line: np.ndarray
    qbo_line: np.ndarray
    differs: Mapping[str, np.ndarray]


# --------------------------------------------------------------------------------------------
# codes


def mapping_lookup(mappings: pd.DataFrame, mapping_type: str, references: pd.DataFrame | None = None) -> dict[str, str]:
    """AWRA id -> QBO id of one mapping type (rows with a blank ``qbo_id`` are unknown mappings).

    With ``references`` (QBO's), a mapping whose ``qbo_id`` names no QBO record of its kind is
    unknown too: that broken mapping is the mapping checks' finding, and comparing lines through it
    would report every line that uses it a second time.
    """
    maps = mappings[(mappings["mapping_type"] == mapping_type).fillna(False).to_numpy(dtype=bool)]
    existing: set[str] | None = None
    if references is not None:
        of_kind = references[(references["ref_type"] == mapping_type).fillna(False).to_numpy(dtype=bool)]
        existing = {str(i) for i in of_kind["id"].dropna()}
        if mapping_type == "tax_code":
            existing |= set(US_PSEUDO_TAX_CODES)
    out: dict[str, str] = {}
    for awra_id, qbo_id in zip(maps["awra_id"].tolist(), maps["qbo_id"].tolist(), strict=True):
        target = qbo_id.strip() if isinstance(qbo_id, str) else ""
        if isinstance(awra_id, str) and target and awra_id not in out and (existing is None or target in existing):
            out[awra_id] = target
    return out


def _mapped_codes(
    a_values: pd.Series, q_values: pd.Series, mapping: Mapping[str, str]
) -> tuple[np.ndarray, np.ndarray]:
    """AWRA master ids through ``mapping`` and QBO ref ids as codes in one space.

    Low-cardinality columns (items, accounts, tax codes): each side is factorized once and only
    its distinct values are looked up. AWRA: ``NONE`` where blank, ``UNMAPPED`` without a mapping.
    """
    q_codes, q_uniques = pd.factorize(q_values)
    vocab = {str(v): i for i, v in enumerate(q_uniques)}
    a_codes, a_uniques = pd.factorize(a_values)
    table = []
    for value in a_uniques:
        qbo_id = mapping.get(str(value))
        table.append(UNMAPPED if qbo_id is None else vocab.setdefault(qbo_id, len(vocab)))
    a_table = np.array([*table, NONE], dtype=np.int64)
    return a_table[a_codes], q_codes.astype(np.int64)


def _line_pairs_of(lines: pd.DataFrame, entity: str, pair_ids: pd.Series) -> tuple[np.ndarray, np.ndarray]:
    """(rows of ``lines`` of ``entity`` that belong to a pair, the pair of each), by txn id."""
    rows = np.flatnonzero(label_codes(lines["entity"], (entity,)) == 0)
    if len(rows) == 0 or len(pair_ids) == 0:
        return np.zeros(0, dtype=np.int64), np.zeros(0, dtype=np.int64)
    txn = string_series(arrow_take(lines["txn_id"], rows))
    line_codes, pair_codes = factorize_together(txn, pair_ids.reset_index(drop=True))
    size = int(max(line_codes.max(initial=-1), pair_codes.max(initial=-1))) + 1
    owner = np.full(size + 1, -1, dtype=np.int64)
    has = pair_codes >= 0
    owner[pair_codes[has]] = np.flatnonzero(has)
    pair = owner[np.where(line_codes >= 0, line_codes, size)]
    keep = pair >= 0
    return rows[keep], pair[keep]


def _amounts(lines: pd.DataFrame, rows: np.ndarray, entity: str) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(amount cents, amount missing, posting) at ``rows``; journals: the side that is not 0."""
    if entity != "journal":
        column = lines["amount_cents"].take(rows)
        na = column.isna().to_numpy(dtype=bool)
        return column.to_numpy(dtype=np.int64, na_value=0), na, np.zeros(len(rows), dtype=np.int64)
    debit = lines["debit_cents"].take(rows)
    credit = lines["credit_cents"].take(rows)
    d = debit.to_numpy(dtype=np.int64, na_value=0)
    c = credit.to_numpy(dtype=np.int64, na_value=0)
    posting = np.where(d != 0, 1, np.where(c != 0, 2, 0)).astype(np.int64)
    na = debit.isna().to_numpy(dtype=bool) & credit.isna().to_numpy(dtype=bool)
    return np.where(d != 0, d, c), na, posting


def _sides(
    entity: str,
    awra_ids: pd.Series,
    qbo_ids: pd.Series,
    awra: AwraData,
    qbo: QboData,
    invoice_counterpart: Callable[[pd.Series, pd.Series], pd.Series] | None,
) -> tuple[_Side, _Side]:
    """Both sides' lines of the pairs (``awra_ids[i]`` with ``qbo_ids[i]``) as ``_Side`` codes."""
    al, ql = awra.lines, qbo.lines
    a_rows, a_pair = _line_pairs_of(al, entity, awra_ids)
    q_rows, q_pair = _line_pairs_of(ql, entity, qbo_ids)
    a_pos = al["line_no"].take(a_rows).to_numpy(dtype=np.int64, na_value=-1)
    q_pos = ql["line_no"].take(q_rows).to_numpy(dtype=np.int64, na_value=-1)
    if entity == "payment":  # line 0 holds the payment's own refs, not an application
        a_keep, q_keep = a_pos != 0, q_pos != 0
        a_rows, a_pair, a_pos = a_rows[a_keep], a_pair[a_keep], a_pos[a_keep]
        q_rows, q_pair, q_pos = q_rows[q_keep], q_pair[q_keep], q_pos[q_keep]
    none_a = np.full(len(a_rows), NONE, dtype=np.int64)
    none_q = np.full(len(q_rows), NONE, dtype=np.int64)
    item_a, item_q, acc_a, acc_q, tax_a, tax_q = none_a, none_q, none_a, none_q, none_a, none_q
    ref_a, ref_q = none_a, none_q

    def column(frame: pd.DataFrame, name: str, rows: np.ndarray) -> pd.Series:
        return string_series(arrow_take(frame[name], rows))

    if entity in ("invoice", "bill"):
        item_a, item_q = _mapped_codes(
            column(al, "item_id", a_rows),
            column(ql, "item_id", q_rows),
            mapping_lookup(awra.mappings, "item", qbo.references),
        )
        tax_a, tax_q = _mapped_codes(
            column(al, "tax_code_id", a_rows),
            column(ql, "tax_code_id", q_rows),
            mapping_lookup(awra.mappings, "tax_code", qbo.references),
        )
    if entity in ("invoice", "bill", "journal"):
        acc_a, acc_q = _mapped_codes(
            column(al, "account_id", a_rows),
            column(ql, "account_id", q_rows),
            mapping_lookup(awra.mappings, "account", qbo.references),
        )
    if entity == "payment":
        invoices = column(al, "ref_id", a_rows)
        links = column(al, "ref_link", a_rows)
        resolved = invoice_counterpart(invoices, links) if invoice_counterpart else links
        ref_a, ref_q = factorize_together(resolved, column(ql, "ref_id", q_rows))
        ref_a = np.where(ref_a >= 0, ref_a, np.where(invoices.isna().to_numpy(dtype=bool), NONE, UNMAPPED))
    amt_a, na_a, post_a = _amounts(al, a_rows, entity)
    amt_q, na_q, post_q = _amounts(ql, q_rows, entity)
    a = _Side(a_rows, a_pair, a_pos, item_a, acc_a, tax_a, ref_a, amt_a, na_a, post_a)
    q = _Side(q_rows, q_pair, q_pos, item_q, acc_q, tax_q, ref_q, amt_q, na_q, post_q)
    return a, q


# --------------------------------------------------------------------------------------------
# field comparison


def _field_differs(entity: str, field: str, a: _Side, q: _Side, i: np.ndarray, j: np.ndarray, tol: int) -> np.ndarray:
    """Per candidate (AWRA line ``i``, QBO line ``j``): does ``field`` differ (False when skipped)."""
    if field == "line_amount":
        both = ~a.amount_na[i] & ~q.amount_na[j]
        return (both & (np.abs(a.amount[i] - q.amount[j]) > tol)) | (a.amount_na[i] != q.amount_na[j])
    if field == "line_item":
        ai, qi = a.item[i], q.item[j]
        if entity == "invoice":
            # a QBO discount line names its account and no item: no item to compare
            discount = (qi == NONE) & (q.account[j] != NONE)
            return (ai != UNMAPPED) & ~discount & (ai != qi)
        return (ai >= 0) & (ai != qi)  # bills: AWRA lines with an item are item-based
    if field == "line_account":
        aa, qa = a.account[i], q.account[j]
        if entity == "bill":  # account-based AWRA lines only
            return (a.item[i] == NONE) & (aa >= 0) & (aa != qa)
        return (aa >= 0) & (aa != qa)
    if field == "line_tax_code":
        return (a.tax[i] >= 0) & (a.tax[i] != q.tax[j])
    if field == "line_posting":
        return (a.posting[i] > 0) & (q.posting[j] > 0) & (a.posting[i] != q.posting[j])
    if field == "application":
        ref = (a.ref[i] != UNMAPPED) & (a.ref[i] != q.ref[j])
        amount = _field_differs(entity, "line_amount", a, q, i, j, tol)
        return ref | amount
    raise ValueError(f"not a line field: {field}")


def _compared_fields(entity: str) -> tuple[str, ...]:
    return tuple(f for f in ENTITY_LINE_FIELDS[entity] if f != "line_extra")


def _agree(entity: str, a: _Side, q: _Side, i: np.ndarray, j: np.ndarray, tol: int) -> np.ndarray:
    out = np.ones(len(i), dtype=bool)
    for field in _compared_fields(entity):
        out &= ~_field_differs(entity, field, a, q, i, j, tol)
    return out


def _identity(entity: str, side: _Side) -> np.ndarray:
    """What a line is about (-1 unknown): its item, else its account; a payment's invoice."""
    if entity == "payment":
        return np.where(side.ref >= 0, side.ref, -1)
    if entity == "journal":
        return np.where(side.account >= 0, side.account, -1)
    by_account = np.where(side.account >= 0, side.account * 2 + 1, -1)
    return np.where(side.item >= 0, side.item * 2, np.where(side.item == NONE, by_account, -1))


# --------------------------------------------------------------------------------------------
# pairing


def _codes(*columns: np.ndarray) -> np.ndarray:
    """Dense codes of rows of integer columns: equal rows share a code."""
    codes = pd.factorize(columns[0])[0].astype(np.int64)
    for col in columns[1:]:
        nxt = pd.factorize(col)[0].astype(np.int64)
        codes = pd.factorize(codes * (int(nxt.max(initial=0)) + 1) + nxt)[0].astype(np.int64)
    return codes


def _join_unique(a_key: np.ndarray, q_key: np.ndarray) -> np.ndarray:
    """Per AWRA key, the QBO position with the same key (-1 none); keys repeated on a side never join."""
    index = pd.Index(q_key)
    q_dup = index.duplicated(keep=False)
    a_dup = pd.Index(a_key).duplicated(keep=False)
    if q_dup.any():
        index = pd.Index(np.where(q_dup, -1 - np.arange(len(q_key)), q_key))  # repeats: keys no AWRA line has
    hit = index.get_indexer(a_key).astype(np.int64)
    hit[a_dup] = -1
    return hit


def _rank_within(group: np.ndarray, pos: np.ndarray, row: np.ndarray) -> np.ndarray:
    """Each line's rank among the lines of its group, in position order (then row, for ties)."""
    order = np.lexsort((row, pos, group))
    g = group[order]
    start = np.ones(len(g), dtype=bool)
    start[1:] = g[1:] != g[:-1]
    idx = np.arange(len(g), dtype=np.int64)
    first = np.maximum.accumulate(np.where(start, idx, 0))
    rank = np.empty(len(g), dtype=np.int64)
    rank[order] = idx - first
    return rank


def _pair_indices(entity: str, a: _Side, q: _Side, tol: int) -> tuple[np.ndarray, np.ndarray]:
    """Paired (AWRA index, QBO index) into the ``_Side`` arrays, by the stages in the docstring."""
    na, nq = len(a.row), len(q.row)
    a_partner = np.full(na, -1, dtype=np.int64)
    q_partner = np.full(nq, -1, dtype=np.int64)
    if na == 0 or nq == 0:
        return np.zeros(0, dtype=np.int64), np.zeros(0, dtype=np.int64)

    def accept(i: np.ndarray, j: np.ndarray) -> None:
        a_partner[i] = j
        q_partner[j] = i

    # 1. same position, agreeing on every field
    pos_code = _codes(np.concatenate([a.pos, q.pos]))
    width = int(pos_code.max(initial=0)) + 1
    hit = _join_unique(a.pair * width + pos_code[:na], q.pair * width + pos_code[na:])
    i = np.flatnonzero(hit >= 0)
    ok = _agree(entity, a, q, i, hit[i], tol)
    accept(i[ok], hit[i][ok])

    # 2. the same content anywhere (repeats in position order)
    ra, rq = np.flatnonzero(a_partner < 0), np.flatnonzero(q_partner < 0)
    if len(ra) and len(rq):
        fields = [np.concatenate([getattr(a, f)[ra], getattr(q, f)[rq]]) for f in ("pair", "item", "account", "tax")]
        fields += [np.concatenate([getattr(a, f)[ra], getattr(q, f)[rq]]) for f in ("ref", "amount", "posting")]
        fields.append(np.concatenate([a.amount_na[ra], q.amount_na[rq]]).astype(np.int64))
        group = _codes(*fields)
        pos = np.concatenate([a.pos[ra], q.pos[rq]])
        rows = np.concatenate([ra, rq + na])
        rank = _rank_within(np.concatenate([group[: len(ra)] * 2, group[len(ra) :] * 2 + 1]), pos, rows)
        key = group * (int(rank.max(initial=0)) + 1) + rank
        hit = _join_unique(key[: len(ra)], key[len(ra) :])
        got = np.flatnonzero(hit >= 0)
        accept(ra[got], rq[hit[got]])

    # 3. the rest, best candidates first
    ra, rq = np.flatnonzero(a_partner < 0), np.flatnonzero(q_partner < 0)
    if len(ra) and len(rq):
        _pair_best(entity, a, q, ra, rq, tol, accept)

    # 4. a record pair left with one line on each side: the same line, changed
    ra, rq = np.flatnonzero(a_partner < 0), np.flatnonzero(q_partner < 0)
    if len(ra) and len(rq):
        size = int(max(a.pair.max(), q.pair.max())) + 1
        a_left = np.bincount(a.pair[ra], minlength=size)
        q_left = np.bincount(q.pair[rq], minlength=size)
        lone_a = ra[(a_left[a.pair[ra]] == 1) & (q_left[a.pair[ra]] == 1)]
        lone_q = rq[(q_left[q.pair[rq]] == 1) & (a_left[q.pair[rq]] == 1)]
        by_pair = np.full(size, -1, dtype=np.int64)
        by_pair[q.pair[lone_q]] = lone_q
        accept(lone_a, by_pair[a.pair[lone_a]])
    i = np.flatnonzero(a_partner >= 0)
    return i, a_partner[i]


def _pair_best(
    entity: str,
    a: _Side,
    q: _Side,
    ra: np.ndarray,
    rq: np.ndarray,
    tol: int,
    accept: Callable[[np.ndarray, np.ndarray], None],
) -> None:
    """Pair the remaining lines of each record pair, best candidate first (mutual bests per round)."""
    cand = pd.DataFrame({"p": a.pair[ra], "i": ra}).merge(pd.DataFrame({"p": q.pair[rq], "j": rq}), on="p")
    if len(cand) == 0:
        return
    i, j = cand["i"].to_numpy(np.int64), cand["j"].to_numpy(np.int64)
    ident_a, ident_q = _identity(entity, a)[i], _identity(entity, q)[j]
    same_ident = (ident_a == ident_q) & (ident_a >= 0)
    same_amount = ~_field_differs(entity, "line_amount", a, q, i, j, tol) & ~a.amount_na[i]
    same_pos = a.pos[i] == q.pos[j]
    keep = same_ident | same_amount | same_pos
    i, j = i[keep], j[keep]
    if len(i) == 0:
        return
    others = np.zeros(len(i), dtype=np.int64)
    for field in _compared_fields(entity):
        others += ~_field_differs(entity, field, a, q, i, j, tol)
    # a journal line's side is what it is: when accounts cannot tell (an unknown mapping), a debit
    # pairs with a debit before it pairs with the credit that happens to sit at its position
    same_side = (a.posting[i] > 0) & (a.posting[i] == q.posting[j])
    score = 8 * same_ident[keep] + 4 * same_amount[keep] + 3 * same_side + 2 * same_pos[keep] + others
    order = np.lexsort((j, i, np.abs(a.pos[i] - q.pos[j]), -score))
    i, j = i[order], j[order]
    while len(i):
        best_a = ~pd.Series(i).duplicated().to_numpy()
        best_q = ~pd.Series(j).duplicated().to_numpy()
        take = best_a & best_q
        accept(i[take], j[take])
        gone = np.isin(i, i[take]) | np.isin(j, j[take])
        i, j = i[~gone], j[~gone]


def pair_lines(
    entity: str,
    awra_ids: pd.Series,
    qbo_ids: pd.Series,
    awra: AwraData,
    qbo: QboData,
    params: RunParams,
    invoice_counterpart: Callable[[pd.Series, pd.Series], pd.Series] | None = None,
) -> LinePairs:
    """Pair the lines of record pairs (AWRA ``awra_ids[k]`` with QBO ``qbo_ids[k]``) of ``entity``.

    ``invoice_counterpart(invoice_ids, links)``: for payments, the QBO Id of each applied AWRA
    invoice (see ``invoice_counterparts``); without it the links AWRA recorded are used.
    """
    a, q = _sides(entity, awra_ids, qbo_ids, awra, qbo, invoice_counterpart)
    return _line_pairs(entity, a, q, params.tolerances.amount_cents)


def _line_pairs(entity: str, a: _Side, q: _Side, tol: int) -> LinePairs:
    i, j = _pair_indices(entity, a, q, tol)
    only_a, only_q = _unpaired(len(a.row), i), _unpaired(len(q.row), j)
    differs = {field: _field_differs(entity, field, a, q, i, j, tol) for field in _compared_fields(entity)}
    extra_field = "application" if entity == "payment" else "line_extra"
    n_one = len(only_a) + len(only_q)
    out = {f: np.concatenate([d, np.zeros(n_one, dtype=bool)]) for f, d in differs.items()}
    out[extra_field] = np.concatenate(
        [out.get(extra_field, np.zeros(len(i), dtype=bool))[: len(i)], np.ones(n_one, dtype=bool)]
    )
    return LinePairs(
        entity=entity,
        pair=np.concatenate([a.pair[i], a.pair[only_a], q.pair[only_q]]).astype(np.int64),
        awra_line=np.concatenate([a.row[i], a.row[only_a], np.full(len(only_q), -1)]).astype(np.int64),
        qbo_line=np.concatenate([q.row[j], np.full(len(only_a), -1), q.row[only_q]]).astype(np.int64),
        differs=out,
    )


def _unpaired(n: int, paired: np.ndarray) -> np.ndarray:
    """Positions below ``n`` not in ``paired`` (a mask: no sort, no hash)."""
    left = np.ones(n, dtype=bool)
    left[paired] = False
    return np.flatnonzero(left)


def invoice_counterparts(
    matches: pd.DataFrame, awra: AwraData, qbo: QboData, run: RunArrays
) -> Callable[[pd.Series, pd.Series], pd.Series]:
    """Resolve applied AWRA invoices to QBO Ids: the run's invoice pairing, else the recorded link."""
    pairs = np.flatnonzero(run.is_pair & (run.awra_row >= 0) & (run.qbo_row >= 0))
    pairs = pairs[label_codes(matches["entity"].iloc[pairs], ("invoice",)) == 0] if len(pairs) else pairs
    paired_awra = string_series(arrow_take(awra.transactions["id"], run.awra_row[pairs]))
    paired_qbo = arrow_take(qbo.transactions["id"], run.qbo_row[pairs])

    def resolve(invoice_ids: pd.Series, links: pd.Series) -> pd.Series:
        if len(pairs) == 0:
            return links.reset_index(drop=True)
        codes, paired_codes = factorize_together(invoice_ids.reset_index(drop=True), paired_awra)
        size = int(max(codes.max(initial=-1), paired_codes.max(initial=-1))) + 1
        where = np.full(size + 1, -1, dtype=np.int64)
        where[paired_codes[paired_codes >= 0]] = np.flatnonzero(paired_codes >= 0)
        at = where[np.where(codes >= 0, codes, size)]
        found = arrow_take(string_series(paired_qbo), at).cast(pa.large_string())
        recorded = arrow_strings(links.reset_index(drop=True)).cast(pa.large_string())
        return string_series(pc.coalesce(found, recorded))

    return resolve


# --------------------------------------------------------------------------------------------
# findings


def compare_lines(
    matches: pd.DataFrame, awra: AwraData, qbo: QboData, params: RunParams, arrays: RunArrays | None = None
) -> list[Raw]:
    """Line-level ``mismatch`` findings (and payments' ``deposit_account`` / ``payment_method``).

    Findings under construction (``tieout.finish``), ``match_row`` the ``MATCHES`` row,
    ``effect_cents`` 0 and carrier rank ``other_field``: they never carry money.
    """
    run = arrays or RunArrays(matches, awra, qbo, params)
    rows = np.flatnonzero(compared_pairs(matches, awra, qbo, params, run))
    if len(rows) == 0:
        return []
    ar, qr = run.awra_row[rows], run.qbo_row[rows]
    live = ~run.a_void[ar] & ~run.q_void[qr]
    rows, ar, qr = rows[live], ar[live], qr[live]
    ent = run.a_entity[ar]
    names = _Names(awra, qbo)
    resolve = invoice_counterparts(matches, awra, qbo, run) if "payment" in params.entities else None
    parts: list[Raw] = []
    for entity in params.entities:
        sel = np.flatnonzero(ent == F.ENTITIES.index(entity))
        if len(sel) == 0:
            continue
        m_rows, a_rows, q_rows = rows[sel], ar[sel], qr[sel]
        awra_ids = string_series(arrow_take(awra.transactions["id"], a_rows))
        qbo_ids = string_series(arrow_take(qbo.transactions["id"], q_rows))
        a, q = _sides(entity, awra_ids, qbo_ids, awra, qbo, resolve)
        pairs = _line_pairs(entity, a, q, params.tolerances.amount_cents)
        for field, mask in pairs.differs.items():
            hit = np.flatnonzero(mask)
            if len(hit):
                parts.append(_line_findings(entity, field, pairs, hit, m_rows, a_rows, q_rows, awra, qbo, names, run))
        if entity == "payment":
            parts += _payment_header_findings(awra_ids, qbo_ids, m_rows, a_rows, q_rows, awra, qbo, names, run)
    return parts


class _Names:
    """Readable names: AWRA masters as ``code name``, QBO references as ``name (Id)``."""

    def __init__(self, awra: AwraData, qbo: QboData):
        m, r = awra.masters, qbo.references
        self.awra = {
            (str(t), str(i)): " ".join(x for x in (c, n) if isinstance(x, str) and x) or str(i)
            for t, i, c, n in zip(m["master_type"], m["id"], m["code"], m["name"], strict=True)
        }
        self.qbo = {(str(t), str(i)): n for t, i, n in zip(r["ref_type"], r["id"], r["name"], strict=True)}
        self.maps = {
            t: mapping_lookup(awra.mappings, t, qbo.references)
            for t in ("item", "account", "tax_code", "payment_method")
        }

    def awra_ref(self, master_type: str, value: object) -> str | None:
        """The AWRA master and where it maps (``CONS Consulting → QBO 1``)."""
        if not isinstance(value, str):
            return None
        mapped = self.maps[master_type].get(value)
        label = self.awra.get((master_type, value), value)
        return f"{label} → QBO {mapped}" if mapped else f"{label} (no QBO mapping)"

    def qbo_ref(self, ref_type: str, value: object) -> str | None:
        """The QBO ref by name where known (``Consulting (1)``)."""
        if not isinstance(value, str):
            return None
        name = self.qbo.get((ref_type, value))
        return f"{name} ({value})" if isinstance(name, str) and name else value


def _money(cents: object) -> str | None:
    if _plain(cents) is None:
        return None
    value = int(cents)  # type: ignore[call-overload]
    return f"{'-' if value < 0 else ''}{abs(value) // 100}.{abs(value) % 100:02d}"


def _line_text(entity: str, side: str, row: _Line, names: _Names) -> str:
    """A line in a few words (what a ``line_extra`` finding shows for the side that has it)."""
    ref = names.awra_ref if side == "awra" else names.qbo_ref
    if entity == "payment":
        return f"invoice {row['ref_id']}: {_money(row['amount_cents'])}"
    what = [
        ref("item", row["item_id"]),
        ref("account", row["account_id"]) if entity != "invoice" or side == "qbo" else None,
        _posting_text(row) if entity == "journal" else None,
        _money(row["amount_cents"]) if entity != "journal" else _money(_journal_amount(row)),
    ]
    return ", ".join(x for x in what if x) or "(empty line)"


def _journal_amount(row: _Line) -> object:
    debit, credit = _plain(row["debit_cents"]), _plain(row["credit_cents"])
    return debit if debit else credit


def _posting_text(row: _Line) -> str | None:
    if _plain(row["debit_cents"]):
        return "debit"
    if _plain(row["credit_cents"]):
        return "credit"
    return None


def _line_findings(
    entity: str,
    field: str,
    pairs: LinePairs,
    hit: np.ndarray,
    m_rows: np.ndarray,
    a_rows: np.ndarray,
    q_rows: np.ndarray,
    awra: AwraData,
    qbo: QboData,
    names: _Names,
    run: RunArrays,
) -> Raw:
    """The findings of one field at the ``hit`` entries of ``pairs``; text only for those."""
    pair, al, ql = pairs.pair[hit], pairs.awra_line[hit], pairs.qbo_line[hit]
    a_lines, q_lines = _records(awra.lines, al), _records(qbo.lines, ql)
    a_vals, q_vals, diffs, lines, causes, actions = [], [], [], [], [], []
    for a_row, q_row in zip(a_lines, q_lines, strict=True):
        av, qv, diff = _values(entity, field, a_row, q_row, names)
        a_vals.append(av)
        q_vals.append(qv)
        diffs.append(diff)
        lines.append(_line_name(a_row, q_row))
        cause, action = _words(entity, field, a_row, q_row)
        causes.append(cause)
        actions.append(action)
    return new_findings(
        len(hit),
        entity=entity,
        category="mismatch",
        field=field,
        line=np.array(lines, dtype=object),
        awra_value=np.array(a_vals, dtype=object),
        qbo_value=np.array(q_vals, dtype=object),
        difference=np.array(diffs, dtype=object),
        cause=np.array(causes, dtype=object),
        action=np.array(actions, dtype=object),
        match_method=strings_from_codes(run.method[m_rows[pair]], MATCH_METHODS),
        effect_cents=0,
        awra_row=a_rows[pair],
        qbo_row=q_rows[pair],
        match_row=m_rows[pair],
        carrier_rank=np.full(len(hit), CARRIER_RANK["other_field"]),
    )


#: A line as a dict of its LINES columns (``None`` for no line).
_Line = Mapping[str, object]


def _records(lines: pd.DataFrame, rows: np.ndarray) -> list[_Line | None]:
    """The lines at ``rows`` (-1: none) as dicts, read column by column (no per-row frame access)."""
    has = np.flatnonzero(rows >= 0)
    out: list[_Line | None] = [None] * len(rows)
    if len(has) == 0:
        return out
    columns = {name: lines[name].take(rows[has]).tolist() for name in F.LINES.names}
    for k, position in enumerate(has.tolist()):
        out[position] = {name: _plain(values[k]) for name, values in columns.items()}
    return out


def _plain(value: object) -> object:
    """``None`` for a missing value (``pd.NA``, ``None``), else the value."""
    return None if value is None or value is pd.NA else value


def _line_name(a_row: _Line | None, q_row: _Line | None) -> str:
    """The AWRA ``line_no``; for a line only QBO has, its QBO line Id (else its ``LineNum``)."""
    if a_row is not None:
        return str(a_row["line_no"])
    assert q_row is not None
    line_id = q_row["line_id"]
    return str(line_id) if isinstance(line_id, str) else str(q_row["line_no"])


def _words(entity: str, field: str, a_row: _Line | None, q_row: _Line | None) -> tuple[str, str]:
    if field == "line_extra" or (field == "application" and (a_row is None or q_row is None)):
        side = "awra" if q_row is None else "qbo"
        if field == "application":
            return (
                "applied in AWRA to an invoice QBO's payment is not applied to"
                if side == "awra"
                else "applied in QBO to an invoice AWRA's payment is not applied to",
                _ACTION["application"],
            )
        return _EXTRA_WORDS[side]
    return _CAUSE[field], _ACTION[field]


def _values(
    entity: str,
    field: str,
    a_row: _Line | None,
    q_row: _Line | None,
    names: _Names,
) -> tuple[str | None, str | None, str | None]:
    """(awra_value, qbo_value, difference) of one line finding."""
    amount_a = None if a_row is None else (_journal_amount(a_row) if entity == "journal" else a_row["amount_cents"])
    amount_q = None if q_row is None else (_journal_amount(q_row) if entity == "journal" else q_row["amount_cents"])
    diff = _money(_minus(amount_a, amount_q))
    if field == "line_extra":
        return (
            None if a_row is None else _line_text(entity, "awra", a_row, names),
            None if q_row is None else _line_text(entity, "qbo", q_row, names),
            diff,
        )
    if field == "application":
        a_text = None if a_row is None else f"invoice {a_row['ref_id']}: {_money(amount_a)}"
        q_text = None if q_row is None else f"QBO invoice {q_row['ref_id']}: {_money(amount_q)}"
        return a_text, q_text, diff
    assert a_row is not None and q_row is not None
    if field == "line_amount":
        return _money(amount_a), _money(amount_q), diff
    if field == "line_posting":
        return _posting_text(a_row), _posting_text(q_row), None
    if field == "line_item":
        q_text = names.qbo_ref("item", q_row["item_id"])
        if q_text is None:
            q_text = f"no item (account {names.qbo_ref('account', q_row['account_id']) or '-'})"
        return names.awra_ref("item", a_row["item_id"]), q_text, None
    if field == "line_account":
        q_text = names.qbo_ref("account", q_row["account_id"])
        if q_text is None:
            q_text = f"no account (item {names.qbo_ref('item', q_row['item_id']) or '-'})"
        return names.awra_ref("account", a_row["account_id"]), q_text, None
    if field == "line_tax_code":
        return (
            names.awra_ref("tax_code", a_row["tax_code_id"]),
            names.qbo_ref("tax_code", q_row["tax_code_id"]) or "none",
            None,
        )
    raise ValueError(f"not a line field: {field}")


def _minus(left: object, right: object) -> int | None:
    """``left - right`` in cents, a missing line counting 0 (``None`` when an amount is unknown)."""
    if left is pd.NA or right is pd.NA:
        return None
    return (0 if left is None else int(left)) - (0 if right is None else int(right))  # type: ignore[call-overload]


def _payment_header_findings(
    awra_ids: pd.Series,
    qbo_ids: pd.Series,
    m_rows: np.ndarray,
    a_rows: np.ndarray,
    q_rows: np.ndarray,
    awra: AwraData,
    qbo: QboData,
    names: _Names,
    run: RunArrays,
) -> list[Raw]:
    """``deposit_account`` / ``payment_method``: line 0 on both sides, through the mappings."""
    a_line, a_pair = _line_pairs_of(awra.lines, "payment", awra_ids)
    q_line, q_pair = _line_pairs_of(qbo.lines, "payment", qbo_ids)
    a_zero = awra.lines["line_no"].take(a_line).to_numpy(dtype=np.int64, na_value=-1) == 0
    q_zero = qbo.lines["line_no"].take(q_line).to_numpy(dtype=np.int64, na_value=-1) == 0
    n = len(awra_ids)
    a_at = np.full(n, -1, dtype=np.int64)
    q_at = np.full(n, -1, dtype=np.int64)
    a_at[a_pair[a_zero]] = a_line[a_zero]
    q_at[q_pair[q_zero]] = q_line[q_zero]
    parts = []
    for field, (column, mapping_type) in PAYMENT_HEADER_FIELDS.items():
        a_vals = string_series(arrow_take(awra.lines[column], a_at))
        q_vals = string_series(arrow_take(qbo.lines[column], q_at))
        a_code, q_code = _mapped_codes(a_vals, q_vals, mapping_lookup(awra.mappings, mapping_type, qbo.references))
        hit = np.flatnonzero((a_code >= 0) & (a_code != q_code))
        if len(hit) == 0:
            continue
        a_text = [names.awra_ref(mapping_type, v) for v in a_vals.take(hit).tolist()]
        q_text = [names.qbo_ref(mapping_type, v) or "none" for v in q_vals.take(hit).tolist()]
        parts.append(
            new_findings(
                len(hit),
                entity="payment",
                category="mismatch",
                field=field,
                awra_value=np.array(a_text, dtype=object),
                qbo_value=np.array(q_text, dtype=object),
                cause=_CAUSE[field],
                action=_ACTION[field],
                match_method=strings_from_codes(run.method[m_rows[hit]], MATCH_METHODS),
                effect_cents=0,
                awra_row=a_rows[hit],
                qbo_row=q_rows[hit],
                match_row=m_rows[hit],
                carrier_rank=np.full(len(hit), CARRIER_RANK["other_field"]),
            )
        )
    return parts


def side_by_side(
    entity: str, awra_id: str, qbo_id: str, awra: AwraData, qbo: QboData, params: RunParams, matches: pd.DataFrame
) -> list[dict[str, object]]:
    """One record pair's lines side by side (``pair_lines``), each with the fields that differ.

    For ``explain``: one entry per paired line and per line on one side only (``line``,
    ``awra``, ``qbo`` in a few words, ``differs``: the line fields that differ), AWRA lines by
    ``line_no``, then the lines only QBO has. ``matches``: the run's pairing (a payment's
    invoices resolve through it).
    """
    run = RunArrays(matches, awra, qbo, params)
    resolve = invoice_counterparts(matches, awra, qbo, run) if entity == "payment" else None
    ids = (pd.Series([awra_id], dtype="string"), pd.Series([qbo_id], dtype="string"))
    pairs = pair_lines(entity, *ids, awra, qbo, params, resolve)
    names = _Names(awra, qbo)
    a_lines, q_lines = _records(awra.lines, pairs.awra_line), _records(qbo.lines, pairs.qbo_line)
    entries: list[tuple[tuple[bool, int], dict[str, object]]] = []
    for k, (a_row, q_row) in enumerate(zip(a_lines, q_lines, strict=True)):
        own = a_row if a_row is not None else q_row
        assert own is not None
        entry: dict[str, object] = {
            "line": _line_name(a_row, q_row),
            "awra": None if a_row is None else _line_text(entity, "awra", a_row, names),
            "qbo": None if q_row is None else _line_text(entity, "qbo", q_row, names),
            "differs": sorted(f for f, mask in pairs.differs.items() if mask[k]),
        }
        entries.append(((a_row is None, int(own["line_no"])), entry))  # type: ignore[call-overload]
    return [entry for _, entry in sorted(entries, key=lambda e: e[0])]


__all__: Sequence[str] = [
    "ENTITY_LINE_FIELDS",
    "PAYMENT_HEADER_FIELDS",
    "LinePairs",
    "compare_lines",
    "invoice_counterparts",
    "mapping_lookup",
    "pair_lines",
    "side_by_side",
]
