"""Benchmark the reports: workbook and HTML for 10k / 100k / 200k findings vs DataFrame.to_excel.

Usage:  .venv/bin/python bench/bench_reports.py [--sizes 10000,100000,200000] [--skip-baseline]

Each case runs in its own subprocess that loads a RunResult built beforehand (findings from
Parquet, the rest pickled: the input's construction does not count), then writes. It reports
wall and CPU seconds; ``peak MB``, the peak resident memory while writing (the input included:
the peak mark is reset after loading, Linux ``clear_refs``); ``input MB``, the resident memory
after loading; ``proc MB``, the process's lifetime peak (ru_maxrss, loading included). The
baseline is a bare ``DataFrame.to_excel`` (openpyxl engine) of the same rows and columns as the
findings sheets, measured in the same run. Ratios are printed per size.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import pickle
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "tests"))


def _rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def _status_mb(field: str) -> float:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1]) / 1024
    return _rss_mb()


def _reset_peak() -> bool:
    try:
        Path("/proc/self/clear_refs").write_text("5")
    except OSError:
        return False
    return True


def run_case(case: str, pickled: Path, out_dir: Path) -> dict:
    import pandas as pd

    with pickled.open("rb") as fh:
        result = pickle.load(fh)
    # The findings come from Parquet: Arrow-backed columns load without Python objects, so the
    # input costs about its own size (a pickle would build and convert millions of str objects).
    result = dataclasses.replace(result, findings=pd.read_parquet(pickled.with_suffix(".parquet")))

    import gc

    from reports.excel import TRANSACTION_COLUMNS, write_workbook
    from reports.html import render_html

    gc.collect()
    loaded = _status_mb("VmRSS")
    # Reset the peak-RSS mark (Linux: write 5 to clear_refs) so the peak measured below is the
    # writer's, on top of the resident input, not the transient peak of loading the input.
    reset = _reset_peak()
    wall, cpu = time.perf_counter(), time.process_time()
    extra: dict = {}
    if case == "workbook":
        path = out_dir / "reconciliation.xlsx"
        write_workbook(result, path)
        extra["bytes"] = path.stat().st_size
    elif case == "to_excel":
        path = out_dir / "to_excel.xlsx"
        frame = result.findings[[c.source for c in TRANSACTION_COLUMNS]]
        frame.to_excel(path, engine="openpyxl", index=False)
        extra["bytes"] = path.stat().st_size
    elif case == "html":
        html = render_html(result, chart_src="cid:findings-chart")
        extra["bytes"] = len(html.encode("utf-8"))
    else:
        raise SystemExit(f"unknown case {case}")
    return {
        "case": case,
        "wall_s": round(time.perf_counter() - wall, 2),
        "cpu_s": round(time.process_time() - cpu, 2),
        "peak_mb": round(_status_mb("VmHWM") if reset else _rss_mb()),
        "loaded_mb": round(loaded),
        "process_peak_mb": round(_rss_mb()),
        **extra,
    }


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--sizes", default="10000,100000,200000")
    parser.add_argument("--skip-baseline", action="store_true")
    parser.add_argument("--case", help=argparse.SUPPRESS)
    parser.add_argument("--input", help=argparse.SUPPRESS)
    parser.add_argument("--out", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.case:
        print(json.dumps(run_case(args.case, Path(args.input), Path(args.out))))
        return

    from fixtures.reports.report_samples import big_result

    cases = ["workbook", "html"] + ([] if args.skip_baseline else ["to_excel"])
    print(
        f"{'rows':>8} {'case':>9} {'wall s':>8} {'cpu s':>8} {'peak MB':>8} {'input MB':>8} "
        f"{'proc MB':>8} {'bytes':>12}"
    )
    with tempfile.TemporaryDirectory(prefix="bench-reports-") as tmp:
        tmpdir = Path(tmp)
        for n in (int(s) for s in args.sizes.split(",")):
            pickled = tmpdir / f"result-{n}.pkl"
            result = big_result(n)
            result.findings.to_parquet(pickled.with_suffix(".parquet"))
            with pickled.open("wb") as fh:
                pickle.dump(dataclasses.replace(result, findings=result.findings.iloc[:0]), fh)
            del result
            figures = {}
            for case in cases:
                out = tmpdir / f"{case}-{n}"
                out.mkdir()
                done = subprocess.run(
                    [sys.executable, __file__, "--case", case, "--input", str(pickled), "--out", str(out)],
                    capture_output=True,
                    text=True,
                    check=True,
                )
                row = json.loads(done.stdout.strip().splitlines()[-1])
                figures[case] = row
                print(
                    f"{n:>8} {case:>9} {row['wall_s']:>8} {row['cpu_s']:>8} {row['peak_mb']:>8} "
                    f"{row['loaded_mb']:>8} {row['process_peak_mb']:>8} {row.get('bytes', ''):>12}",
                    flush=True,
                )
            if "to_excel" in figures:
                wb, base = figures["workbook"], figures["to_excel"]
                print(
                    f"{n:>8} ratio    to_excel/workbook: wall {base['wall_s'] / wb['wall_s']:.1f}x, "
                    f"cpu {base['cpu_s'] / wb['cpu_s']:.1f}x, peak memory {base['peak_mb'] / wb['peak_mb']:.1f}x",
                    flush=True,
                )
            print(f"{n:>8} html body {figures['html']['bytes']:,} bytes (limit 100,000)", flush=True)


if __name__ == "__main__":
    main()
