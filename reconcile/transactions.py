"""The transaction stage: pair, compare, classify every record, and tie the totals out.

``reconcile_transactions`` composes ``match.match_records``, ``compare.compare_pairs`` and the
finding builders below into one ``TransactionResult``: the transaction findings (``missing_*``,
``duplicate_*``, ``mismatch``, ``sync_conflict``, ``not_ready``, ``data_quality``), each with a
plain-words default ``cause`` and ``action`` and its money ``effect_cents``, the per-entity
totals and bridge, and one outcome per record. Pure: no I/O, inputs never modified.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import timedelta

import numpy as np
import pandas as pd

from reconcile import frames as F
from reconcile.compare import compare_pairs, compared_pairs
from reconcile.match import PAIR_OUTCOMES, bool_values, gather, match_records, ready_awra
from reconcile.model import AwraData, EntityTotals, QboData
from reconcile.params import RunParams
from reconcile.tieout import (
    CARRIER_RANK,
    ROW_COLUMNS,
    assign_effects,
    awra_in_total,
    decorate,
    entity_totals,
    new_findings,
    qbo_in_total,
    row_effects,
)

#: The per-record outcomes frame: one row per AWRA and per QBO transaction row of the run's
#: entities. ``outcome`` is the ``MATCHES`` outcome, except that an AWRA record in the window
#: that is not ready to sync is ``not_ready`` whether or not it has a twin.
OUTCOMES = F.Schema(
    "outcomes",
    {
        "side": F.Kind.STRING,
        "entity": F.Kind.STRING,
        "id": F.Kind.STRING,
        "outcome": F.Kind.STRING,
        "match_method": F.Kind.STRING,
        "counterpart_id": F.Kind.STRING,
    },
)

_FAILING = ("failed", "retrying", "pending", "needs_attention")


@dataclass(frozen=True)
class TransactionResult:
    """What the transaction stage found.

    * ``findings``: ``frames.FINDINGS`` rows, sorted on stable keys.
    * ``totals``: per entity (``params.entities`` order), with the bridge.
    * ``outcomes``: one row per AWRA and QBO record (schema ``OUTCOMES``).
    * ``matches``: the pairing frame (``match.MATCHES``).
    * ``tolerance_cents``: per entity, differences within tolerance (bridge line
      ``within_tolerance``): pass it to ``tieout.entity_totals`` when recomputing totals.
    """

    findings: pd.DataFrame
    totals: tuple[EntityTotals, ...]
    outcomes: pd.DataFrame
    matches: pd.DataFrame = field(default_factory=pd.DataFrame)
    tolerance_cents: Mapping[str, int] = field(default_factory=dict)


def reconcile_transactions(awra: AwraData, qbo: QboData, params: RunParams) -> TransactionResult:
    """Pair, compare and classify every transaction; totals and a bridge that balances."""
    matches = match_records(awra, qbo, params)
    parts = [
        compare_pairs(matches, awra, qbo, params),
        unpaired_findings(matches, awra, qbo, params),
        not_ready_findings(matches, awra, qbo, params),
        sync_conflict_findings(matches, awra, qbo, params),
        data_quality_findings(matches, awra, qbo, params),
    ]
    found = pd.concat([p for p in parts if len(p)], ignore_index=True) if any(len(p) for p in parts) else parts[0]
    effects = row_effects(matches, awra, qbo, params)
    ar = matches["awra_row"].to_numpy(dtype=np.int64, na_value=-1)
    qr = matches["qbo_row"].to_numpy(dtype=np.int64, na_value=-1)
    a_counts = awra_in_total(awra.transactions, params)
    q_counts = qbo_in_total(qbo.transactions, params)
    both = (ar >= 0) & (qr >= 0)
    tolerable = compared_pairs(matches, awra, qbo, params) & both
    tolerable &= gather(a_counts, ar, False).astype(bool)
    tolerable &= gather(q_counts, qr, False).astype(bool)
    found, tolerance = assign_effects(found, matches, effects, tolerable)
    findings = sort_findings(F.conform(found, F.FINDINGS))
    totals = entity_totals(findings, awra, qbo, params, tolerance)
    return TransactionResult(
        findings=findings,
        totals=totals,
        outcomes=record_outcomes(matches, awra, params),
        matches=matches,
        tolerance_cents=tolerance,
    )


def sort_findings(findings: pd.DataFrame) -> pd.DataFrame:
    """Findings in a stable order: entity, category (report order), then ids and field."""
    order = {name: i for i, name in enumerate((*F.ENTITIES, *F.MASTER_TYPES))}
    cats = {name: i for i, name in enumerate(F.CATEGORIES)}
    keys = pd.DataFrame(
        {
            "e": findings["entity"].map(order).fillna(99).astype("int64"),
            "c": findings["category"].map(cats).fillna(99).astype("int64"),
            "en": findings["entity"].fillna(""),
            "cn": findings["category"].fillna(""),
            "an": findings["awra_number"].fillna(""),
            "a": findings["awra_id"].fillna(""),
            "q": findings["qbo_id"].fillna(""),
            "f": findings["field"].fillna(""),
            "av": findings["awra_value"].fillna(""),
            "qv": findings["qbo_value"].fillna(""),
            "cause": findings["cause"].fillna(""),
        }
    )
    idx = keys.sort_values(list(keys.columns), kind="mergesort").index
    return findings.loc[idx].reset_index(drop=True)


def _owner_rows(matches: pd.DataFrame, column: str, n: int) -> np.ndarray:
    """Per input row, the ``MATCHES`` row that owns it (-1 if none)."""
    own = np.full(n, -1, dtype=np.int64)
    rows = matches[column].to_numpy(dtype=np.int64, na_value=-1)
    has = rows >= 0
    own[rows[has]] = np.flatnonzero(has)
    return own


def unpaired_findings(matches: pd.DataFrame, awra: AwraData, qbo: QboData, params: RunParams) -> pd.DataFrame:
    """``missing_in_qbo``, ``missing_in_awra``, ``duplicate_in_qbo``, ``duplicate_in_awra``."""
    outcome = matches["outcome"].to_numpy(dtype=object, na_value="")
    ar = matches["awra_row"].to_numpy(dtype=np.int64, na_value=-1)
    qr = matches["qbo_row"].to_numpy(dtype=np.int64, na_value=-1)
    ref = matches["ref_row"].to_numpy(dtype=np.int64, na_value=-1)
    sl = awra.sync_log
    parts = []

    sel = np.flatnonzero(outcome == "missing_in_qbo")
    if len(sel):
        srow = matches["sync_row"].to_numpy(dtype=np.int64, na_value=-1)[sel]
        status = gather(sl["status"].to_numpy(dtype=object, na_value=""), srow, "")
        cause, action = _missing_words(status)
        parts.append(
            new_findings(
                len(sel),
                entity=matches["entity"].iloc[sel],
                category="missing_in_qbo",
                cause=cause,
                action=action,
                effect_cents=0,
                awra_row=ar[sel],
                match_row=sel,
                carrier_rank=np.full(len(sel), CARRIER_RANK["not_ready"]),
            )
        )
    sel = np.flatnonzero(outcome == "missing_in_awra")
    if len(sel):
        parts.append(
            new_findings(
                len(sel),
                entity=matches["entity"].iloc[sel],
                category="missing_in_awra",
                cause="in QBO but not in AWRA: keyed directly in QBO, or deleted in AWRA after the sync",
                action="find who created it in QBO; record it in AWRA, or void it in QBO if it should not exist",
                effect_cents=0,
                qbo_row=qr[sel],
                match_row=sel,
                carrier_rank=np.full(len(sel), CARRIER_RANK["not_ready"]),
            )
        )
    sel = np.flatnonzero(outcome == "duplicate_in_qbo")
    if len(sel):
        a_partner = np.full(len(awra.transactions), -1, dtype=np.int64)
        paired = np.isin(outcome, PAIR_OUTCOMES) & (ar >= 0)
        a_partner[ar[paired]] = qr[paired]
        kept = gather(a_partner, ref[sel], -1).astype(np.int64)
        q_ids = qbo.transactions["id"].to_numpy(dtype=object, na_value="")
        extra = q_ids[qr[sel]]
        cause = [
            f"QBO holds more than one record for this AWRA record: Id {x} is an extra"
            + (f" (AWRA's record is QBO Id {q_ids[k]})" if k >= 0 else "")
            for x, k in zip(extra, kept, strict=True)
        ]
        action = [
            f"check QBO Id {x} holds nothing else (payments applied), then void or delete it" for x in extra
        ]
        parts.append(
            new_findings(
                len(sel),
                entity=matches["entity"].iloc[sel],
                category="duplicate_in_qbo",
                cause=np.array(cause, dtype=object),
                action=np.array(action, dtype=object),
                effect_cents=0,
                awra_row=ref[sel],
                qbo_row=qr[sel],
                match_row=sel,
                carrier_rank=np.full(len(sel), CARRIER_RANK["not_ready"]),
            )
        )
    sel = np.flatnonzero(outcome == "duplicate_in_awra")
    if len(sel):
        parts.append(
            new_findings(
                len(sel),
                entity=matches["entity"].iloc[sel],
                category="duplicate_in_awra",
                cause="another AWRA record carries the same number",
                action="give this record its own number, or void it in AWRA if it is a copy; do not sync it as is",
                effect_cents=0,
                awra_row=ar[sel],
                qbo_row=ref[sel],
                match_row=sel,
                carrier_rank=np.full(len(sel), CARRIER_RANK["not_ready"]),
            )
        )
    if not parts:
        return new_findings(0)
    return decorate(pd.concat(parts, ignore_index=True), matches, awra, qbo, params)


def _missing_words(status: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    words = {
        "": ("never synced to QBO", "sync it from AWRA"),
        "failed": ("not synced: the last sync failed", "fix the sync error (see message), then retry the sync"),
        "needs_attention": (
            "not synced: the last sync needs attention",
            "fix the sync error (see message), then retry the sync",
        ),
        "pending": ("not synced yet: the sync is pending", "wait for the sync; check the connector if it is stuck"),
        "retrying": ("not synced yet: the sync is retrying", "wait for the sync; check the connector if it is stuck"),
        "skipped": ("not synced: the sync skipped it", "check why it was skipped, then sync it"),
        "succeeded": (
            "the sync log says it succeeded, but QBO does not have it (deleted in QBO?)",
            "check QBO's audit log for a deletion; clear the stale QBO link in AWRA and sync it again",
        ),
    }
    pairs = [words.get(str(s), (f"not synced (last sync {s})", "check the sync log, then sync it")) for s in status]
    return np.array([c for c, _ in pairs], dtype=object), np.array([a for _, a in pairs], dtype=object)


def not_ready_findings(matches: pd.DataFrame, awra: AwraData, qbo: QboData, params: RunParams) -> pd.DataFrame:
    """``not_ready``: AWRA records in the window whose status is not ready to sync."""
    a = awra.transactions
    ar = matches["awra_row"].to_numpy(dtype=np.int64, na_value=-1)
    qr = matches["qbo_row"].to_numpy(dtype=np.int64, na_value=-1)
    has = ar >= 0
    inwin = bool_values(a["in_window"], True)
    ready = ready_awra(a, params)
    sel = np.flatnonzero(gather(inwin & ~ready, ar, False).astype(bool))
    if len(sel) == 0:
        return new_findings(0)
    status = a["status"].to_numpy(dtype=object, na_value="")[ar[sel]]
    ready_text = " or ".join(params.ready_statuses)
    cause = [
        "voided in AWRA" if s == "void" else f"status {s or 'unknown'}: not ready to sync (ready: {ready_text})"
        for s in status
    ]
    action = [
        "none, unless QBO still holds it as a live transaction" if s == "void" else f"none: it syncs once {ready_text}"
        for s in status
    ]
    found = new_findings(
        len(sel),
        entity=matches["entity"].iloc[sel],
        category="not_ready",
        awra_value=pd.Series(status).replace("", None),
        cause=np.array(cause, dtype=object),
        action=np.array(action, dtype=object),
        effect_cents=0,
        awra_row=ar[sel],
        qbo_row=qr[sel],
        match_row=sel,
        carrier_rank=np.full(len(sel), CARRIER_RANK["not_ready"]),
    )
    return decorate(found, matches, awra, qbo, params)


def sync_conflict_findings(matches: pd.DataFrame, awra: AwraData, qbo: QboData, params: RunParams) -> pd.DataFrame:
    """``sync_conflict``: the sync log contradicts QBO, or a sync is stuck past the SLA.

    * latest attempt succeeded but the record is not in QBO (not even beyond the window);
    * latest attempt failed / retrying / pending / needs_attention but the record is in QBO:
      "do not retry: it is in QBO as Id X" (a retry would create a duplicate);
    * pending or retrying for longer than ``params.pending_sla_hours`` before ``params.now``.

    One finding per record (a record in QBO and stuck gets the "do not retry" one).
    """
    a, sl = awra.transactions, awra.sync_log
    ar = matches["awra_row"].to_numpy(dtype=np.int64, na_value=-1)
    qr = matches["qbo_row"].to_numpy(dtype=np.int64, na_value=-1)
    sr = matches["sync_row"].to_numpy(dtype=np.int64, na_value=-1)
    outcome = matches["outcome"].to_numpy(dtype=object, na_value="")
    inwin = bool_values(a["in_window"], True)
    cand = np.flatnonzero((ar >= 0) & (sr >= 0))
    cand = cand[inwin[ar[cand]]]
    if len(cand) == 0:
        return new_findings(0)
    status = sl["status"].to_numpy(dtype=object, na_value="")[sr[cand]]
    att = sl["attempted_at"].iloc[sr[cand]]
    present = np.isin(outcome[cand], PAIR_OUTCOMES) & (qr[cand] >= 0)
    limit = pd.Timestamp(params.now) - pd.Timedelta(timedelta(hours=params.pending_sla_hours))
    stuck = np.isin(status, ("pending", "retrying")) & (att < limit).fillna(False).to_numpy(dtype=bool)
    absent = (status == "succeeded") & ~present
    in_qbo = np.isin(status, _FAILING) & present
    hit = absent | in_qbo | stuck
    sel = cand[hit]
    if len(sel) == 0:
        return new_findings(0)
    q_ids = qbo.transactions["id"].to_numpy(dtype=object, na_value="")
    sl_qbo = sl["qbo_id"].to_numpy(dtype=object, na_value="")
    causes, actions = [], []
    for i, m in enumerate(sel):
        st = status[hit][i]
        if in_qbo[hit][i]:
            qid = q_ids[qr[m]]
            how = " (probable match)" if matches["match_method"].iat[m] == "probable" else ""
            extra = " and stuck past the SLA" if stuck[hit][i] else ""
            causes.append(f"the sync log says {st}{extra}, but it is in QBO as Id {qid}{how}")
            actions.append(
                f"do not retry: it is in QBO as Id {qid} (a retry would create a duplicate); "
                "record that Id in AWRA and mark the sync done"
            )
        elif absent[hit][i]:
            said = sl_qbo[sr[m]]
            causes.append(
                "the sync log says succeeded" + (f" (QBO Id {said})" if said else "") + ", but QBO does not have it"
            )
            actions.append("check QBO's audit log for a deletion; clear the stale QBO link in AWRA and sync it again")
        else:
            causes.append(f"stuck: {st} for longer than {params.pending_sla_hours} hours")
            actions.append("check the connector and the sync queue; escalate with the sync run id if it does not move")
    found = new_findings(
        len(sel),
        entity=matches["entity"].iloc[sel],
        category="sync_conflict",
        cause=np.array(causes, dtype=object),
        action=np.array(actions, dtype=object),
        effect_cents=0,
        awra_row=ar[sel],
        qbo_row=np.where(np.isin(outcome[sel], PAIR_OUTCOMES), qr[sel], -1),
        match_row=sel,
    )
    return decorate(found, matches, awra, qbo, params)


def data_quality_findings(matches: pd.DataFrame, awra: AwraData, qbo: QboData, params: RunParams) -> pd.DataFrame:
    """``data_quality``: the AWRA reader's data-quality rows, plus rows flagged unusable without one.

    Transaction rows of entities outside the run are skipped; master rows are kept. A finding
    on a row with ``data_ok`` False carries its pair's money effect (the row is left out).
    """
    a, q = awra.transactions, qbo.transactions
    dq = awra.data_quality
    keep = ~dq["entity"].isin(list(F.ENTITIES)) | dq["entity"].isin(list(params.entities))
    dq = dq[keep.fillna(True).to_numpy(dtype=bool)]
    dq = dq.sort_values(["entity", "awra_id", "field", "value", "problem"], kind="mergesort", na_position="last")
    own_a = _owner_rows(matches, "awra_row", len(a))
    own_q = _owner_rows(matches, "qbo_row", len(q))
    a_bad = np.flatnonzero(~bool_values(a["data_ok"], True) & (own_a >= 0))
    q_bad = np.flatnonzero(~bool_values(q["data_ok"], True) & (own_q >= 0))
    # AWRA rows flagged unusable, by (entity, id)
    bad = pd.DataFrame({"entity": a["entity"].iloc[a_bad].to_numpy(), "awra_id": a["id"].iloc[a_bad].to_numpy(), "r": a_bad})
    bad = bad.drop_duplicates(["entity", "awra_id"])
    located = dq[["entity", "awra_id"]].reset_index(drop=True).merge(bad, how="left", on=["entity", "awra_id"])
    rows = located["r"].fillna(-1).to_numpy(dtype=np.int64)
    parts = []
    if len(dq):
        parts.append(
            new_findings(
                len(dq),
                entity=dq["entity"],
                category="data_quality",
                awra_id=dq["awra_id"],
                awra_number=dq["awra_number"],
                field=dq["field"],
                awra_value=dq["value"],
                cause=dq["problem"].fillna("the value cannot be used as given"),
                action="correct the record in AWRA; until then it is left out of the comparison and totals",
                effect_cents=0,
                awra_row=rows,
                match_row=gather(own_a, rows, -1).astype(np.int64),
                carrier_rank=np.where(rows >= 0, CARRIER_RANK["data_quality"], -1),
            )
        )
    unexplained = np.setdiff1d(a_bad, rows[rows >= 0])
    if len(unexplained):
        parts.append(
            new_findings(
                len(unexplained),
                entity=a["entity"].iloc[unexplained],
                category="data_quality",
                cause="the AWRA reader flagged this record as unusable",
                action="correct the record in AWRA; until then it is left out of the comparison and totals",
                effect_cents=0,
                awra_row=unexplained,
                match_row=own_a[unexplained],
                carrier_rank=np.full(len(unexplained), CARRIER_RANK["data_quality"]),
            )
        )
    if len(q_bad):
        parts.append(
            new_findings(
                len(q_bad),
                entity=q["entity"].iloc[q_bad],
                category="data_quality",
                cause="the QBO record could not be read as given (amount or date missing or invalid)",
                action="open it in QBO and correct it; until then it is left out of the comparison",
                effect_cents=0,
                qbo_row=q_bad,
                match_row=own_q[q_bad],
                carrier_rank=np.full(len(q_bad), CARRIER_RANK["data_quality"]),
            )
        )
    if not parts:
        return new_findings(0)
    return decorate(pd.concat(parts, ignore_index=True), matches, awra, qbo, params)


def record_outcomes(matches: pd.DataFrame, awra: AwraData, params: RunParams) -> pd.DataFrame:
    """One row per AWRA and QBO record with its outcome (schema ``OUTCOMES``)."""
    a = awra.transactions
    ar = matches["awra_row"].to_numpy(dtype=np.int64, na_value=-1)
    qr = matches["qbo_row"].to_numpy(dtype=np.int64, na_value=-1)
    outcome = matches["outcome"]
    is_pair = outcome.isin(list(PAIR_OUTCOMES)).to_numpy(dtype=bool)
    inwin = bool_values(a["in_window"], True)
    ready = ready_awra(a, params)
    has_a, has_q = ar >= 0, qr >= 0
    a_nr = gather(inwin & ~ready, ar, False).astype(bool)
    a_outcome = outcome.mask(pd.Series(a_nr), "not_ready")
    awra_part = pd.DataFrame(
        {
            "side": "awra",
            "entity": matches["entity"][has_a],
            "id": matches["awra_id"][has_a],
            "outcome": a_outcome[has_a],
            "match_method": matches["match_method"][has_a],
            "counterpart_id": matches["qbo_id"].where(pd.Series(is_pair))[has_a],
        }
    )
    qbo_part = pd.DataFrame(
        {
            "side": "qbo",
            "entity": matches["entity"][has_q],
            "id": matches["qbo_id"][has_q],
            "outcome": outcome[has_q],
            "match_method": matches["match_method"][has_q],
            "counterpart_id": matches["awra_id"].where(pd.Series(is_pair))[has_q],
        }
    )
    return F.conform(pd.concat([awra_part, qbo_part], ignore_index=True), OUTCOMES)


__all__ = [
    "OUTCOMES",
    "ROW_COLUMNS",
    "TransactionResult",
    "data_quality_findings",
    "not_ready_findings",
    "reconcile_transactions",
    "sort_findings",
    "sync_conflict_findings",
    "unpaired_findings",
]
