"""Benchmark: the reconciliation core vs a bare pandas outer merge vs datacompy.

Builds N AWRA invoices against ~N QBO invoices directly as canonical frames (no database), with
1% planted problems of each kind (missing on each side, duplicates on each side, amount, tax,
date, party and currency mismatches, void in QBO only, not ready, bad AWRA data, sync conflicts,
twins beyond the window, hand-keyed QBO entries), QBO rows shuffled. Then, each in its own
subprocess (same data, same seed) so that peak memory is measured per approach:

* ``core``: ``reconcile.transactions.reconcile_transactions`` (match + compare + tie-out);
* ``merge``: ``pandas.merge(awra[["number"]], qbo[["number"]], how="outer", indicator=True)``;
* ``datacompy``: ``datacompy.PandasCompare`` joined on number, comparing amount, date, party, tax.

Run by hand:  ``.venv/bin/python bench/bench_core.py --rows 1000000``  (default: a tiny smoke run).
Prints time (s, best of ``--repeat``), the process's peak RSS during the measured step (MB; the
peak is reset after the data is built, Linux ``/proc/self/clear_refs``) and its increase over the
RSS after building the data, and the ratios core/merge and core/datacompy.
"""

from __future__ import annotations

import argparse
import gc
import json
import resource
import subprocess
import sys
import time
from datetime import UTC, date, datetime

import numpy as np
import pandas as pd

from reconcile import frames as F
from reconcile.model import AwraData, QboData
from reconcile.params import RunParams

PLANTS = (
    "missing_in_qbo",
    "missing_in_awra",
    "duplicate_in_qbo",
    "duplicate_in_awra",
    "amount",
    "tax",
    "date",
    "party",
    "currency",
    "void_in_qbo",
    "not_ready",
    "bad_data",
    "failed_but_present",
    "succeeded_but_absent",
    "out_of_window",
    "probable",
)


def _s(values) -> pd.Series:
    return pd.Series(pd.array(values, dtype="string"))


