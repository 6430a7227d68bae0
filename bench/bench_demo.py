"""Time `qbo-recon demo` end to end (issue 2: under 10 s on this machine).

Runs in a scratch folder so the cold case includes building the demo data set. Baseline in the
same run: the interpreter starting and importing the job's libraries (pandas, SQLAlchemy,
openpyxl, Jinja2), which every run pays before doing anything.

    .venv/bin/python bench/bench_demo.py [--repeat 3]

Then what the report's charts cost a run (issue 15: under 0.5 s, import included, and nothing
that grows with the findings): importing matplotlib in a process that already holds what a run
imports, and working out and drawing the charts for 1,000 and 100,000 findings.
"""

from __future__ import annotations

import argparse
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
EXE = Path(sys.executable).parent / "qbo-recon"


def timed(cmd: list[str], cwd: Path) -> float:
    started = time.perf_counter()
    subprocess.run(cmd, cwd=cwd, check=True, capture_output=True)
    return time.perf_counter() - started


_CHART_PROBE = """
import sys, time
sys.path.insert(0, "tests")
import numpy, pandas, sqlalchemy, openpyxl, jinja2, xlsxwriter  # what a run has loaded before its charts
import reconcile.model
from fixtures.reports.report_samples import big_result
result = big_result(int(sys.argv[1]))
clocks = (time.perf_counter, time.process_time)
start = [c() for c in clocks]
import matplotlib.figure, matplotlib.backends.backend_agg  # what reports.chart adds
from reports.chart import draw_chart
from reports.chart_data import chart_specs
imported = [c() for c in clocks]
specs = chart_specs(result)
specified = [c() for c in clocks]
for spec in specs:
    draw_chart(spec)
drawn = [c() for c in clocks]
for a, b in ((start, imported), (imported, specified), (specified, drawn)):
    print(b[0] - a[0], b[1] - a[1])
"""


def chart_seconds(findings: int) -> list[tuple[float, float]]:
    """In a fresh process (cold, as in a run): (wall, CPU) seconds of the import, of working out
    what is drawn, and of drawing, for a run with ``findings`` findings."""
    done = subprocess.run(
        [sys.executable, "-c", _CHART_PROBE, str(findings)], cwd=ROOT, check=True, capture_output=True, text=True
    )
    return [(float(w), float(c)) for w, c in (line.split() for line in done.stdout.strip().splitlines()[-3:])]


def chart_costs(repeat: int) -> None:
    """Print what the charts add to a run: CPU time (the machine may be shared) and wall time."""
    med = statistics.median
    for n in (1_000, 100_000):
        runs = [chart_seconds(n) for _ in range(repeat)]
        (iw, ic), (sw, sc), (dw, dc) = ((med(r[i][0] for r in runs), med(r[i][1] for r in runs)) for i in range(3))
        total_cpu, total_wall = ic + sc + dc, iw + sw + dw
        verdict = "met" if total_cpu < 0.5 else "NOT met"
        print(
            f"charts, {n:>7,} findings: import {ic:.3f} s, what is drawn {sc:.3f} s, drawing 3 charts {dc:.3f} s"
            f" = {total_cpu:.3f} s CPU ({total_wall:.3f} s wall) -> under 0.5 s {verdict}"
        )


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    baseline_cmd = [sys.executable, "-c", "import pandas, sqlalchemy, openpyxl, jinja2"]
    cold, warm, base = [], [], []
    for _ in range(args.repeat):
        scratch = Path(tempfile.mkdtemp(prefix="bench-demo-"))
        try:
            base.append(timed(baseline_cmd, scratch))
            cold.append(timed([str(EXE), "demo", "--out", "out"], scratch))
            warm.append(timed([str(EXE), "demo", "--out", "out"], scratch))
            runs = list((scratch / "out").iterdir())
            assert len(runs) == 2, runs
            for run in runs:
                for name in ("reconciliation.xlsx", "report.html", "findings.csv", "summary.json"):
                    assert (run / name).is_file(), run / name
        finally:
            shutil.rmtree(scratch, ignore_errors=True)
    med = statistics.median
    print(f"baseline (python + imports): median {med(base):.2f} s")
    print(f"demo, cold (build data + run): median {med(cold):.2f} s  ({med(cold) / med(base):.1f}x baseline)")
    print(f"demo, warm (data reused):      median {med(warm):.2f} s  ({med(warm) / med(base):.1f}x baseline)")
    print(f"target: under 10 s -> {'met' if max(cold) < 10 else 'NOT met'} (worst cold {max(cold):.2f} s)")
    chart_costs(args.repeat)


if __name__ == "__main__":
    main()
