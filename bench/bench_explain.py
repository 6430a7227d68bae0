"""Benchmark: ``qbo-recon explain REF`` targeted against today's whole-window read (issue 14).

On a data set built by ``bench/bench_e2e.py`` (``DIR/awra.db`` SQLite, ``DIR/qbo`` snapshot), it
explains one record four ways, each in its own process (peak = that process's ``VmHWM``):

* snapshot, targeted (``explain(..., targeted=True)``, the default) and whole window
  (``targeted=False``: the window around the record read as a run reads it);
* live, both ways, against the project's QBO emulator serving the same snapshot over real HTTP
  with ``--latency-ms`` added to every request (its own process, started once; the requests
  each explanation sent are read from its ``/_emulator/stats``).

It prints wall and CPU seconds of the ``explain`` call, the wall time of the whole process
(interpreter start and imports included), peak memory and (live) requests per way, and checks that the
targeted explanation is the whole-window one, byte for byte as JSON.

    PYTHONPATH=. .venv/bin/python bench/bench_explain.py --data /work/bench-data/1m \\
        [--ref INV-0500000] [--latency-ms 20] [--ways snapshot-targeted,snapshot-window,...]
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import requests

ROOT = Path(__file__).resolve().parents[1]
REALM = "9130350000000000"
WAYS = ("snapshot-targeted", "snapshot-window", "live-targeted", "live-window")
NOW = "2026-04-02T06:30:00+00:00"


def _peak_mb() -> float:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def child(args: argparse.Namespace) -> None:
    """One explanation in this process; prints one JSON line of figures."""
    from jobs.explain import explain, render_json
    from reconcile.config import load_settings

    settings = load_settings(Path(args.config), dict(os.environ))
    company = settings.company(None)
    started, cpu = time.perf_counter(), time.process_time()
    out = explain(
        settings,
        company,
        args.ref,
        qbo_snapshot=Path(args.data) / "qbo" if args.way.startswith("snapshot") else None,
        now=datetime.fromisoformat(NOW).astimezone(UTC),
        targeted=args.way.endswith("targeted"),
    )
    wall, cpu = time.perf_counter() - started, time.process_time() - cpu
    Path(args.out).write_text(render_json(out), encoding="utf-8")
    print(json.dumps({"way": args.way, "wall": wall, "cpu": cpu, "peak_mb": _peak_mb()}))


def _config(folder: Path, data: Path, info: dict[str, Any] | None) -> Path:
    lines = [
        "[awra]",
        f'url = "sqlite:///{data / "awra.db"}"',
        "[history]",
        f'url = "sqlite:///{folder / "history.db"}"',
    ]
    if info is not None:
        lines += [
            "[qbo]",
            f'realm_id = "{REALM}"',
            f'base_url = "{info["base_url"]}"',
            f'token_url = "{info["token_url"]}"',
            f'token_store = "{folder / "tokens.json"}"',
        ]
    path = folder / "config.toml"
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


def _start_emulator(data: Path, latency_ms: float) -> tuple[subprocess.Popen[str], dict[str, Any]]:
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "qbo_emulator",
            "--port",
            "0",
            "--data",
            str(data / "qbo"),
            "--realm",
            REALM,
            "--latency-ms",
            str(latency_ms),
        ],
        cwd=ROOT,
        stdout=subprocess.PIPE,
        text=True,
    )
    assert proc.stdout is not None
    return proc, json.loads(proc.stdout.readline())


def _admin(info: dict[str, Any], name: str, method: str = "GET") -> dict[str, Any]:
    base = info["base_url"].removesuffix("/v3")
    answer: dict[str, Any] = requests.request(method, f"{base}/_emulator/{name}", timeout=60).json()
    return answer


def _rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def _run_child(way: str, args: argparse.Namespace, config: Path, out: Path, env: dict[str, str]) -> dict[str, Any]:
    command = [
        sys.executable,
        __file__,
        "--child",
        "--way",
        way,
        "--data",
        str(args.data),
        "--ref",
        args.ref,
        "--config",
        str(config),
        "--out",
        str(out),
    ]
    started = time.perf_counter()
    done = subprocess.run(command, cwd=ROOT, env=env, capture_output=True, text=True, check=False)
    process = time.perf_counter() - started
    if done.returncode != 0:
        raise SystemExit(f"{way} failed:\n{done.stderr[-3000:]}")
    figures: dict[str, Any] = json.loads(done.stdout.strip().splitlines()[-1])
    figures["process"] = process  # interpreter start and imports included
    return figures


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--data", type=Path, required=True)
    parser.add_argument("--ref", default="INV-0500000")
    parser.add_argument("--latency-ms", type=float, default=20.0)
    parser.add_argument("--ways", default=",".join(WAYS))
    parser.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--way", help=argparse.SUPPRESS)
    parser.add_argument("--config", help=argparse.SUPPRESS)
    parser.add_argument("--out", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        child(args)
        return
    ways = [w for w in args.ways.split(",") if w]
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    print(f"load average before: {os.getloadavg()[0]:.2f}; ref {args.ref}; data {args.data}")
    results: list[dict[str, Any]] = []
    with tempfile.TemporaryDirectory(prefix="bench-explain-") as tmp:
        folder = Path(tmp)
        offline = [w for w in ways if w.startswith("snapshot")]
        live = [w for w in ways if w.startswith("live")]
        config = _config(folder, args.data, None)
        for way in offline:
            results.append(_run_child(way, args, config, folder / f"{way}.json", env))
            print(json.dumps(results[-1]))
        if live:
            started = time.perf_counter()
            proc, info = _start_emulator(args.data, args.latency_ms)
            try:
                print(f"emulator up in {time.perf_counter() - started:.1f} s, {_rss_mb(proc.pid):,.0f} MB resident")
                config = _config(folder, args.data, info)
                for way in live:
                    (folder / "tokens.json").unlink(missing_ok=True)
                    live_env = {
                        **env,
                        "QBO_CLIENT_ID": "bench",
                        "QBO_CLIENT_SECRET": "bench-secret",
                        # refresh tokens rotate: each process starts from a fresh one
                        "QBO_REFRESH_TOKEN": _admin(info, "refresh-token", "POST")["refresh_token"],
                    }
                    _admin(info, "reset", "POST")
                    figures = _run_child(way, args, config, folder / f"{way}.json", live_env)
                    stats = _admin(info, "stats")
                    figures["requests"] = stats["requests"]
                    figures["kinds"] = stats["kinds"]
                    results.append(figures)
                    print(json.dumps(results[-1]))
            finally:
                proc.terminate()
                proc.wait(timeout=60)
        answers = {w: (folder / f"{w}.json").read_text(encoding="utf-8") for w in ways}
    print(f"load average after: {os.getloadavg()[0]:.2f}")
    print()
    print("| way | explain wall | CPU | whole process | peak | requests |")
    print("|---|---|---|---|---|---|")
    for r in results:
        print(
            f"| {r['way']} | {r['wall']:.2f} s | {r['cpu']:.2f} s | {r['process']:.2f} s "
            f"| {r['peak_mb']:,.0f} MB | {r.get('requests', '-')} |"
        )
    for side in ("snapshot", "live"):
        pair = (f"{side}-targeted", f"{side}-window")
        if all(p in answers for p in pair):
            same = answers[pair[0]] == answers[pair[1]]
            print(f"{side}: targeted explanation {'==' if same else '!='} whole-window explanation")
            if not same:
                raise SystemExit(1)


if __name__ == "__main__":
    main()
