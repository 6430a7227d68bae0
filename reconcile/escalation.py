"""Escalation packets: what a person beyond finance needs, one packet per problem group.

A group is escalated when finance cannot fix it alone:

* ``authorization``: any record whose sync failed for an authorization cause (one packet);
* ``error_code``: one connector error code failing for at least ``params.escalation_threshold``
  records (authorization codes are in their own packet);
* ``retry_loop``: records retried again and again with nothing fixed, grouped by their root
  mapping finding, else by error code (else by message);
* ``sync_conflict``: findings of category ``sync_conflict``, grouped by entity and the sync status
  that contradicts QBO.

Each packet is a JSON-ready dict (for ``escalations.json``) carrying, from the data: connector,
reason and group key, record numbers, sync run ids, status, error code and message, retry count,
the expected QBO result, what changed recently (record and mapping changes after the first
failure: what, who and when), module, branch and warehouse, user, the visible message, a count,
and one entry per record. A fact the data does not hold is left out of the packet rather than
filled with a placeholder (``what_changed`` is always present, possibly empty, with
``what_changed_summary`` saying so in words).
"""

from __future__ import annotations

import dataclasses
from collections import Counter
from collections.abc import Callable, Iterable, Mapping
from typing import Any

import pandas as pd

from reconcile import frames as F
from reconcile.mappings import LABELS, format_cents, isin_fast, label_of
from reconcile.model import AwraData
from reconcile.params import RunParams
from reconcile.triage import TriageResult, changes_since, latest_sync_state, record_context

#: The order packets appear in.
REASONS: tuple[str, ...] = ("authorization", "error_code", "retry_loop", "sync_conflict")

_FAILING = ("failed", "retrying", "needs_attention")

#: A packet details at most this many records (``record_numbers`` always lists them all).
MAX_RECORD_DETAIL = 100
#: How many records the group's ``expected_qbo_result`` spells out.
EXPECTED_LISTED = 5


def _val(value: Any) -> Any:
    """A JSON-ready scalar, or None for missing/blank."""
    if value is None or value is pd.NA or value is pd.NaT:
        return None
    if isinstance(value, pd.Timestamp):
        if pd.isna(value):
            return None
        if value.tzinfo is None:
            return value.strftime("%Y-%m-%d")
        return value.tz_convert("UTC").strftime("%Y-%m-%dT%H:%M:%SZ")
    if isinstance(value, float) and value != value:
        return None
    if hasattr(value, "item") and not isinstance(value, str):
        value = value.item()
    if isinstance(value, str):
        value = value.strip()
        return value or None
    return value


def _unique(values: Iterable[Any]) -> list[Any]:
    if isinstance(values, pd.Series):
        values = pd.unique(values.dropna())
    out: list[Any] = []
    for v in values:
        v = _val(v)
        if v is not None and v not in out:
            out.append(v)
    return out


def _most_common(values: pd.Series) -> Any:
    """The most frequent non-blank value (the first seen on a tie), or None."""
    present = [_val(v) for v in values.tolist()]
    counts = Counter(v for v in present if v is not None)
    return counts.most_common(1)[0][0] if counts else None


def _prune(packet: dict[str, Any]) -> dict[str, Any]:
    """Drop keys with no data (None, blank, empty list), except ``what_changed``."""
    return {k: v for k, v in packet.items() if k == "what_changed" or v not in (None, "", [])}


def _qbo_label(record_type: str) -> str:
    entity = F.QBO_ENTITY.get(record_type) or F.QBO_REFERENCE_ENTITY.get(record_type)
    return entity or LABELS.get(record_type, record_type).capitalize()


