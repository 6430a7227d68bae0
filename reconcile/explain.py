"""Explanations of one record, one customer or vendor, or one sync run (``qbo-recon explain``).

Pure functions of the frames a run already builds (``AwraData``, ``QboData``, the pairing frame
of ``reconcile.match`` and the ``RunResult``): they gather, for one thing a person asked about,
what the walkthrough asks them to look at — the AWRA record beside its QBO counterpart(s), the
field-by-field comparison, its lines beside QBO's (``lines``: paired as the line comparison pairs
them, the differing fields marked), the sync-log history, the mapping state of every master
record it uses, its findings with cause and action, whether a retry is safe, and an escalation
block — as JSON-ready dicts. ``jobs/explain.py`` fetches the data and renders the dicts.

A QBO party is shown by the name QBO gives it (its Customer/Vendor record, else the name on the
transaction's reference), never by AWRA's cached ``qbo_mappings.qbo_name``, which is often blank.
A master record's mapping ``state`` is what the mapping checks (``reconcile.mappings``) decided
for the run: the categories of its mapping findings, or ``ok`` when they found nothing. Explain
does not judge a mapping a second time.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import pandas as pd

from reconcile import frames as F
from reconcile.lines import side_by_side
from reconcile.links import qbo_url
from reconcile.mappings import MAPPING_CATEGORIES
from reconcile.model import AwraData, QboData, RunResult
from reconcile.params import RunParams
from reconcile.triage import TriageRules

#: Comparison rows of a record explanation: (field name, TRANSACTIONS column, kind).
COMPARED_FIELDS: tuple[tuple[str, str, str], ...] = (
    ("amount", "amount_cents", "money"),
    ("tax_amount", "tax_cents", "money"),
    ("txn_date", "txn_date", "date"),
    ("party", "party_id", "party"),
    ("currency", "currency", "text"),
    ("status", "status", "text"),
    ("line_total", "line_total_cents", "money"),
)

#: Where each master type of a record is found: (column, frame) pairs.
_MASTER_COLUMNS: tuple[tuple[str, str], ...] = (
    ("item", "item_id"),
    ("tax_code", "tax_code_id"),
    ("account", "account_id"),
    ("payment_method", "payment_method_id"),
)

_FAILED_STATES = ("failed", "retrying", "needs_attention", "skipped", "pending")


def money(cents: Any) -> str | None:
    """Integer cents as decimal text, or None when unknown."""
    if cents is None or pd.isna(cents):
        return None
    value = int(cents)
    sign = "-" if value < 0 else ""
    whole, frac = divmod(abs(value), 100)
    return f"{sign}{whole:,}.{frac:02d}"


def _text(value: Any) -> str | None:
    if value is None:
        return None
    try:
        if pd.isna(value):
            return None
    except (TypeError, ValueError):
        pass
    if isinstance(value, pd.Timestamp):
        return value.date().isoformat() if value == value.normalize() and value.tz is None else value.isoformat()
    return str(value)


def _row_dict(row: pd.Series, columns: Sequence[str]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for column in columns:
        value = row.get(column)
        out[column.removesuffix("_cents")] = money(value) if column.endswith("_cents") else _text(value)
    return out


# --------------------------------------------------------------------------- records


def explain_record(
    *,
    entity: str,
    awra_id: str | None,
    qbo_id: str | None,
    awra: AwraData,
    qbo: QboData,
    matches: pd.DataFrame,
    result: RunResult,
    seen: Mapping[str, Mapping[str, Any]] | None = None,
) -> dict[str, Any]:
    """Everything about one transaction: AWRA side, QBO counterpart(s), comparison, log, mappings.

    Give ``awra_id`` for an AWRA record, or only ``qbo_id`` for a record QBO holds alone.
    ``seen`` maps finding fingerprints to their run-history ``first_seen``/``last_seen`` and, if
    acknowledged, ``acknowledgement`` (by, at, note, until, in_force, lapsed).
    """
    params = result.params
    awra_tx = awra.transactions
    qbo_tx = qbo.transactions
    ent = matches[matches["entity"] == entity]
    mine = ent[ent["awra_id"] == awra_id] if awra_id is not None else ent[ent["qbo_id"] == qbo_id]
    awra_rows = [int(r) for r in mine["awra_row"].dropna().unique()]
    qbo_rows = [int(r) for r in mine["qbo_row"].dropna().unique()]
    if awra_id is not None:
        # a duplicate_in_qbo row points back at this record through ref_row
        dup = ent[(ent["outcome"] == "duplicate_in_qbo") & ent["ref_row"].isin(awra_rows)]
        qbo_rows += [int(r) for r in dup["qbo_row"].dropna().unique() if int(r) not in qbo_rows]
        # a duplicate_in_awra record points at the QBO record carrying its number
        twin = mine[mine["outcome"] == "duplicate_in_awra"]
        qbo_rows += [int(r) for r in twin["ref_row"].dropna().unique() if int(r) not in qbo_rows]
    record = awra_tx.iloc[awra_rows[0]] if awra_rows else None
    counterparts = [qbo_tx.iloc[r] for r in qbo_rows]
    outcome_by_qbo = {
        str(row.qbo_id): (str(row.outcome), _text(row.match_method))
        for row in ent[ent["qbo_row"].isin(qbo_rows)].itertuples()
    }

    findings = result.findings
    if record is not None:
        own = findings[(findings["entity"] == entity) & (findings["awra_id"] == str(record["id"]))]
    else:
        own = findings[(findings["entity"] == entity) & (findings["qbo_id"] == qbo_id) & findings["awra_id"].isna()]
    log = _sync_history(awra, entity, None if record is None else str(record["id"]))
    masters = _masters_used(entity, record, awra, qbo, findings) if record is not None else []
    mapped_party = _mapped_party(entity, record, awra)
    return {
        "kind": "record",
        "entity": entity,
        "awra": _awra_record(entity, record, awra, params) if record is not None else None,
        "qbo": [
            _qbo_record(entity, row, outcome_by_qbo.get(str(row["id"])), params.qbo_environment, qbo)
            for row in counterparts
        ],
        "comparison": [_comparison(entity, record, row, mapped_party, own, qbo) for row in counterparts]
        if record is not None
        else [],
        "lines": _line_comparisons(entity, record, counterparts, awra, qbo, matches, params),
        "sync_log": log,
        "mappings": masters,
        "findings": [_finding(row, seen) for _, row in own.iterrows()],
        "retry": _retry_verdict(entity, record, result, counterparts),
        "escalation": _escalation(entity, record, counterparts, log, masters, own, params),
    }


def _awra_record(entity: str, record: pd.Series, awra: AwraData, params: RunParams) -> dict[str, Any]:
    out = _row_dict(
        record,
        [
            "id",
            "number",
            "status",
            "txn_date",
            "due_date",
            "party_id",
            "party_name",
            "currency",
            "amount_cents",
            "tax_cents",
            "line_total_cents",
            "qbo_link",
            "branch",
            "warehouse",
            "updated_at",
            "updated_by",
        ],
    )
    out["ready"] = str(record["status"]) in params.ready_statuses
    out["in_window"] = bool(record["in_window"]) if not pd.isna(record["in_window"]) else None
    out["data_ok"] = bool(record["data_ok"]) if not pd.isna(record["data_ok"]) else None
    lines = awra.lines[(awra.lines["entity"] == entity) & (awra.lines["txn_id"] == str(record["id"]))]
    names = _master_names(awra)
    out["lines"] = [
        {
            "line_no": _text(line["line_no"]),
            "item": _named(names, "item", line["item_id"]),
            "account": _named(names, "account", line["account_id"]),
            "tax_code": _named(names, "tax_code", line["tax_code_id"]),
            "payment_method": _named(names, "payment_method", line["payment_method_id"]),
            "applies_to": _text(line["ref_id"]),
            "description": _text(line["description"]),
            "amount": money(line["amount_cents"]),
            "debit": money(line["debit_cents"]),
            "credit": money(line["credit_cents"]),
        }
        for _, line in lines.iterrows()
    ]
    return out


def _master_names(awra: AwraData) -> dict[tuple[str, str], str]:
    masters = awra.masters
    return {
        (str(t), str(i)): f"{c or i} {n or ''}".strip()
        for t, i, c, n in zip(
            masters["master_type"],
            masters["id"],
            masters["code"].fillna(""),
            masters["name"].fillna(""),
            strict=True,
        )
    }


def _named(names: Mapping[tuple[str, str], str], master_type: str, value: Any) -> str | None:
    text = _text(value)
    if text is None:
        return None
    return names.get((master_type, text), f"{text} (unknown)")


def _qbo_record(
    entity: str, row: pd.Series, outcome: tuple[str, str | None] | None, environment: str, qbo: QboData
) -> dict[str, Any]:
    out = _row_dict(
        row,
        [
            "id",
            "number",
            "status",
            "txn_date",
            "party_id",
            "party_name",
            "currency",
            "amount_cents",
            "tax_cents",
            "line_total_cents",
            "updated_at",
        ],
    )
    out["party_name"] = qbo_party_name(qbo, entity, row["party_id"], row["party_name"])
    out["in_window"] = bool(row["in_window"]) if not pd.isna(row["in_window"]) else None
    out["outcome"], out["match_method"] = outcome or (None, None)
    out["link"] = qbo_url(entity, str(row["id"]), environment)
    return out


def qbo_party_name(qbo: QboData, entity: str, party_id: Any, ref_name: Any = None) -> str | None:
    """The name QBO gives a transaction's party: its Customer/Vendor record's, else the reference's.

    ``ref_name`` is the name on the transaction's ``CustomerRef`` / ``VendorRef`` (QBO may omit
    it); the party's own record is preferred, being what a QBO user sees in its list.
    """
    party_type = F.PARTY_TYPE.get(entity)
    ident = _text(party_id)
    if party_type is None or ident is None:
        return None
    refs = qbo.references
    hit = refs.loc[(refs["ref_type"] == party_type) & (refs["id"] == ident), "name"].dropna()
    names = [str(n).strip() for n in hit if str(n).strip()]
    if names:
        return names[0]
    fallback = (_text(ref_name) or "").strip()
    return fallback or None


def _mapped_party(entity: str, record: pd.Series | None, awra: AwraData) -> str | None:
    party_type = F.PARTY_TYPE.get(entity)
    if record is None or party_type is None or pd.isna(record["party_id"]):
        return None
    maps = awra.mappings
    hit = maps[(maps["mapping_type"] == party_type) & (maps["awra_id"] == str(record["party_id"]))]
    return None if hit.empty or pd.isna(hit["qbo_id"].iloc[0]) else str(hit["qbo_id"].iloc[0])


def _comparison(
    entity: str,
    record: pd.Series,
    counterpart: pd.Series,
    mapped_party: str | None,
    own: pd.DataFrame,
    qbo: QboData,
) -> dict[str, Any]:
    flagged = set(own.loc[(own["category"] == "mismatch") & (own["qbo_id"] == str(counterpart["id"])), "field"])
    rows = []
    for name, column, kind in COMPARED_FIELDS:
        if kind == "money":
            a, q = money(record[column]), money(counterpart[column])
        elif kind == "party":
            a = f"{_text(record['party_name']) or ''} → {_qbo_party(qbo, entity, mapped_party, None)}".strip()
            q = _qbo_party(qbo, entity, counterpart["party_id"], counterpart["party_name"])
        else:
            a, q = _text(record[column]), _text(counterpart[column])
        rows.append({"field": name, "awra": a, "qbo": q, "differs": name in flagged})
    return {"qbo_id": str(counterpart["id"]), "fields": rows}


def _qbo_party(qbo: QboData, entity: str, party_id: Any, ref_name: Any) -> str:
    """A QBO party in plain words: ``QBO 58 'Acme Ltd'`` (``QBO unmapped`` when there is none)."""
    ident = _text(party_id)
    if ident is None:
        return "QBO unmapped"
    name = qbo_party_name(qbo, entity, ident, ref_name)
    return f"QBO {ident} '{name}'" if name else f"QBO {ident}"


def _line_comparisons(
    entity: str,
    record: pd.Series | None,
    counterparts: Sequence[pd.Series],
    awra: AwraData,
    qbo: QboData,
    matches: pd.DataFrame,
    params: RunParams,
) -> list[dict[str, Any]]:
    """Per QBO counterpart, the record's lines beside QBO's, paired as the run pairs them.

    ``reconcile.lines.side_by_side`` is the line comparison's own pairing, so what explain
    shows side by side is what the findings were raised on.
    """
    if record is None:
        return []
    return [
        {
            "qbo_id": str(row["id"]),
            "lines": side_by_side(entity, str(record["id"]), str(row["id"]), awra, qbo, params, matches),
        }
        for row in counterparts
    ]


def _sync_history(awra: AwraData, entity: str, record_id: str | None) -> list[dict[str, Any]]:
    if record_id is None:
        return []
    log = awra.sync_log
    mine = log[(log["record_type"] == entity) & (log["record_id"] == record_id)].sort_values("attempted_at")
    return [
        _row_dict(
            row,
            ["attempted_at", "sync_run_id", "connector", "status", "error_code", "message", "retry_count", "qbo_id"],
        )
        for _, row in mine.iterrows()
    ]


def _masters_used(
    entity: str, record: pd.Series, awra: AwraData, qbo: QboData, findings: pd.DataFrame
) -> list[dict[str, Any]]:
    used: list[tuple[str, str]] = []
    party_type = F.PARTY_TYPE.get(entity)
    if party_type and not pd.isna(record["party_id"]):
        used.append((party_type, str(record["party_id"])))
    lines = awra.lines[(awra.lines["entity"] == entity) & (awra.lines["txn_id"] == str(record["id"]))]
    for master_type, column in _MASTER_COLUMNS:
        for value in lines[column].dropna().unique():
            used.append((master_type, str(value)))
    masters = awra.masters
    for master_type, master_id in list(used):
        if master_type == "item":
            item = masters[(masters["master_type"] == "item") & (masters["id"] == master_id)]
            for column in ("income_account_id", "expense_account_id"):
                if not item.empty and not pd.isna(item[column].iloc[0]):
                    used.append(("account", str(item[column].iloc[0])))
    out = []
    for master_type, master_id in dict.fromkeys(used):
        out.append(_mapping_state(master_type, master_id, awra, qbo, findings))
    return out


def _mapping_state(
    master_type: str, master_id: str, awra: AwraData, qbo: QboData, findings: pd.DataFrame
) -> dict[str, Any]:
    masters = awra.masters
    master = masters[(masters["master_type"] == master_type) & (masters["id"] == master_id)]
    maps = awra.mappings
    mapping = maps[(maps["mapping_type"] == master_type) & (maps["awra_id"] == master_id)]
    qbo_id = None if mapping.empty else _text(mapping["qbo_id"].iloc[0])
    refs = qbo.references
    ref = refs[(refs["ref_type"] == master_type) & (refs["id"] == qbo_id)] if qbo_id else refs.iloc[0:0]
    # the mapping checks' findings decide the state: one source of truth
    problems = findings[
        (findings["entity"] == master_type)
        & (findings["awra_id"] == master_id)
        & findings["category"].isin(MAPPING_CATEGORIES)
    ]
    if master.empty:
        state = "unknown AWRA record"
    elif not problems.empty:
        state = ", ".join(sorted(set(problems["category"])))
    else:
        state = "ok"
    return {
        "type": master_type,
        "awra_id": master_id,
        "code": None if master.empty else _text(master["code"].iloc[0]),
        "name": None if master.empty else _text(master["name"].iloc[0]),
        "qbo_id": qbo_id,
        "qbo_name": None if ref.empty else _text(ref["name"].iloc[0]),
        "cached_qbo_name": None if mapping.empty else _text(mapping["qbo_name"].iloc[0]),
        "qbo_active": None
        if ref.empty
        else bool(ref["active"].iloc[0])
        if not pd.isna(ref["active"].iloc[0])
        else None,
        "state": state,
        "mapping_updated": None if mapping.empty else _text(mapping["updated_at"].iloc[0]),
        "mapping_updated_by": None if mapping.empty else _text(mapping["updated_by"].iloc[0]),
        "findings": [
            {"category": str(c), "field": _text(f), "message": _text(m)}
            for c, f, m in zip(problems["category"], problems["field"], problems["message"], strict=True)
        ],
        "actions": sorted({str(a) for a in problems["action"].dropna()}),
    }


def _finding(row: pd.Series, seen: Mapping[str, Mapping[str, Any]] | None) -> dict[str, Any]:
    out = _row_dict(
        row,
        [
            "category",
            "field",
            "qbo_id",
            "awra_value",
            "qbo_value",
            "difference",
            "cause",
            "action",
            "sync_status",
            "retry_count",
            "message",
            "match_method",
            "root_ref",
            "fingerprint",
            "line",
        ],
    )
    fingerprint = out.get("fingerprint")
    if seen is not None and fingerprint is not None and fingerprint in seen:
        out["first_seen"] = _text(seen[fingerprint].get("first_seen"))
        out["last_seen"] = _text(seen[fingerprint].get("last_seen"))
        # who acknowledged it (qbo-recon ack), or why that acknowledgement lapsed
        if seen[fingerprint].get("acknowledgement"):
            out["acknowledgement"] = dict(seen[fingerprint]["acknowledgement"])
    return out


def _retry_verdict(
    entity: str, record: pd.Series | None, result: RunResult, counterparts: Sequence[pd.Series]
) -> dict[str, Any]:
    if record is None:
        return {"safe": None, "why": "AWRA does not hold this record"}
    record_id = str(record["id"])
    if counterparts:
        ids = ", ".join(str(c["id"]) for c in counterparts)
        return {"safe": False, "why": f"it is in QBO as Id {ids}; retrying would create a duplicate"}
    safe = result.safe_to_retry
    if len(safe) and "awra_id" in safe.columns:
        hit = safe[(safe.get("entity", entity) == entity) & (safe["awra_id"] == record_id)]
        if not hit.empty:
            return {"safe": True, "why": "the cause of the last failure is fixed now and QBO does not hold it"}
    tri = result.triage
    if len(tri) and "awra_id" in tri.columns:
        hit = tri[(tri["awra_id"] == record_id) & (tri.get("entity", entity) == entity)]
        if not hit.empty:
            row = hit.iloc[0]
            action = _text(row.get("action")) or "fix the cause first"
            return {"safe": False, "why": f"not yet: {action}"}
    if str(record["status"]) not in result.params.ready_statuses:
        return {"safe": False, "why": f"status {record['status']} is not ready to sync"}
    return {"safe": None, "why": "no failed sync attempt to retry"}


def _escalation(
    entity: str,
    record: pd.Series | None,
    counterparts: Sequence[pd.Series],
    log: Sequence[Mapping[str, Any]],
    masters: Sequence[Mapping[str, Any]],
    own: pd.DataFrame,
    params: RunParams,
) -> dict[str, Any]:
    last = log[-1] if log else {}
    if record is not None:
        expected = (
            f"{F.QBO_ENTITY[entity]} {_text(record['number']) or _text(record['id'])} in QBO dated "
            f"{_text(record['txn_date']) or '(no date)'}, total {money(record['amount_cents']) or '(unknown)'} "
            f"{_text(record['currency']) or ''}".rstrip()
        )
        if F.PARTY_TYPE.get(entity):
            expected += f", for {_text(record['party_name']) or _text(record['party_id']) or '(no party)'}"
    else:
        expected = "no such record in QBO unless AWRA holds it"
    changes = []
    if record is not None and _text(record["updated_at"]):
        changes.append(f"record updated {_text(record['updated_at'])} by {_text(record['updated_by']) or 'unknown'}")
    for m in masters:
        if m.get("mapping_updated"):
            changes.append(
                f"{m['type']} mapping {m.get('code') or m['awra_id']} updated {m['mapping_updated']}"
                f" by {m.get('mapping_updated_by') or 'unknown'}"
            )
    return {
        "connector": params.connector,
        "record_number": None if record is None else (_text(record["number"]) or _text(record["id"])),
        "module": entity,
        "branch": None if record is None else _text(record["branch"]),
        "warehouse": None if record is None else _text(record["warehouse"]),
        "sync_run": last.get("sync_run_id"),
        "status": last.get("status") or ("not synced" if record is not None else None),
        "error_message": " ".join(x for x in (last.get("error_code"), last.get("message")) if x) or None,
        "retry_count": last.get("retry_count"),
        "expected_qbo_result": expected,
        "actual_qbo_result": ", ".join(f"Id {c['id']}" for c in counterparts) or "not in QBO",
        "findings": sorted(set(own["category"])),
        "user": None if record is None else _text(record["updated_by"]),
        "changed_recently": changes,
    }


# --------------------------------------------------------------------------- parties


def explain_party(*, party_type: str, party_id: str, awra: AwraData, qbo: QboData, result: RunResult) -> dict[str, Any]:
    """A customer's or vendor's mapping state and every open finding that involves it, with money."""
    state = _mapping_state(party_type, party_id, awra, qbo, result.findings)
    tx = awra.transactions
    # isin, not a map to bools: on Arrow-backed strings that map yields strings, which & refuses
    of_type = tx["entity"].isin([e for e, t in F.PARTY_TYPE.items() if t == party_type])
    mine = tx[((tx["party_id"] == party_id) & of_type).fillna(False).astype(bool)]
    ids = set(zip(mine["entity"], mine["id"], strict=True))
    findings = result.findings
    of_its_records = pd.Series(
        [(e, a) in ids for e, a in zip(findings["entity"], findings["awra_id"], strict=True)],
        index=findings.index,
        dtype=bool,
    )
    involved = findings[
        of_its_records
        | ((findings["entity"] == party_type) & (findings["awra_id"] == party_id))
        | (findings["party"].fillna("") == (state.get("name") or "\0"))
    ]
    rows = [
        {
            **_row_dict(
                row,
                ["entity", "category", "awra_number", "qbo_id", "field", "cause", "action", "amount_cents"],
            ),
        }
        for _, row in involved.iterrows()
    ]
    return {
        "kind": party_type,
        "party": state,
        "window": {"from": result.params.date_from.isoformat(), "to": result.params.date_to.isoformat()},
        "transactions_in_window": int(mine["in_window"].fillna(False).sum()),
        "findings": rows,
        "money_at_stake": money(int(involved["amount_cents"].fillna(0).sum())),
    }


# --------------------------------------------------------------------------- sync runs


def explain_sync_run(
    *, run: Mapping[str, Any], attempts: pd.DataFrame, rules: TriageRules, params: RunParams
) -> dict[str, Any]:
    """Counts by status and the failed, retrying and needs-attention records grouped by root cause."""
    counts = {str(k): int(v) for k, v in attempts["status"].fillna("(none)").value_counts().sort_index().items()}
    problems = attempts[attempts["status"].isin(_FAILED_STATES)]
    groups: dict[tuple[str, str], dict[str, Any]] = {}
    for _, row in problems.sort_values(["record_type", "record_number", "record_id"]).iterrows():
        cause, action, can_succeed = rules.classify(row["error_code"], row["message"], row["status"])
        key = (cause, _text(row["error_code"]) or "")
        group = groups.setdefault(
            key,
            {
                "cause": cause,
                "error_code": key[1] or None,
                "action": action,
                "retry_can_succeed": can_succeed,
                "message": _text(row["message"]),
                "records": [],
            },
        )
        group["records"].append(
            {
                "record_type": _text(row["record_type"]),
                "record_number": _text(row["record_number"]) or _text(row["record_id"]),
                "status": _text(row["status"]),
                "retry_count": _text(row["retry_count"]),
                "message": _text(row["message"]),
            }
        )
    ordered = sorted(groups.values(), key=lambda g: (-len(g["records"]), g["cause"], g["error_code"] or ""))
    return {
        "kind": "sync_run",
        "run": {k: _text(v) for k, v in run.items()},
        "connector": params.connector,
        "attempts": len(attempts),
        "by_status": counts,
        "root_causes": ordered,
    }


__all__ = [
    "COMPARED_FIELDS",
    "explain_party",
    "explain_record",
    "explain_sync_run",
    "money",
    "qbo_party_name",
]
