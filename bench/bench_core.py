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

``--lines``: the lines case instead (issue 12): ``--rows`` invoices of 3 lines each and as many
payments (one application each, plus each payment's line 0), 0.1% of the records with a planted
line difference of each kind; ``core`` is the whole comparison, lines included, and ``merge`` a
bare ``pandas.merge(how="outer", indicator=True)`` of the AWRA lines (keyed by their record's
QBO Id and ``line_no``) with QBO's; no datacompy.
Prints time (s, best of ``--repeat``), the process's peak RSS during the measured step (MB; the
peak is reset after the data is built, Linux ``/proc/self/clear_refs``) and its increase over the
RSS after building the data, and the ratios core/merge and core/datacompy.
"""

from __future__ import annotations

import argparse
import contextlib
import ctypes
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


LINE_PLANTS = ("line_item", "line_amount", "line_tax_code", "application")


def build_lines(rows: int, seed: int = 7) -> tuple[AwraData, QboData, RunParams, dict[str, int], pd.DataFrame]:
    """``rows`` invoices with 3 lines each and ``rows`` payments, one application each, both sides.

    0.1% of the records carry one planted line difference of each kind in ``LINE_PLANTS``; QBO's
    rows are shuffled. Also returns the AWRA lines keyed by their record's QBO Id
    (``qkey``, ``line_no``): what the bare merge joins on.
    """
    rng = np.random.default_rng(seed)
    n = rows
    idx = np.arange(n)
    start = np.datetime64("2026-03-01")
    days = start + rng.integers(0, 31, n).astype("timedelta64[D]")
    items = rng.integers(0, 1000, (n, 3))
    taxes = rng.integers(0, 5, (n, 3))
    amounts = rng.integers(100, 1_000_000, (n, 3)).astype(np.int64)
    total = amounts.sum(axis=1)
    party = rng.integers(0, 5000, n)
    plant = {name: rng.permutation(n)[: max(1, n // 1000)] for name in LINE_PLANTS}

    a_inv, q_inv = (1 + idx).astype(str), (1_000_000 + idx).astype(str)
    a_pay, q_pay = (5_000_001 + idx).astype(str), (7_000_000 + idx).astype(str)
    paid = rng.permutation(n)  # payment k pays invoice paid[k], all of it

    def header(
        entity: str,
        ids: np.ndarray,
        numbers: np.ndarray,
        parties: np.ndarray,
        money: np.ndarray,
        links: np.ndarray | None,
    ) -> pd.DataFrame:
        m = len(ids)
        return pd.DataFrame(
            {
                "entity": _s(np.full(m, entity, dtype=object)),
                "id": _s(ids),
                "number": _s(numbers),
                "txn_date": days[:m],
                "party_id": _s(parties),
                "currency": _s(np.full(m, "KES", dtype=object)),
                "amount_cents": pd.array(money, dtype="Int64"),
                # invoices: a tax total of 0; payments: none (as QBO gives them)
                "tax_cents": pd.arrays.IntegerArray(np.zeros(m, dtype=np.int64), np.full(m, entity != "invoice")),
                "line_total_cents": pd.array(money, dtype="Int64"),
                "status": _s(np.full(m, "posted", dtype=object)),
                "is_void": pd.array(np.zeros(m, dtype=bool), dtype="boolean"),
                "qbo_link": _s(links) if links is not None else _s(np.full(m, None, dtype=object)),
                "in_window": pd.array(np.ones(m, dtype=bool), dtype="boolean"),
                "data_ok": pd.array(np.ones(m, dtype=bool), dtype="boolean"),
            }
        )

    inv_numbers = np.char.add("INV-", idx.astype(str))
    pay_numbers = np.char.add("PAY-", idx.astype(str))
    a_party = np.char.add("c", party.astype(str))
    q_party = np.char.add("q", party.astype(str))
    awra_t = pd.concat(
        [
            header("invoice", a_inv, inv_numbers, a_party, total, q_inv),
            header("payment", a_pay, pay_numbers, a_party[paid], total[paid], q_pay),
        ],
        ignore_index=True,
    )
    qbo_t = pd.concat(
        [
            header("invoice", q_inv, inv_numbers, q_party, total, None),
            header("payment", q_pay, pay_numbers, q_party[paid], total[paid], None),
        ],
        ignore_index=True,
    )
    qbo_t = qbo_t.iloc[rng.permutation(len(qbo_t))].reset_index(drop=True)

    line_no = np.tile(np.arange(1, 4), n)
    q_items, q_taxes, q_amounts = items.copy(), taxes.copy(), amounts.copy()
    q_items[plant["line_item"], 1] = (q_items[plant["line_item"], 1] + 1) % 1000
    q_taxes[plant["line_tax_code"], 2] = (q_taxes[plant["line_tax_code"], 2] + 1) % 5
    q_amounts[plant["line_amount"], 0] += 100
    applied = q_inv[paid].astype(object)
    applied[plant["application"]] = q_inv[(paid[plant["application"]] + 1) % n]

    def invoice_lines(
        ids: np.ndarray,
        item_prefix: str,
        tax_prefix: str,
        it: np.ndarray,
        tx: np.ndarray,
        am: np.ndarray,
        line_ids: bool,
    ) -> pd.DataFrame:
        frame = pd.DataFrame(
            {
                "entity": _s(np.full(3 * n, "invoice", dtype=object)),
                "txn_id": _s(np.repeat(ids, 3)),
                "line_no": pd.array(line_no, dtype="Int64"),
                "item_id": _s(np.char.add(item_prefix, it.ravel().astype(str))),
                "tax_code_id": _s(np.char.add(tax_prefix, tx.ravel().astype(str))),
                "amount_cents": pd.array(am.ravel(), dtype="Int64"),
            }
        )
        if line_ids:
            frame["line_id"] = _s(line_no.astype(str))
        return frame

    def payment_lines(ids: np.ndarray, method: str, account: str, refs: np.ndarray, links: np.ndarray | None):
        head = pd.DataFrame(
            {
                "entity": _s(np.full(n, "payment", dtype=object)),
                "txn_id": _s(ids),
                "line_no": pd.array(np.zeros(n, dtype=np.int64), dtype="Int64"),
                "payment_method_id": _s(np.full(n, method, dtype=object)),
                "account_id": _s(np.full(n, account, dtype=object)),
            }
        )
        apps = pd.DataFrame(
            {
                "entity": _s(np.full(n, "payment", dtype=object)),
                "txn_id": _s(ids),
                "line_no": pd.array(np.ones(n, dtype=np.int64), dtype="Int64"),
                "ref_id": _s(refs),
                "amount_cents": pd.array(total[paid], dtype="Int64"),
                **({"ref_link": _s(links)} if links is not None else {}),
            }
        )
        return pd.concat([head, apps], ignore_index=True)

    awra_lines = F.concat_frames(
        [
            invoice_lines(a_inv, "i", "t", items, taxes, amounts, False),
            payment_lines(a_pay, "pm1", "ac1", a_inv[paid], q_inv[paid]),
        ],
        F.LINES,
    )
    qbo_lines = F.concat_frames(
        [
            invoice_lines(q_inv, "", "", q_items, q_taxes, q_amounts, True),
            payment_lines(q_pay, "3", "81", applied, None),
        ],
        F.LINES,
    )
    qbo_lines = qbo_lines.iloc[rng.permutation(len(qbo_lines))].reset_index(drop=True)
    maps = [
        ("customer", np.char.add("c", np.arange(5000).astype(str)), np.char.add("q", np.arange(5000).astype(str))),
        ("item", np.char.add("i", np.arange(1000).astype(str)), np.arange(1000).astype(str)),
        ("tax_code", np.char.add("t", np.arange(5).astype(str)), np.arange(5).astype(str)),
        ("payment_method", np.array(["pm1"]), np.array(["3"])),
        ("account", np.array(["ac1"]), np.array(["81"])),
    ]
    mappings = pd.concat(
        [
            pd.DataFrame({"mapping_type": _s(np.full(len(a), t, dtype=object)), "awra_id": _s(a), "qbo_id": _s(q)})
            for t, a, q in maps
        ],
        ignore_index=True,
    )
    keys = pd.DataFrame(
        {
            "qkey": _s(np.concatenate([np.repeat(q_inv, 3), q_pay, q_pay])),
            "line_no": np.concatenate([line_no, np.zeros(n, dtype=np.int64), np.ones(n, dtype=np.int64)]),
        }
    )
    empty_a = AwraData.empty()
    awra = AwraData(
        transactions=F.conform(awra_t, F.TRANSACTIONS),
        lines=awra_lines,
        masters=empty_a.masters,
        mappings=F.conform(mappings, F.MAPPINGS),
        sync_log=empty_a.sync_log,
        sync_runs=empty_a.sync_runs,
        data_quality=empty_a.data_quality,
    )
    qbo = QboData(
        transactions=F.conform(qbo_t, F.TRANSACTIONS),
        lines=qbo_lines,
        references=QboData.empty().references,
    )
    params = RunParams(
        run_id="bench-lines",
        company="bench",
        company_name="Bench",
        date_from=date(2026, 3, 1),
        date_to=date(2026, 3, 31),
        entities=("invoice", "payment"),
        now=datetime(2026, 4, 1, tzinfo=UTC),
    )
    return awra, qbo, params, {k: len(v) for k, v in plant.items()}, keys


def _release_freed_memory() -> None:
    """Hand the build's freed heap back to the OS (glibc), so the RSS counts the data, not garbage."""
    with contextlib.suppress(OSError, AttributeError):  # not glibc: nothing to trim
        ctypes.CDLL("libc.so.6").malloc_trim(0)


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


