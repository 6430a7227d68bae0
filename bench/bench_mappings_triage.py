"""Benchmark: mapping checks, sync-log triage and escalation packets at scale.

Synthetic AWRA data: N invoices with 4 lines each (default 250,000 invoices = 1,000,000 lines),
2,000 customers, 500 items, 20 tax codes, 60 accounts, 6 payment methods; 5% of masters unmapped;
a sync log with 3 attempts for 10% of the invoices (the rest one succeeded attempt).

Prints wall times and ratios against a baseline measured in the same run: the floor any
vectorized "blocks" count needs (one merge of lines with transactions and one group-by).

    .venv/bin/python bench/bench_mappings_triage.py [N_INVOICES]
"""

from __future__ import annotations

import sys
import time
from datetime import UTC, date, datetime

import numpy as np
import pandas as pd

from reconcile import frames as F
from reconcile.escalation import build_escalations
from reconcile.mappings import blocked_transactions, check_mappings
from reconcile.match import match_records
from reconcile.model import AwraData, QboData
from reconcile.params import RunParams
from reconcile.triage import DEFAULT_RULES_PATH, load_rules, triage


def build(n: int) -> tuple[AwraData, QboData]:
    rng = np.random.default_rng(7)
    t0 = pd.Timestamp("2026-11-01T00:00:00Z")
    counts = {"customer": 2000, "item": 500, "tax_code": 20, "account": 60, "payment_method": 6, "vendor": 300}
    masters, mappings, refs = [], [], []
    for mtype, k in counts.items():
        ids = [f"{mtype[0]}{i}" for i in range(k)]
        frame = pd.DataFrame({"master_type": mtype, "id": ids, "code": ids, "name": [f"{mtype} {i}" for i in range(k)]})
        frame["active"] = True
        frame["updated_at"] = t0
        if mtype == "tax_code":
            frame["rate_percent"] = "16"
        if mtype == "account":
            frame["account_type"] = "income"
        if mtype == "item":
            frame["income_account_id"] = [f"a{i % 60}" for i in range(k)]
        masters.append(frame)
        mapped = frame.iloc[[i for i in range(k) if i % 20 != 0]]  # 5% unmapped
        mappings.append(
            pd.DataFrame(
                {
                    "mapping_type": mtype,
                    "awra_id": mapped["id"],
                    "qbo_id": "Q" + mapped["id"],
                    "qbo_name": mapped["name"],
                    "updated_at": t0,
                    "updated_by": "admin",
                }
            )
        )
        ref = pd.DataFrame({"ref_type": mtype, "id": "Q" + frame["id"], "name": frame["name"], "active": True})
        if mtype == "tax_code":
            ref["rate_percent"] = "16"
        if mtype == "account":
            ref["qbo_type"] = "Income"
        refs.append(ref)
    ids = np.arange(n).astype(str)
    tx = pd.DataFrame(
        {
            "entity": "invoice",
            "id": ids,
            "number": np.char.add("INV-", ids),
            "txn_date": pd.Timestamp("2026-11-03"),
            "party_id": np.char.add("c", rng.integers(0, 2000, n).astype(str)),
            "amount_cents": rng.integers(1_000, 1_000_000, n),
            "status": "posted",
            "in_window": True,
            "data_ok": True,
            "currency": "KES",
            "branch": "Nairobi",
            "updated_at": t0,
            "updated_by": "clerk",
        }
    )
    lines = pd.DataFrame(
        {
            "entity": "invoice",
            "txn_id": np.repeat(ids, 4),
            "line_no": np.tile(np.arange(1, 5), n),
            "item_id": np.char.add("i", rng.integers(0, 500, 4 * n).astype(str)),
            "tax_code_id": np.char.add("t", rng.integers(0, 20, 4 * n).astype(str)),
            "amount_cents": rng.integers(100, 100_000, 4 * n),
        }
    )
    failing = ids[: n // 10]
    log_parts = []
    for k, at in enumerate(("2026-11-03T22:00:00Z", "2026-11-04T22:00:00Z", "2026-11-05T22:00:00Z")):
        log_parts.append(
            pd.DataFrame(
                {
                    "id": np.char.add(f"L{k}-", failing),
                    "sync_run_id": f"R{k}",
                    "connector": "qbo",
                    "record_type": "invoice",
                    "record_id": failing,
                    "record_number": np.char.add("INV-", failing),
                    "status": "failed",
                    "error_code": np.where(rng.random(len(failing)) < 0.5, "6000", "3001"),
                    "message": "Business Validation Error",
                    "retry_count": k,
                    "attempted_at": pd.Timestamp(at),
                }
            )
        )
    ok = ids[n // 10 :]
    log_parts.append(
        pd.DataFrame(
            {
                "id": np.char.add("S-", ok),
                "sync_run_id": "R0",
                "connector": "qbo",
                "record_type": "invoice",
                "record_id": ok,
                "record_number": np.char.add("INV-", ok),
                "status": "succeeded",
                "retry_count": 0,
                "attempted_at": pd.Timestamp("2026-11-03T22:00:00Z"),
            }
        )
    )
    awra = AwraData(
        transactions=F.conform(tx, F.TRANSACTIONS),
        lines=F.conform(lines, F.LINES),
        masters=F.conform(pd.concat(masters, ignore_index=True), F.MASTERS),
        mappings=F.conform(pd.concat(mappings, ignore_index=True), F.MAPPINGS),
        sync_log=F.conform(pd.concat(log_parts, ignore_index=True), F.SYNC_LOG),
        sync_runs=F.conform(
            pd.DataFrame({"id": ["R0", "R1", "R2"], "connector": "qbo", "triggered_by": "scheduler"}), F.SYNC_RUNS
        ),
        data_quality=F.empty_frame(F.DATA_QUALITY),
    )
    qbo = QboData(
        transactions=F.empty_frame(F.TRANSACTIONS),
        lines=F.empty_frame(F.LINES),
        references=F.conform(pd.concat(refs, ignore_index=True), F.REFERENCES),
    )
    return awra, qbo


def timed(label: str, fn, *args):
    start = time.perf_counter()
    out = fn(*args)
    seconds = time.perf_counter() - start
    print(f"{label:<34} {seconds:8.2f} s")
    return out, seconds


def baseline(awra: AwraData) -> int:
    """The floor: one merge of lines with transactions and one group-by count."""
    joined = awra.lines[["entity", "txn_id", "tax_code_id"]].merge(
        awra.transactions[["entity", "id", "amount_cents"]], left_on=["entity", "txn_id"], right_on=["entity", "id"]
    )
    return len(joined.groupby("tax_code_id").size())


def main() -> None:
    n = int(sys.argv[1]) if len(sys.argv) > 1 else 250_000
    params = RunParams(
        run_id="bench",
        company="default",
        company_name="Bench",
        date_from=date(2026, 11, 1),
        date_to=date(2026, 11, 7),
        now=datetime(2026, 11, 8, tzinfo=UTC),
    )
    build_start = time.perf_counter()
    awra, qbo = build(n)
    print(
        f"data: {len(awra.transactions):,} invoices, {len(awra.lines):,} lines, {len(awra.masters):,} masters, "
        f"{len(awra.sync_log):,} sync_log rows (built in {time.perf_counter() - build_start:.1f} s)"
    )
    rules = load_rules(DEFAULT_RULES_PATH)
    _, base = timed("baseline merge+groupby (1 column)", baseline, awra)
    # the run pairs once (the transaction core) and tells the mapping checks what is blocked
    blocked, t_pair = timed(
        "pairing -> blocked transactions", lambda: blocked_transactions(match_records(awra, qbo, params), awra)
    )
    findings, t_map = timed("check_mappings", lambda: check_mappings(awra, qbo, params, blocked=blocked))
    result, t_tri = timed("triage", triage, awra, qbo, findings, params, rules)
    packets, t_esc = timed("build_escalations", build_escalations, awra, result, params)
    print(
        f"findings {len(findings):,} mapping, {int((result.findings['category'] == 'retry_loop').sum()):,} retry_loop; "
        f"triaged {len(result.triage):,}; safe_to_retry {len(result.safe_to_retry):,}; packets {len(packets)}"
    )
    print(
        f"ratios vs baseline: pairing {t_pair / base:.1f}x, check_mappings {t_map / base:.1f}x, "
        f"triage {t_tri / base:.1f}x, "
        f"escalations {t_esc / base:.1f}x"
    )


if __name__ == "__main__":
    main()
