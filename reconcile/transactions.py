"""The transaction stage: pair, compare, classify every record, and tie the totals out.

``reconcile_transactions`` composes ``match.match_records``, ``compare.compare_pairs`` and the
finding builders below into one ``TransactionResult``: the transaction findings (``missing_*``,
``duplicate_*``, ``mismatch`` of header fields and, through ``lines.compare_lines``, of lines,
``sync_conflict``, ``not_ready``, ``data_quality``), each with a
plain-words default ``cause`` and ``action`` and its money ``effect_cents``, the per-entity
totals and bridge, and one outcome per record. Pure: no I/O, inputs never modified. The stages
share one ``tieout.RunArrays`` per call (each takes it as ``arrays``; called alone, a stage
builds its own), so the per-row flags and codes are derived once per run.

Rules beyond the field comparison: a void record is final, never ``not_ready``; a row with
``data_ok`` False carries only its ``data_quality`` finding (no missing, not_ready or
sync_conflict); a pair voided on one side reports only ``status``; extras of an AWRA number are
``duplicate_in_awra`` even when each has its own QBO twin; a missing record is not also a
duplicate. One finding per pair/record carries its money (``tieout.CARRIER_RANK``).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import timedelta
from functools import cached_property

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from reconcile import frames as F
from reconcile.compare import compare_parts, compared_pairs
from reconcile.lines import compare_lines
from reconcile.match import (
    MATCH_METHODS,
    arrow_strings,
    arrow_take,
    gather,
    label_codes,
    pair_records,
    string_series,
    strings_from_codes,
    texts_at,
)
from reconcile.match import OUTCOMES as OUTCOME_NAMES
from reconcile.model import AwraData, EntityTotals, QboData
from reconcile.params import RunParams
from reconcile.profile import NO_PROFILE, Profile
from reconcile.tieout import (
    CARRIER_RANK,
    ROW_COLUMNS,
    Raw,
    RunArrays,
    assign_effects,
    entity_totals,
    finish,
    new_findings,
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
    * ``outcomes``: one row per AWRA and QBO record (schema ``OUTCOMES``), built when first
      read: a run reports findings and totals, so it does not pay for two million outcome rows.
    * ``matches``: the pairing frame (``match.MATCHES``).
    * ``tolerance_cents``: per (entity, currency), differences within tolerance (bridge line
      ``within_tolerance``): pass it to ``tieout.entity_totals`` when recomputing totals.
    * ``arrays``: the run's ``tieout.RunArrays`` (pairing, flags, currencies), for the stages
      composed after this one (totals again, account impact) within the same run.
    """

    findings: pd.DataFrame
    totals: tuple[EntityTotals, ...]
    build_outcomes: Callable[[], pd.DataFrame] = field(repr=False, compare=False)
    matches: pd.DataFrame = field(default_factory=pd.DataFrame)
    tolerance_cents: Mapping[tuple[str, str], int] = field(default_factory=dict)
    arrays: RunArrays | None = field(default=None, repr=False, compare=False)

    @cached_property
    def outcomes(self) -> pd.DataFrame:
        """One row per AWRA and QBO record (schema ``OUTCOMES``)."""
        return self.build_outcomes()


