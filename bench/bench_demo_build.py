"""Time building the demo data set (``reconcile.demo.build_demo``) at scale 1 and scale 10.

Each build runs in a fresh interpreter so imports are paid the same way every time. Baseline in
the same run: an interpreter that only imports the generator's libraries (SQLAlchemy and the
package), which every build pays first. Prints wall and CPU seconds (the machine is shared: CPU
seconds are the steadier figure) and the ratio to the baseline.

    .venv/bin/python bench/bench_demo_build.py [--repeat 3] [--big-scale 10]
"""

from __future__ import annotations

import argparse
import json
import shutil
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

CHILD = """
import json, resource, sys, time
t0 = time.perf_counter()
from pathlib import Path
from reconcile.demo import build_demo
t1 = time.perf_counter()
c1 = time.process_time()
if sys.argv[1] != "-":
    build_demo(Path(sys.argv[1]), scale=float(sys.argv[2]))
t2 = time.perf_counter()
print(json.dumps({"import": t1 - t0, "build_wall": t2 - t1, "build_cpu": time.process_time() - c1,
                  "rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024}))
"""


def child(folder: str, scale: float) -> dict[str, float]:
    out = subprocess.run([sys.executable, "-c", CHILD, folder, str(scale)], capture_output=True, text=True, check=True)
    return json.loads(out.stdout)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--big-scale", type=float, default=10.0)
    args = parser.parse_args()
    scratch = Path(tempfile.mkdtemp(prefix="bench-demo-build-"))
    try:
        base = [child("-", 1.0) for _ in range(args.repeat)]
        one = [child(str(scratch / f"s1-{i}"), 1.0) for i in range(args.repeat)]
        big = child(str(scratch / "big"), args.big_scale)
        manifest = json.loads((scratch / "big" / "manifest.json").read_text(encoding="utf-8"))
        big_counts = {e: v["awra"] for e, v in manifest["counts"]["in_window"].items()}
    finally:
        shutil.rmtree(scratch, ignore_errors=True)
    med = statistics.median
    base_total = med(b["import"] for b in base)
    wall1 = med(r["build_wall"] for r in one)
    cpu1 = med(r["build_cpu"] for r in one)
    print(f"baseline (python + import reconcile.demo): median {base_total:.2f} s")
    print(
        f"build scale 1:  median wall {wall1:.2f} s, cpu {cpu1:.2f} s "
        f"({wall1 / base_total:.1f}x baseline); worst wall {max(r['build_wall'] for r in one):.2f} s"
    )
    print(
        f"build scale {args.big_scale:g}: wall {big['build_wall']:.2f} s, cpu {big['build_cpu']:.2f} s, "
        f"peak RSS {big['rss_mb']:.0f} MB; in-window records {big_counts}"
    )
    verdict = {True: "met", False: "NOT met"}
    print(f"target: scale 1 well under 3 s -> wall {verdict[wall1 < 3]}, cpu {verdict[cpu1 < 3]} (medians)")


if __name__ == "__main__":
    main()