def run_one(which: str, rows: int, text_ids: bool = False, repeat: int = 1, lines: bool = False) -> dict[str, object]:
    keys = None
    if lines:
        awra, qbo, params, plants, keys = build_lines(rows)
    else:
        awra, qbo, params, plants = build(rows, text_ids=text_ids)
    gc.collect()
    _release_freed_memory()
    base = _status_mb("VmRSS")
    reset = _reset_peak()
    extra: dict[str, object] = {}
    times = []
    for _ in range(repeat):
        t0 = time.perf_counter()
        extra = _step(which, awra, qbo, params, keys)
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
        "lines": lines,
        "awra_lines": len(awra.lines),
        "qbo_lines": len(qbo.lines),
        "plants_per_kind": next(iter(plants.values())),
        **extra,
    }


def _step(
    which: str, awra: AwraData, qbo: QboData, params: RunParams, keys: pd.DataFrame | None = None
) -> dict[str, object]:
    if which == "merge" and keys is not None:
        # the bare baseline for lines: AWRA lines keyed by their record's QBO Id against QBO's lines
        merged = pd.merge(
            keys,
            qbo.lines[["txn_id", "line_no"]].rename(columns={"txn_id": "qkey"}).astype({"line_no": "int64"}),
            on=["qkey", "line_no"],
            how="outer",
            indicator=True,
        )
        return {"merged_rows": len(merged)}
    if which == "core":
        from reconcile.transactions import reconcile_transactions

        result = reconcile_transactions(awra, qbo, params)
        return {
            "findings": len(result.findings),
            "by_category": {str(k): int(v) for k, v in result.findings["category"].value_counts().items()},
            # per entity, per currency (amounts in two currencies are never added)
            "unexplained_cents": [{c.currency: c.unexplained_cents for c in t.currencies} for t in result.totals],
            "by_field": {
                str(k): int(v)
                for k, v in result.findings["field"].value_counts().items()
                if str(k) in F.LINE_MISMATCH_FIELDS
            },
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
    parser.add_argument(
        "--lines",
        action="store_true",
        help="the lines case: ROWS invoices of 3 lines and ROWS payments, vs a bare merge of the lines",
    )
    args = parser.parse_args()
    if args.only:
        print(json.dumps(run_one(args.only, args.rows, args.text_ids, args.repeat, args.lines)))
        return
    results = {}
    skip_datacompy = args.skip_datacompy or args.lines
    for which in ("merge", "core", *(() if skip_datacompy else ("datacompy",))):
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
                *(["--lines"] if args.lines else []),
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
    target = 4096 if args.lines else 3072
    print(f"core peak RSS during the run: {core['peak_rss_mb']:.0f} MB (target < {target})")


if __name__ == "__main__":
    main()