def reconcile_transactions(
    awra: AwraData, qbo: QboData, params: RunParams, *, profile: Profile = NO_PROFILE
) -> TransactionResult:
    """Pair, compare and classify every transaction; totals and a bridge that balances.

    ``profile`` measures the sub-stages (pairing, header and line comparison, the other
    findings, effects and tie-out) when the run asks for a stage-by-stage account.
    """
    with profile.stage("pairing"):
        matches, pairing = pair_records(awra, qbo, params)
        # the per-row flags and codes every stage reads, derived once for the run
        run = RunArrays(matches, awra, qbo, params, pairing)
    with profile.stage("header comparison"):
        parts = [*compare_parts(matches, awra, qbo, params, run)]
    with profile.stage("line comparison"):
        parts += compare_lines(matches, awra, qbo, params, run)
    with profile.stage("record findings (missing, not ready, sync, data quality)"):
        parts += [
            *unpaired_findings(matches, awra, qbo, params, run),
            *not_ready_findings(matches, awra, qbo, params, run),
            *sync_conflict_findings(matches, awra, qbo, params, run),
            *data_quality_findings(matches, awra, qbo, params, run),
        ]
    with profile.stage("findings assembly and tie-out"):
        found = finish(parts, matches, awra, qbo, params, run)
        ar, qr = run.awra_row, run.qbo_row
        both = (ar >= 0) & (qr >= 0)
        tolerable = compared_pairs(matches, awra, qbo, params, run) & both
        tolerable &= gather(run.a_in_total, ar, False).astype(bool)
        tolerable &= gather(run.q_in_total, qr, False).astype(bool)
        # a pair in two currencies is never "within tolerance": its currency finding carries it
        tolerable &= gather(run.a_currency, ar, -1) == gather(run.q_currency, qr, -2)
        found, tolerance = assign_effects(found, matches, run.effects, tolerable, run)
        findings = sort_findings(F.conform(found, F.FINDINGS))
        totals = entity_totals(findings, awra, qbo, params, tolerance, run)
    return TransactionResult(
        findings=findings,
        totals=totals,
        build_outcomes=lambda: record_outcomes(matches, awra, qbo, params, run),
        matches=matches,
        tolerance_cents=tolerance,
        arrays=run,
    )


def sort_findings(findings: pd.DataFrame) -> pd.DataFrame:
    """Findings in a stable order: entity, category (report order), then ids, field and values."""
    order = (*F.ENTITIES, *F.MASTER_TYPES)
    keys = {
        "e": label_codes(findings["entity"], order),
        "c": label_codes(findings["category"], F.CATEGORIES),
    }
    names = [
        "entity",
        "category",
        "awra_number",
        "awra_id",
        "qbo_id",
        "field",
        "line",
        "awra_value",
        "qbo_value",
        "cause",
    ]
    table = pa.table({**keys, **{n: arrow_strings(findings[n]) for n in names}})
    idx = pc.sort_indices(table, sort_keys=[(k, "ascending", "at_start") for k in table.column_names]).to_numpy()
    return _take_rows(findings, idx)


def _take_rows(frame: pd.DataFrame, rows: np.ndarray) -> pd.DataFrame:
    """``frame.take(rows)`` with a fresh index.

    Arrow text columns are taken from one contiguous array: Arrow's take is about twice as
    fast on an array as on the chunked arrays pandas holds.
    """
    columns: dict[str, pd.Series] = {}
    for name in frame.columns:
        column = frame[name]
        data = getattr(column.array, "_pa_array", None)
        if isinstance(column.dtype, pd.StringDtype) and isinstance(data, pa.ChunkedArray):
            taken = pc.take(data.combine_chunks(), pa.array(rows))
            columns[name] = pd.Series(pd.array(taken, dtype=column.dtype))
        else:
            columns[name] = column.take(rows).reset_index(drop=True)
    return pd.DataFrame(columns)


def _owner_rows(rows: np.ndarray, n: int) -> np.ndarray:
    """Per input row, the ``MATCHES`` row that owns it (-1 if none); ``rows`` per ``MATCHES`` row."""
    own = np.full(n, -1, dtype=np.int64)
    has = rows >= 0
    own[rows[has]] = np.flatnonzero(has)
    return own


