"""Time `qbo-recon demo` end to end (issue 2: under 10 s on this machine).

Runs in a scratch folder so the cold case includes building the demo data set. Baseline in the
same run: the interpreter starting and importing the job's libraries (pandas, SQLAlchemy,
openpyxl, Jinja2), which every run pays before doing anything.

    .venv/bin/python bench/bench_demo.py [--repeat 3]
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


if __name__ == "__main__":
    main()