def _expected(row: Mapping[str, Any]) -> str:
    """The QBO result the record should have, e.g. ``Invoice INV-1003 present in QBO with total 1,250.00``."""
    rtype = str(row["record_type"])
    number = _val(row["record_number"]) or _val(row["record_id"])
    if rtype in F.ENTITIES:
        amount = _val(row.get("amount_cents"))
        total = f" with total {format_cents(amount)}" if amount is not None else ""
        currency = _val(row.get("currency"))
        if total and currency:
            total += f" {currency}"
        return f"{_qbo_label(rtype)} {number} present in QBO{total}"
    name = _val(row.get("party"))
    shown = f" '{name}'" if name else ""
    return f"{_qbo_label(rtype)} {number}{shown} present and active in QBO"


def _totals_by_currency(group: pd.DataFrame) -> str:
    """The records' amounts summed per currency, never across: ``1,200.00 KES; 80.00 USD``."""
    amounts = pd.to_numeric(group["amount_cents"], errors="coerce")
    currency = (
        group["currency"].astype("string").fillna("") if "currency" in group else pd.Series("", index=group.index)
    )
    known = amounts.notna().to_numpy(dtype=bool)
    if not known.any():
        return ""
    sums = amounts[known].astype("int64").groupby(currency[known].to_numpy()).sum()
    return "; ".join(f"{format_cents(int(v))} {code}".rstrip() for code, v in sorted(sums.items()))


def _conflict_expected(row: Mapping[str, Any]) -> str:
    """The QBO result a sync-conflict record should have, and what AWRA's sync log should say."""
    base = _expected(row)
    status = _val(row.get("finding_sync_status")) or _val(row.get("status"))
    if status == "succeeded":
        return f"{base}, as AWRA's sync log says it succeeded"
    qid = _val(row.get("qbo_found_id"))
    if qid:
        return f"{base} once (QBO Id {qid} holds it), and AWRA's sync log showing it succeeded with that Id"
    return f"{base}, and AWRA's sync log showing it succeeded with its QBO Id"


def _records(awra: AwraData, params: RunParams, keys: pd.DataFrame) -> pd.DataFrame:
    """Per-record facts for records not triaged (sync conflicts): latest sync row and context."""
    # a record's sync state reads its own attempts only: the log is cut to these records first
    # (at 1M invoices the whole log is a million rows, the conflicts a few thousand)
    log = awra.sync_log
    own_log = dataclasses.replace(awra, sync_log=log.loc[isin_fast(log["record_id"], keys["record_id"])])
    latest = latest_sync_state(own_log, params).rename(columns={"id": "sync_log_id"})
    rows = keys.merge(latest, on=["record_type", "record_id"], how="left", suffixes=("", "_log"))
    rows = rows.merge(record_context(awra, keys), on=["record_type", "record_id"], how="left")
    rows["record_number"] = rows["record_number"].fillna(rows["number"])
    runs = awra.sync_runs.drop_duplicates("id")[["id", "triggered_by"]].rename(columns={"id": "sync_run_id"})
    rows = rows.merge(runs, on="sync_run_id", how="left")
    retry_count = rows["retry_count"].astype("Int64").fillna(0)
    run_attempts = rows["run_attempts"].astype("Int64").fillna(0)
    rows["attempts"] = retry_count.where(retry_count >= run_attempts, run_attempts)
    rows["since"] = rows["first_failed_at"].fillna(rows["attempted_at"])
    return rows