def build(rows: int, seed: int = 7, text_ids: bool = False) -> tuple[AwraData, QboData, RunParams, dict[str, int]]:
    rng = np.random.default_rng(seed)
    n = rows
    idx = np.arange(n)
    start = np.datetime64("2026-03-01")
    days = rng.integers(0, 31, n)
    amount = rng.integers(100, 1_000_000, n).astype(np.int64)
    tax = (amount * 16 // 116).astype(np.int64)
    party = rng.integers(0, 5000, n)
    # every record is assigned at most one planted problem
    kind = np.full(n, -1)
    chosen = rng.permutation(n)[: int(n * 0.01) * len(PLANTS)]
    per = len(chosen) // len(PLANTS)
    for k in range(len(PLANTS)):
        kind[chosen[k * per : (k + 1) * per]] = k
    plant = {name: np.flatnonzero(kind == k) for k, name in enumerate(PLANTS)}

    # AWRA keys are integers read as text (CONTRACTS §1); --text-ids makes them non-numeric text
    a_ids = np.char.add("a", idx.astype(str)) if text_ids else (1 + idx).astype(str)
    numbers = np.char.add("INV-", np.char.zfill(idx.astype(str), 8))
    q_ids = (1_000_000 + idx).astype(str)
    a_status = np.full(n, "posted", dtype=object)
    a_status[plant["not_ready"]] = "draft"
    linked = np.ones(n, dtype=bool)
    linked[plant["missing_in_qbo"]] = False
    linked[plant["probable"]] = False
    linked[plant["failed_but_present"]] = False
    a_link = np.where(linked, q_ids, None).astype(object)
    a_link[plant["succeeded_but_absent"]] = "999999999"
    a_amount = pd.array(amount, dtype="Int64")
    data_ok = np.ones(n, dtype=bool)
    data_ok[plant["bad_data"]] = False
    a_amount[plant["bad_data"]] = pd.NA
    awra_t = pd.DataFrame(
        {
            "entity": _s(np.full(n, "invoice", dtype=object)),
            "id": _s(a_ids),
            "number": _s(numbers),
            "txn_date": start + days.astype("timedelta64[D]"),
            "party_id": _s(np.char.add("c", party.astype(str))),
            "party_name": _s(np.char.add("Customer ", party.astype(str))),
            "currency": _s(np.full(n, "USD", dtype=object)),
            "amount_cents": a_amount,
            "tax_cents": pd.array(tax, dtype="Int64"),
            "line_total_cents": pd.array(amount, dtype="Int64"),
            "status": _s(a_status),
            "is_void": pd.array(np.zeros(n, dtype=bool), dtype="boolean"),
            "qbo_link": _s(a_link),
            "in_window": pd.array(np.ones(n, dtype=bool), dtype="boolean"),
            "data_ok": pd.array(data_ok, dtype="boolean"),
        }
    )
    # duplicate_in_awra: a second AWRA record with an existing number, no link
    dup_a = plant["duplicate_in_awra"]
    extra_a = awra_t.iloc[dup_a].copy()
    extra_a["id"] = _s(np.char.add("x", dup_a.astype(str)) if text_ids else (20_000_000 + dup_a).astype(str))
    extra_a["qbo_link"] = _s(np.full(len(dup_a), None, dtype=object))
    awra_t = pd.concat([awra_t, extra_a], ignore_index=True)

    # QBO side
    q_amount = amount.copy()
    q_amount[plant["amount"]] += 100
    q_tax = tax.copy()
    q_tax[plant["tax"]] += 7
    q_days = days.copy()
    q_days[plant["date"]] = np.minimum(q_days[plant["date"]] + 1, 30) - (q_days[plant["date"]] == 30) * 2
    q_party = party.copy()
    q_party[plant["party"]] = (q_party[plant["party"]] + 1) % 5000
    q_currency = np.full(n, "USD", dtype=object)
    q_currency[plant["currency"]] = "KES"
    q_void = np.zeros(n, dtype=bool)
    q_void[plant["void_in_qbo"]] = True
    q_in = np.ones(n, dtype=bool)
    q_in[plant["out_of_window"]] = False
    q_dates = start + q_days.astype("timedelta64[D]")
    q_dates[plant["out_of_window"]] = np.datetime64("2026-04-03")
    q_numbers = numbers.astype(object)
    q_numbers[plant["probable"]] = None
    keep = np.ones(n, dtype=bool)
    keep[plant["missing_in_qbo"]] = False
    keep[plant["succeeded_but_absent"]] = False
    qbo_t = pd.DataFrame(
        {
            "entity": _s(np.full(n, "invoice", dtype=object)),
            "id": _s(q_ids),
            "number": _s(q_numbers),
            "txn_date": q_dates,
            "party_id": _s(np.char.add("q", q_party.astype(str))),
            "party_name": _s(np.char.add("Customer ", q_party.astype(str))),
            "currency": _s(q_currency),
            "amount_cents": pd.array(q_amount, dtype="Int64"),
            "tax_cents": pd.array(q_tax, dtype="Int64"),
            "line_total_cents": pd.array(q_amount, dtype="Int64"),
            "status": _s(np.where(q_void, "void", "posted").astype(object)),
            "is_void": pd.array(q_void, dtype="boolean"),
            "in_window": pd.array(q_in, dtype="boolean"),
            "data_ok": pd.array(np.ones(n, dtype=bool), dtype="boolean"),
        }
    ).iloc[np.flatnonzero(keep)]
    m_only = plant["missing_in_awra"]
    only = pd.DataFrame(
        {
            "entity": _s(np.full(len(m_only), "invoice", dtype=object)),
            "id": _s((5_000_000 + m_only).astype(str)),
            "number": _s(np.char.add("QB-", m_only.astype(str))),
            "txn_date": start + days[m_only].astype("timedelta64[D]"),
            "party_id": _s(np.char.add("q", party[m_only].astype(str))),
            "amount_cents": pd.array(amount[m_only] + 1, dtype="Int64"),
            "status": _s(np.full(len(m_only), "posted", dtype=object)),
            "is_void": pd.array(np.zeros(len(m_only), dtype=bool), dtype="boolean"),
            "in_window": pd.array(np.ones(len(m_only), dtype=bool), dtype="boolean"),
            "data_ok": pd.array(np.ones(len(m_only), dtype=bool), dtype="boolean"),
        }
    )
    d_q = plant["duplicate_in_qbo"]
    dups = qbo_t.iloc[np.searchsorted(np.flatnonzero(keep), d_q)].copy()
    dups["id"] = _s((7_000_000 + d_q).astype(str))
    qbo_t = pd.concat([qbo_t, only, dups], ignore_index=True)
    qbo_t = qbo_t.iloc[rng.permutation(len(qbo_t))].reset_index(drop=True)

    # sync log: one attempt per AWRA record
    s_status = np.full(n, "succeeded", dtype=object)
    s_status[plant["missing_in_qbo"]] = "failed"
    s_status[plant["failed_but_present"]] = "failed"
    s_status[plant["probable"]] = "pending"
    s_qbo = a_link.copy()
    s_qbo[s_status != "succeeded"] = None
    sync_log = pd.DataFrame(
        {
            "id": _s(np.char.add("s", idx.astype(str))),
            "connector": _s(np.full(n, "qbo", dtype=object)),
            "record_type": _s(np.full(n, "invoice", dtype=object)),
            "record_id": _s(a_ids),
            "record_number": _s(numbers),
            "status": _s(s_status),
            "message": _s(np.where(s_status == "failed", "Customer not found", None).astype(object)),
            "retry_count": pd.array(np.ones(n, dtype=np.int64), dtype="Int64"),
            "qbo_id": _s(s_qbo),
            "attempted_at": pd.Timestamp("2026-03-31T12:00:00", tz="UTC") + pd.to_timedelta(days, unit="h"),
        }
    )
    mappings = pd.DataFrame(
        {
            "mapping_type": _s(np.full(5000, "customer", dtype=object)),
            "awra_id": _s(np.char.add("c", np.arange(5000).astype(str))),
            "qbo_id": _s(np.char.add("q", np.arange(5000).astype(str))),
        }
    )
    dq = plant["bad_data"]
    data_quality = pd.DataFrame(
        {
            "table": _s(np.full(len(dq), "invoices", dtype=object)),
            "entity": _s(np.full(len(dq), "invoice", dtype=object)),
            "awra_id": _s(a_ids[dq]),
            "awra_number": _s(numbers[dq]),
            "field": _s(np.full(len(dq), "total_amount", dtype=object)),
            "value": _s(np.full(len(dq), "n/a", dtype=object)),
            "problem": _s(np.full(len(dq), "total_amount is not a number", dtype=object)),
        }
    )
    empty_a = AwraData.empty()
    awra = AwraData(
        transactions=F.conform(awra_t, F.TRANSACTIONS),
        lines=empty_a.lines,
        masters=empty_a.masters,
        mappings=F.conform(mappings, F.MAPPINGS),
        sync_log=F.conform(sync_log, F.SYNC_LOG),
        sync_runs=empty_a.sync_runs,
        data_quality=F.conform(data_quality, F.DATA_QUALITY),
    )
    qbo = QboData(
        transactions=F.conform(qbo_t, F.TRANSACTIONS),
        lines=QboData.empty().lines,
        references=QboData.empty().references,
    )
    params = RunParams(
        run_id="bench",
        company="bench",
        company_name="Bench",
        date_from=date(2026, 3, 1),
        date_to=date(2026, 3, 31),
        entities=("invoice",),
        now=datetime(2026, 4, 1, tzinfo=UTC),
    )
    return awra, qbo, params, {k: len(v) for k, v in plant.items()}


def _rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def _reset_peak() -> bool:
    """Reset the process's peak RSS (Linux ``clear_refs``), so the peak of the step is seen."""
    try:
        with open("/proc/self/clear_refs", "w") as fh:
            fh.write("5")
        return True
    except OSError:
        return False


def _status_mb(key: str) -> float:
    with open("/proc/self/status") as fh:
        for line in fh:
            if line.startswith(key + ":"):
                return int(line.split()[1]) / 1024
    return float("nan")


def run_one(which: str, rows: int, text_ids: bool = False, repeat: int = 1) -> dict[str, object]:
    awra, qbo, params, plants = build(rows, text_ids=text_ids)
    gc.collect()
    base = _status_mb("VmRSS")
    reset = _reset_peak()
    extra: dict[str, object] = {}
    times = []
    for _ in range(repeat):
        t0 = time.perf_counter()
        extra = _step(which, awra, qbo, params)
        times.append(time.perf_counter() - t0)
        gc.collect()
    peak = _status_mb("VmHWM") if reset else _rss_mb()
    return {
        "which": which,
        "rows": rows,
        "text_ids": text_ids,
        "awra_rows": len(awra.transactions),
        "qbo_rows": len(qbo.transactions),
        "seconds": round(min(times), 3),
        "all_seconds": [round(t, 3) for t in times],
        "rss_after_build_mb": round(base, 1),
        "peak_rss_mb": round(peak, 1),
        "increase_mb": round(peak - base, 1),
        "peak_is_step_only": reset,
        "plants_per_kind": plants[PLANTS[0]],
        **extra,
    }


def _step(which: str, awra: AwraData, qbo: QboData, params: RunParams) -> dict[str, object]:
    if which == "core":
        from reconcile.transactions import reconcile_transactions

        result = reconcile_transactions(awra, qbo, params)
        return {
            "findings": len(result.findings),
            "by_category": {str(k): int(v) for k, v in result.findings["category"].value_counts().items()},
            # per entity, per currency (amounts in two currencies are never added)
            "unexplained_cents": [{c.currency: c.unexplained_cents for c in t.currencies} for t in result.totals],
        }
    if which == "merge":
        merged = pd.merge(
            awra.transactions[["number"]], qbo.transactions[["number"]], on="number", how="outer", indicator=True
        )
        return {"merged_rows": len(merged)}
    if which == "datacompy":
        import datacompy

        cols = ["number", "amount_cents", "txn_date", "party_id", "tax_cents"]
        left = awra.transactions[cols].dropna(subset=["number"])
        right = qbo.transactions[cols].dropna(subset=["number"])
        cmp = datacompy.PandasCompare(left, right, join_columns=["number"])
        return {"matches": bool(cmp.matches()), "intersect_rows": len(cmp.intersect_rows)}
    raise SystemExit(f"unknown {which}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=20_000, help="AWRA invoices (default: a smoke run)")
    parser.add_argument("--only", choices=["core", "merge", "datacompy"], help="run one approach in this process")
    parser.add_argument("--skip-datacompy", action="store_true")
    parser.add_argument("--text-ids", action="store_true", help="AWRA ids as non-numeric text (slower hashing)")
    parser.add_argument("--repeat", type=int, default=1, help="runs per approach; the best time is kept")
    args = parser.parse_args()
    if args.only:
        print(json.dumps(run_one(args.only, args.rows, args.text_ids, args.repeat)))
        return
    results = {}
    for which in ("merge", "core", *(() if args.skip_datacompy else ("datacompy",))):
        out = subprocess.run(
            [
                sys.executable,
                __file__,
                "--rows",
                str(args.rows),
                "--only",
                which,
                *(["--text-ids"] if args.text_ids else []),
                "--repeat",
                str(args.repeat),
            ],
            check=True,
            capture_output=True,
            text=True,
        )
        results[which] = json.loads(out.stdout.strip().splitlines()[-1])
        print(json.dumps(results[which]))
    core, merge = results["core"], results["merge"]
    print(f"core/merge time ratio: {core['seconds'] / merge['seconds']:.2f} (target <= 3)")
    if "datacompy" in results:
        print(f"core/datacompy time ratio: {core['seconds'] / results['datacompy']['seconds']:.2f} (target < 1)")
    print(f"core peak RSS during the run: {core['peak_rss_mb']:.0f} MB (target < 3072)")


if __name__ == "__main__":
    main()