def unpaired_findings(
    matches: pd.DataFrame, awra: AwraData, qbo: QboData, params: RunParams, arrays: RunArrays | None = None
) -> list[Raw]:
    """``missing_in_qbo``, ``missing_in_awra``, ``duplicate_in_qbo``, ``duplicate_in_awra``."""
    run = arrays or RunArrays(matches, awra, qbo, params)
    code, ar, qr, ref = run.outcome, run.awra_row, run.qbo_row, run.ref_row
    sl = awra.sync_log
    parts = []

    sel = np.flatnonzero(code == OUTCOME_NAMES.index("missing_in_qbo"))
    if len(sel):
        srow = run.sync_row[sel]
        status = texts_at(sl["status"], srow)
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
    sel = np.flatnonzero(code == OUTCOME_NAMES.index("missing_in_awra"))
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
    sel = np.flatnonzero(code == OUTCOME_NAMES.index("duplicate_in_qbo"))
    if len(sel):
        a_partner = np.full(len(awra.transactions), -1, dtype=np.int64)
        paired = run.is_pair & (ar >= 0)
        a_partner[ar[paired]] = qr[paired]
        kept = gather(a_partner, ref[sel], -1).astype(np.int64)
        extra = texts_at(qbo.transactions["id"], qr[sel])
        kept_ids = texts_at(qbo.transactions["id"], kept)
        dup_cause = [
            f"QBO holds more than one record for this AWRA record: Id {x} is an extra"
            + (f" (AWRA's record is QBO Id {k})" if k else "")
            for x, k in zip(extra, kept_ids, strict=True)
        ]
        dup_action = [f"check QBO Id {x} holds nothing else (payments applied), then void or delete it" for x in extra]
        parts.append(
            new_findings(
                len(sel),
                entity=matches["entity"].iloc[sel],
                category="duplicate_in_qbo",
                cause=np.array(dup_cause, dtype=object),
                action=np.array(dup_action, dtype=object),
                effect_cents=0,
                awra_row=ref[sel],
                qbo_row=qr[sel],
                match_row=sel,
                carrier_rank=np.full(len(sel), CARRIER_RANK["not_ready"]),
            )
        )
    paired_extra = np.flatnonzero(matches["awra_duplicate"].fillna(False).to_numpy(dtype=bool))
    if len(paired_extra):
        parts.append(
            new_findings(
                len(paired_extra),
                entity=matches["entity"].iloc[paired_extra],
                category="duplicate_in_awra",
                cause="another AWRA record carries the same number, and both are in QBO",
                action="give this record its own number in AWRA and in QBO (or void the copy on both sides)",
                effect_cents=0,
                awra_row=ar[paired_extra],
                qbo_row=qr[paired_extra],
                match_row=paired_extra,
            )
        )
    sel = np.flatnonzero(code == OUTCOME_NAMES.index("duplicate_in_awra"))
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
        return []
    return parts


def _not_ready_rows(run: RunArrays) -> np.ndarray:
    """AWRA rows in the window, not ready to sync, with usable data and not void (final)."""
    return run.a_inwin & ~run.a_ready & run.a_ok & ~run.a_void


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