def _packet(
    reason: str,
    key: str,
    summary: str,
    group: pd.DataFrame,
    changes: pd.DataFrame,
    params: RunParams,
    *,
    expected_for: Callable[[Mapping[str, Any]], str] = _expected,
) -> dict[str, Any]:
    group = group.sort_values(["record_type", "record_number", "record_id"], kind="stable", na_position="last")
    numbers = group["record_number"].astype("string").fillna(group["record_id"].astype("string")).tolist()
    shown: list[dict[str, Any]] = [
        {str(k): v for k, v in row.items()} for row in group.head(MAX_RECORD_DETAIL).to_dict("records")
    ]
    expected = [expected_for(row) for row in shown]
    named = group[["record_type", "record_id", "record_number"]]
    changed = changes.merge(named, on=["record_type", "record_id"]).sort_values("updated_at", kind="stable")
    what_changed = [
        _prune(
            {
                "record": f"{label_of(c.record_type)} {_val(c.record_number) or _val(c.record_id)}",
                "what": _val(c.what),
                "kind": _val(c.kind),
                "updated_by": _val(c.updated_by) or "not recorded",
                "updated_at": _val(c.updated_at),
            }
        )
        for c in changed.head(MAX_RECORD_DETAIL).itertuples(index=False)
    ]
    first = group["first_failed_at"].min() if "first_failed_at" in group else pd.NaT
    last_attempt = group["attempted_at"].max()
    if _val(first) is not None:
        since_words = f"the first failure at {_val(first)}"
    elif _val(last_attempt) is not None:
        since_words = f"the last sync attempt at {_val(last_attempt)}"
    else:
        since_words = "the sync attempt"
    if len(changed):
        change_summary = f"{len(changed)} record or mapping change(s) since {since_words}"
    else:
        change_summary = f"no record or mapping change since {since_words}"
    by_time = group.loc[group["message"].notna()].sort_values("attempted_at", kind="stable", na_position="first")
    visible = _val(by_time["message"].iloc[-1]) if len(by_time) else None
    attempts = pd.to_numeric(group["attempts"], errors="coerce").dropna()
    users = _unique(group["updated_by"])
    triggered = _unique(group["triggered_by"])
    records = [
        _prune(
            {
                "record_type": _val(row["record_type"]),
                "record_id": _val(row["record_id"]),
                "record_number": number,
                "status": _val(row["status"]),
                "error_code": _val(row["error_code"]),
                "message": _val(row["message"]),
                "retry_count": _val(row["attempts"]),
                "sync_run_id": _val(row["sync_run_id"]),
                "attempted_at": _val(row["attempted_at"]),
                "first_failed_at": _val(row["first_failed_at"]),
                "cause": _val(row.get("cause")),
                "branch": _val(row.get("branch")),
                "warehouse": _val(row.get("warehouse")),
                "updated_by": _val(row.get("updated_by")),
                "amount": format_cents(row["amount_cents"]) if _val(row.get("amount_cents")) is not None else None,
                "currency": _val(row.get("currency")),
                "expected_qbo_result": exp,
            }
        )
        for row, number, exp in zip(shown, numbers[: len(shown)], expected, strict=True)
    ]
    if len(group) == 1:
        expected_text = expected[0]
    else:
        totals = _totals_by_currency(group)
        total = f" (AWRA total {totals})" if totals else ""
        listed = "; ".join(expected[:EXPECTED_LISTED])
        more = f"; and {len(group) - EXPECTED_LISTED} more" if len(group) > EXPECTED_LISTED else ""
        expected_text = f"{len(group)} records present in QBO as in AWRA{total}: {listed}{more}"
    truncated = len(group) > MAX_RECORD_DETAIL
    packet = {
        "packet_id": reason if key == reason else f"{reason}:{key}",
        "reason": reason,
        "group_key": key,
        "summary": summary,
        "company": params.company,
        "run_id": params.run_id,
        "connector": params.connector,
        "count": len(group),
        "record_numbers": numbers,
        "sync_run_ids": sorted(_unique(group["sync_run_id"])),
        "status": ", ".join(sorted(_unique(group["status"]))),
        "error_code": ", ".join(_unique(group["error_code"])),
        "error_message": _most_common(group["message"]),
        "visible_message": visible,
        "retry_count": int(attempts.max()) if len(attempts) else None,
        "first_failed_at": _val(first),
        "last_attempted_at": _val(last_attempt),
        "cause": ", ".join(_unique(group["cause"])) if "cause" in group else None,
        "action": _most_common(group["action"]) if "action" in group else None,
        "expected_qbo_result": expected_text,
        "what_changed": what_changed,
        "what_changed_summary": change_summary,
        "module": ", ".join(_unique(group["record_type"])),
        "branch": ", ".join(_unique(group["branch"])),
        "warehouse": ", ".join(_unique(group["warehouse"])),
        "user": ", ".join(_unique([*users, *triggered])),
        "record_updated_by": users,
        "sync_triggered_by": triggered,
        "records": records,
        "records_note": f"the first {MAX_RECORD_DETAIL} of {len(group)} records are detailed" if truncated else None,
    }
    return _prune(packet)


