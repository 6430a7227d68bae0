"""Time `qbo-recon demo` end to end (issue 2: under 10 s on this machine).

Runs in a scratch folder so the cold case includes building the demo data set. Baseline in the
same run: the interpreter starting and importing the job's libraries (pandas, SQLAlchemy,
openpyxl, Jinja2), which every run pays before doing anything.

    .venv/bin/python bench/bench_demo.py [--repeat 3] [--charts-only] [--against OTHER_TREE]
    .venv/bin/python bench/bench_demo.py --preload-overlap [--repeat 7]

Then what the report's charts cost a run (issue 15: under 0.5 s, import included, and nothing
that grows with the findings): importing the chart module and the part of matplotlib it draws
with, in a process that already holds what a run imports, then working out and drawing the
charts for 1,000 and 100,000 findings, and the run's two further asks for them (the email's body
and its attachments), each in a fresh process. ``--against DIR`` measures another source tree
the same way in the same session (e.g. ``git archive main | tar -x -C DIR``), for a before/after.
"""

from __future__ import annotations

import argparse
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Sequence
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
import reconcile.model, reconcile.triage, reconcile.links, reconcile.profile  # (the reports import these too)
from fixtures.reports.report_samples import big_result
result = big_result(int(sys.argv[1]))
clocks = (time.perf_counter, time.process_time)
start = [c() for c in clocks]
from reports.chart import chart_images  # with the part of matplotlib it draws with
from reports.chart_data import chart_specs
imported = [c() for c in clocks]
chart_specs(result)
specified = [c() for c in clocks]
chart_images(result)
drawn = [c() for c in clocks]
chart_images(result)  # a run with email asks twice more: the email's body, its attachments
chart_images(result)
asked = [c() for c in clocks]
for a, b in ((start, imported), (imported, specified), (specified, drawn), (drawn, asked)):
    print(b[0] - a[0], b[1] - a[1])
"""


def chart_seconds(findings: int, root: Path = ROOT) -> list[tuple[float, float]]:
    """In a fresh process (cold, as in a run): (wall, CPU) seconds of the import, of working out
    what is drawn, of drawing, and of the run's two further asks for the same charts, for a run
    with ``findings`` findings. ``root``: the source tree to measure (another checkout, to
    compare with)."""
    done = subprocess.run(
        [sys.executable, "-c", _CHART_PROBE, str(findings)], cwd=root, check=True, capture_output=True, text=True
    )
    return [(float(w), float(c)) for w, c in (line.split() for line in done.stdout.strip().splitlines()[-4:])]


def chart_costs(repeat: int, others: Sequence[Path] = ()) -> None:
    """Print what the charts add to a run: CPU time (the machine may be shared) and wall time,
    each the median over ``repeat`` fresh processes. With ``others`` (source trees to compare
    with), their processes alternate with this tree's, so that a change of load hits all alike."""
    med = statistics.median
    roots = [*(root.resolve() for root in others), ROOT]
    for n in (1_000, 100_000):
        runs: dict[Path, list[list[tuple[float, float]]]] = {root: [] for root in roots}
        for _ in range(repeat):
            for root in roots:
                runs[root].append(chart_seconds(n, root))
        for root in roots:
            phases = [(med(r[i][0] for r in runs[root]), med(r[i][1] for r in runs[root])) for i in range(4)]
            (_, ic), (_, sc), (_, dc), (_, ac) = phases
            total_cpu = med(sum(c for _, c in r) for r in runs[root])
            total_wall = med(sum(w for w, _ in r) for r in runs[root])
            verdict = "met" if total_cpu < 0.5 else "NOT met"
            where = f" [{root}]" if others else ""
            print(
                f"charts, {n:>7,} findings: import {ic:.3f} s, what is drawn {sc:.3f} s, drawing 3 charts"
                f" {dc:.3f} s, asked again twice {ac:.3f} s = {total_cpu:.3f} s CPU ({total_wall:.3f} s wall)"
                f" -> under 0.5 s {verdict}{where}"
            )


_OVERLAP_PROBE = """
import dataclasses, os, sys, threading, time
from datetime import UTC, date, datetime
from pathlib import Path
import numpy, pandas, sqlalchemy, openpyxl, jinja2, xlsxwriter
from reconcile.config import load_settings
from reconcile.params import build_run_params
from reconcile.sources.awra import read_awra
from reconcile.sources.qbo import open_qbo_source

mode, data = sys.argv[1], Path(sys.argv[2])
settings = load_settings(None, os.environ)
company = settings.company(None)
company = dataclasses.replace(company, awra=dataclasses.replace(company.awra, url=f"sqlite:///{data}/awra.db"))
params = build_run_params(
    settings, company=company.key, date_from=date(2026, 8, 1), date_to=date(2026, 10, 31),
    status=None, entities=(), now=datetime.now(UTC),
)

def import_charts():
    import matplotlib.backends.backend_agg, matplotlib.font_manager

def first_stages():
    source = open_qbo_source(company, snapshot_dir=data / "qbo")
    read_awra(company.awra, params)
    source.pull(params)

clocks = (time.perf_counter, time.process_time)
start = [c() for c in clocks]
if mode == "after":
    import_charts()
    first_stages()
else:
    thread = threading.Thread(target=import_charts, daemon=True)
    thread.start()
    first_stages()
    thread.join()
print(*(c() - s for c, s in zip(clocks, start)))
"""


def preload_overlap(repeat: int) -> None:
    """Would importing matplotlib in a thread at run start hide it behind the run's first reads?

    The import and a run's first stages (QBO snapshot opened, AWRA read, QBO window pulled, on
    the demo data), one after the other or the import in a thread meanwhile; fresh processes,
    the two ways alternating. Prints the median wall and CPU seconds of each way.
    """
    scratch = Path(tempfile.mkdtemp(prefix="bench-overlap-"))
    try:
        subprocess.run([str(EXE), "demo", "--out", "out"], cwd=scratch, check=True, capture_output=True)
        seconds: dict[str, list[tuple[float, float]]] = {"after": [], "thread": []}
        for _ in range(repeat):
            for mode, runs in seconds.items():
                done = subprocess.run(
                    [sys.executable, "-c", _OVERLAP_PROBE, mode, str(scratch / "data" / "demo")],
                    cwd=ROOT,
                    check=True,
                    capture_output=True,
                    text=True,
                )
                wall, cpu = done.stdout.split()
                runs.append((float(wall), float(cpu)))
    finally:
        shutil.rmtree(scratch, ignore_errors=True)
    med = statistics.median
    for mode, runs in seconds.items():
        label = "import, then the first stages" if mode == "after" else "import in a thread meanwhile"
        print(f"{label}: {med(w for w, _ in runs):.3f} s wall, {med(c for _, c in runs):.3f} s CPU")


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--charts-only", action="store_true", help="only what the charts cost")
    parser.add_argument(
        "--against", type=Path, help="also measure the charts of this source tree (e.g. `git archive` of main)"
    )
    parser.add_argument(
        "--preload-overlap", action="store_true", help="only: would a background matplotlib import save wall time?"
    )
    args = parser.parse_args()
    if args.preload_overlap:
        preload_overlap(args.repeat)
        return
    if not args.charts_only:
        demo(args.repeat)
    chart_costs(args.repeat, [args.against] if args.against else [])


def demo(repeat: int) -> None:
    """Time the demo, cold and warm, against the interpreter importing the job's libraries."""
    baseline_cmd = [sys.executable, "-c", "import pandas, sqlalchemy, openpyxl, jinja2"]
    cold, warm, base = [], [], []
    for _ in range(repeat):
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


if __name__ == "__main__":
    main()