def not_ready_findings(
    matches: pd.DataFrame, awra: AwraData, qbo: QboData, params: RunParams, arrays: RunArrays | None = None
) -> list[Raw]:
    """``not_ready``: AWRA records in the window whose status is not ready to sync."""
    a = awra.transactions
    run = arrays or RunArrays(matches, awra, qbo, params)
    ar, qr = run.awra_row, run.qbo_row
    sel = np.flatnonzero(gather(_not_ready_rows(run), ar, False).astype(bool))
    if len(sel) == 0:
        return []
    status = texts_at(a["status"], ar[sel])
    ready_text = " or ".join(params.ready_statuses)
    cause = [
        "voided in AWRA" if s == "void" else f"status {s or 'unknown'}: not ready to sync (ready: {ready_text})"
        for s in status
    ]
    action = [
        "none, unless QBO still holds it as a live transaction" if s == "void" else f"none: it syncs once {ready_text}"
        for s in status
    ]
    return [
        new_findings(
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
    ]


def sync_conflict_findings(
    matches: pd.DataFrame, awra: AwraData, qbo: QboData, params: RunParams, arrays: RunArrays | None = None
) -> list[Raw]:
    """``sync_conflict``: the sync log contradicts QBO, or a sync is stuck past the SLA.

    * latest attempt succeeded but the record is not in QBO (not even beyond the window);
    * latest attempt failed / retrying / pending / needs_attention but the record is in QBO:
      "do not retry: it is in QBO as Id X" (a retry would create a duplicate);
    * pending or retrying for longer than ``params.pending_sla_hours`` before ``params.now``.

    One finding per record (a record in QBO and stuck gets the "do not retry" one).
    """
    sl = awra.sync_log
    run = arrays or RunArrays(matches, awra, qbo, params)
    ar, qr, sr, is_pair = run.awra_row, run.qbo_row, run.sync_row, run.is_pair
    cand = np.flatnonzero((ar >= 0) & (sr >= 0))
    cand = cand[run.a_inwin[ar[cand]] & run.a_ok[ar[cand]]]
    if len(cand) == 0:
        return []
    labels = F.SYNC_STATUSES
    scode = label_codes(sl["status"], labels)[sr[cand]]
    att = sl["attempted_at"]
    att_na = att.isna().to_numpy(dtype=bool)[sr[cand]]
    att_ns = att.to_numpy(dtype="datetime64[ns]").astype(np.int64)[sr[cand]]
    present = is_pair[cand] & (qr[cand] >= 0)
    limit = pd.Timestamp(params.now) - pd.Timedelta(timedelta(hours=params.pending_sla_hours))
    waiting = np.isin(scode, [labels.index("pending"), labels.index("retrying")])
    stuck = waiting & ~att_na & (att_ns < limit.as_unit("ns").value)
    absent = (scode == labels.index("succeeded")) & ~present
    in_qbo = np.isin(scode, [labels.index(x) for x in _FAILING]) & present
    hit = absent | in_qbo | stuck
    status = texts_at(sl["status"], sr[cand[hit]])
    sel = cand[hit]
    if len(sel) == 0:
        return []
    q_ids = texts_at(qbo.transactions["id"], qr[sel])
    said_ids = texts_at(sl["qbo_id"], sr[sel])
    methods = texts_at(matches["match_method"], sel)
    causes, actions = [], []
    for st, is_in, is_absent, is_stuck, qid, said, how in zip(
        status, in_qbo[hit], absent[hit], stuck[hit], q_ids, said_ids, methods, strict=True
    ):
        if is_in:
            guess = " (probable match)" if how == "probable" else ""
            extra = " and stuck past the SLA" if is_stuck else ""
            causes.append(f"the sync log says {st}{extra}, but it is in QBO as Id {qid}{guess}")
            actions.append(
                f"do not retry: it is in QBO as Id {qid} (a retry would create a duplicate); "
                "record that Id in AWRA and mark the sync done"
            )
        elif is_absent:
            causes.append(
                "the sync log says succeeded" + (f" (QBO Id {said})" if said else "") + ", but QBO does not have it"
            )
            actions.append("check QBO's audit log for a deletion; clear the stale QBO link in AWRA and sync it again")
        else:
            causes.append(f"stuck: {st} for longer than {params.pending_sla_hours} hours")
            actions.append("check the connector and the sync queue; escalate with the sync run id if it does not move")
    return [
        new_findings(
            len(sel),
            entity=matches["entity"].iloc[sel],
            category="sync_conflict",
            cause=np.array(causes, dtype=object),
            action=np.array(actions, dtype=object),
            effect_cents=0,
            awra_row=ar[sel],
            qbo_row=np.where(is_pair[sel], qr[sel], -1),
            match_row=sel,
        )
    ]


def data_quality_findings(
    matches: pd.DataFrame, awra: AwraData, qbo: QboData, params: RunParams, arrays: RunArrays | None = None
) -> list[Raw]:
    """``data_quality``: the AWRA reader's data-quality rows, plus rows flagged unusable without one.

    Transaction rows of entities outside the run are skipped; master rows are kept. A finding
    on a row with ``data_ok`` False carries its pair's money effect (the row is left out).
    """
    a, q = awra.transactions, qbo.transactions
    dq = awra.data_quality
    keep = ~dq["entity"].isin(list(F.ENTITIES)) | dq["entity"].isin(list(params.entities))
    dq = dq[keep.fillna(True).to_numpy(dtype=bool)]
    dq = dq.sort_values(["entity", "awra_id", "field", "value", "problem"], kind="mergesort", na_position="last")
    run = arrays or RunArrays(matches, awra, qbo, params)
    own_a = _owner_rows(run.awra_row, len(a))
    own_q = _owner_rows(run.qbo_row, len(q))
    a_bad = np.flatnonzero(~run.a_ok & (own_a >= 0))
    q_bad = np.flatnonzero(~run.q_ok & (own_q >= 0))
    # AWRA rows flagged unusable, by (entity, id)
    bad = pd.DataFrame(
        {"entity": a["entity"].iloc[a_bad].to_numpy(), "awra_id": a["id"].iloc[a_bad].to_numpy(), "r": a_bad}
    )
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
        repeats = repeated_id_problems(q, q_bad)
        ids = q["id"].iloc[q_bad].to_numpy(dtype=object)
        parts.append(
            new_findings(
                len(q_bad),
                entity=q["entity"].iloc[q_bad],
                category="data_quality",
                field=np.array([None if p is None else "id" for p in repeats], dtype=object),
                qbo_value=np.array([None if p is None else i for p, i in zip(repeats, ids, strict=True)], dtype=object),
                cause=np.array([p or _QBO_UNREADABLE for p in repeats], dtype=object),
                action=np.array([_QBO_FIX if p is None else _COPY_FIX for p in repeats], dtype=object),
                effect_cents=0,
                qbo_row=q_bad,
                match_row=own_q[q_bad],
                carrier_rank=np.full(len(q_bad), CARRIER_RANK["data_quality"]),
            )
        )
    if not parts:
        return []
    return parts


_QBO_UNREADABLE = "the QBO record could not be read as given (amount or date missing or invalid)"
_QBO_FIX = "open it in QBO and correct it; until then it is left out of the comparison"
_COPY_FIX = "remove the extra copy from the snapshot (or take a fresh one from QBO); the first copy is compared"

#: The fields told apart when a repeated QBO Id's copies differ (plain names for the cause text).
_COPY_FIELDS = {
    "number": "number",
    "txn_date": "date",
    "party_id": "party",
    "currency": "currency",
    "amount_cents": "amount",
    "tax_cents": "tax",
    "line_total_cents": "line total",
    "status": "status",
}


def repeated_id_problems(q: pd.DataFrame, rows: np.ndarray) -> list[str | None]:
    """Per QBO row in ``rows``: why it is left out when it is a later copy of a repeated Id, else None.

    The QBO source keeps the first copy of an Id and flags the later ones (``data_ok`` False):
    QBO never holds two records of one entity with the same Id, so a snapshot that does was
    merged by hand or damaged. The text says whether the copy is identical to the compared one.
    """
    keys = q[["entity", "id"]].astype("string")
    repeated = keys.duplicated(keep=False).to_numpy(dtype=bool) & keys["id"].notna().to_numpy(dtype=bool)
    if not repeated[rows].any():
        return [None] * len(rows)
    ok = q["data_ok"].fillna(False).to_numpy(dtype=bool)
    compared: dict[tuple[str, str], int] = {}
    copies: dict[tuple[str, str], int] = {}
    for r in np.flatnonzero(repeated).tolist():
        key = (str(keys["entity"].iat[r]), str(keys["id"].iat[r]))
        copies[key] = copies.get(key, 0) + 1
        if ok[r]:
            compared.setdefault(key, int(r))
    out: list[str | None] = []
    for r in rows.tolist():
        if not repeated[r]:
            out.append(None)
            continue
        entity, qbo_id = str(keys["entity"].iat[r]), str(keys["id"].iat[r])
        first = compared.get((entity, qbo_id))
        text = (
            f"QBO Id {qbo_id} appears {copies[(entity, qbo_id)]} times among the QBO {entity}s"
            " (QBO never repeats an Id: a hand-merged or damaged snapshot?);"
            " only its first copy is compared and totalled, this one is left out"
        )
        if first is None:
            out.append(text)
            continue
        differ = [label for name, label in _COPY_FIELDS.items() if not _same(q[name].iat[first], q[name].iat[r])]
        out.append(f"{text}: {'it differs in ' + ', '.join(differ) if differ else 'it is identical'}")
    return out


def _same(a: object, b: object) -> bool:
    if pd.isna(a) or pd.isna(b):  # type: ignore[call-overload]
        return bool(pd.isna(a) and pd.isna(b))  # type: ignore[call-overload]
    return bool(a == b)


def record_outcomes(
    matches: pd.DataFrame, awra: AwraData, qbo: QboData, params: RunParams, arrays: RunArrays | None = None
) -> pd.DataFrame:
    """One row per AWRA and QBO record with its outcome (schema ``OUTCOMES``).

    Rows follow the input order (AWRA rows, then QBO rows) of the run's entities.
    """
    a, q = awra.transactions, qbo.transactions
    run = arrays or RunArrays(matches, awra, qbo, params)
    ar, qr, outcome, method, is_pair = run.awra_row, run.qbo_row, run.outcome, run.method, run.is_pair
    awra_part = _side_outcomes("awra", ar, qr, outcome, method, is_pair, a, q["id"], _not_ready_rows(run))
    qbo_part = _side_outcomes("qbo", qr, ar, outcome, method, is_pair, q, a["id"], None)
    # one Arrow column per field, AWRA rows then QBO rows: no concat and re-cast of 2M-row frames
    return pd.DataFrame(
        {
            name: string_series(
                pa.chunked_array([*awra_part[name].chunks, *qbo_part[name].chunks], type=pa.large_string())
            )
            for name in OUTCOMES.names
        }
    )


def _side_outcomes(
    side: str,
    own: np.ndarray,
    other: np.ndarray,
    outcome: np.ndarray,
    method: np.ndarray,
    is_pair: np.ndarray,
    frame: pd.DataFrame,
    other_ids: pd.Series,
    not_ready: np.ndarray | None,
) -> dict[str, pa.ChunkedArray]:
    """``OUTCOMES`` columns (``large_string`` Arrow arrays) for one side's records of the run."""
    n = len(frame)
    codes = np.full(n, -1, dtype=np.int64)
    meth = np.full(n, -1, dtype=np.int64)
    partner = np.full(n, -1, dtype=np.int64)
    owner = np.flatnonzero(own >= 0)  # MATCHES rows owning a record of this side
    record = own[owner]
    codes[record] = outcome[owner]
    meth[record] = method[owner]
    partner[record] = np.where(is_pair[owner], other[owner], -1)
    if not_ready is not None:
        codes = np.where((codes >= 0) & not_ready, OUTCOME_NAMES.index("not_ready"), codes)
    rows = np.flatnonzero(codes >= 0)
    every = len(rows) == n

    def own_text(column: str) -> pa.ChunkedArray:
        return arrow_strings(frame[column]) if every else arrow_take(frame[column], rows)

    def labels(values: np.ndarray, names: tuple[str, ...]) -> pa.ChunkedArray:
        return arrow_strings(strings_from_codes(values, names))

    if not every:  # records of entities outside the run are left out
        codes, meth, partner = codes[rows], meth[rows], partner[rows]
    columns = {
        "side": pa.chunked_array([pa.repeat(pa.scalar(side, pa.large_string()), len(rows))]),
        "entity": own_text("entity"),
        "id": own_text("id"),
        "outcome": labels(codes, OUTCOME_NAMES),
        "match_method": labels(meth, MATCH_METHODS),
        "counterpart_id": arrow_take(other_ids, partner),
    }
    return {name: values.cast(pa.large_string()) for name, values in columns.items()}


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