def build_escalations(awra: AwraData, triage: TriageResult, params: RunParams) -> tuple[dict[str, Any], ...]:
    """JSON-ready escalation packets, one per group (see the module docstring), in ``REASONS`` order."""
    tri = triage.triage
    packets: list[dict[str, Any]] = []
    changes = triage.changes
    # authorization: any
    auth = tri.loc[(tri["cause"] == "authorization").fillna(False).astype(bool)]
    if len(auth):
        packets.append(
            _packet(
                "authorization",
                "authorization",
                f"QBO refused the connection's authorization for {len(auth)} record(s): "
                "someone with QBO admin rights must reconnect AWRA to QuickBooks Online",
                auth,
                changes,
                params,
            )
        )
    # one error code failing for many records
    failing = tri.loc[
        tri["status"].isin(_FAILING).fillna(False).astype(bool)
        & tri["error_code"].notna()
        & (tri["cause"] != "authorization").fillna(True).astype(bool)
    ]
    counts = failing.groupby("error_code")["record_id"].transform("size")
    many = failing.loc[counts >= params.escalation_threshold]
    for code, group in many.groupby("error_code", sort=True):
        packets.append(
            _packet(
                "error_code",
                str(code),
                f"{len(group)} records fail with connector error {code} (threshold "
                f"{params.escalation_threshold}): a problem beyond single records",
                group,
                changes,
                params,
            )
        )
    # retry loops
    loops = tri.loc[tri["retry_loop"].fillna(False).astype(bool)]
    if len(loops):
        key = loops["root_ref"].fillna("code " + loops["error_code"]).fillna(loops["message"]).fillna("unknown")
        for group_key, group in loops.groupby(key, sort=True):
            packets.append(
                _packet(
                    "retry_loop",
                    str(group_key),
                    f"{len(group)} record(s) retried at least {params.retry_loop_threshold} times with the same "
                    f"error and nothing fixed ({group_key}): stop the retries and fix the cause first",
                    group,
                    changes,
                    params,
                )
            )
    # sync conflicts
    findings = triage.findings
    conflicts = findings.loc[(findings["category"] == "sync_conflict").fillna(False).astype(bool)]
    if len(conflicts):
        keys = conflicts[["entity", "awra_id", "qbo_id", "sync_status"]].rename(
            columns={
                "entity": "record_type",
                "awra_id": "record_id",
                "qbo_id": "qbo_found_id",
                "sync_status": "finding_sync_status",
            }
        )
        keys = keys.loc[keys["record_id"].notna()].drop_duplicates(["record_type", "record_id"])
        rows = _records(awra, params, keys)
        verdicts = tri[["record_type", "record_id", "cause", "action"]]
        rows = rows.merge(verdicts, on=["record_type", "record_id"], how="left")
        since = rows[["record_type", "record_id", "since"]]
        conflict_changes = changes_since(awra, params, since)
        status = rows["finding_sync_status"].fillna(rows["status"]).fillna("unknown")
        for (rtype, st), group in rows.groupby([rows["record_type"], status], sort=True):
            packets.append(
                _packet(
                    "sync_conflict",
                    f"{rtype}:{st}",
                    f"{len(group)} {rtype} record(s) whose sync log ({st}) contradicts QBO: the connector's record "
                    "of what it sent cannot be trusted for them",
                    group,
                    conflict_changes,
                    params,
                    expected_for=_conflict_expected,
                )
            )
    return tuple(packets)


__all__ = ["REASONS", "build_escalations"]
