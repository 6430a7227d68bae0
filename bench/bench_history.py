"""Run-history compare cost: fingerprinting alone vs a full compare (record + diff) on SQLite.

Usage: .venv/bin/python bench/bench_history.py [N_FINDINGS]
Three consecutive runs over N findings each, 10% of the set changing between runs.
"""

from __future__ import annotations

import sys
import tempfile
import time
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import pandas as pd

from reconcile import frames as F
from reconcile.history import RunHistory, fingerprint_findings
from reconcile.params import RunParams


def findings(n: int, offset: int) -> pd.DataFrame:
    ids = [str(i + offset) for i in range(n)]
    return F.conform(
        pd.DataFrame(
            {
                "entity": ["invoice"] * n,
                "category": ["mismatch"] * n,
                "awra_id": ids,
                "awra_number": [f"INV-{i}" for i in ids],
                "qbo_id": [f"Q{i}" for i in ids],
                "field": ["amount"] * n,
                "amount_cents": [1000] * n,
            }
        ),
        F.FINDINGS,
    )


def main() -> None:
    n = int(sys.argv[1]) if len(sys.argv) > 1 else 20000
    frames = [findings(n, k * n // 10) for k in range(3)]
    t = time.perf_counter()
    for f in frames:
        fingerprint_findings(f, "acme")
    fp_s = time.perf_counter() - t
    with tempfile.TemporaryDirectory() as tmp:
        history = RunHistory(f"sqlite:///{Path(tmp) / 'h.db'}")
        t0 = datetime(2026, 8, 1, tzinfo=UTC)
        t = time.perf_counter()
        for k, f in enumerate(frames):
            now = t0 + timedelta(days=k)
            p = RunParams(
                run_id=f"r{k}",
                company="acme",
                company_name="Acme",
                date_from=date(2026, 7, 1),
                date_to=date(2026, 7, 31),
                now=now,
            )
            with history.lock("acme", now=now):
                history.start_run(p)
                _, summary = history.compare(p, f)
                history.finish_run(p.run_id, outcome="completed", now=now)
        compare_s = time.perf_counter() - t
        history.dispose()
    print(f"findings per run: {n}, runs: 3")
    print(f"fingerprinting only (baseline): {fp_s:.3f} s  ({fp_s / 3 * 1000:.0f} ms/run)")
    print(f"full lock+start+compare+finish: {compare_s:.3f} s  ({compare_s / 3 * 1000:.0f} ms/run)")
    print(f"ratio full/baseline: {compare_s / fp_s:.1f}x")
    print(f"last run: new={summary['new']} persisting={summary['persisting']} resolved={summary['resolved']}")


if __name__ == "__main__":
    main()
