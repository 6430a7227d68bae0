"""Benchmark: 20 companies one by one (``qbo-recon run``) vs ``dispatch`` on two Celery workers.

Each company is its own small demo data set (``build_demo``, another seed each): an AWRA SQLite
file, and its QBO served live by its own emulator process (``python -m qbo_emulator``, one realm
each, as production has one realm per company). In the same run the script times, without and
then with QBO latency (the emulator's added delay per request, switched at runtime):

* one by one: ``qbo-recon run --company K`` for every company, each its own process, as a cron
  loop would;
* fan-out: ``qbo-recon dispatch --wait`` onto two ``qbo-recon worker`` processes (each
  ``--concurrency`` pool processes, started and ready before the clock starts), with the run
  history in PostgreSQL.

It prints the wall times, the slowest single company's run (from the one-by-one pass), and the
ratios: one by one / fan-out, and fan-out / slowest single company (the goal: within 1.3x when
the runs are latency-bound). Every fan-out run must complete.

    PYTHONPATH=. .venv/bin/python bench/bench_workers.py [--companies 20] [--latency-ms 3000] \
        [--concurrency 10] [--scale 0.05]
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import requests
import sqlalchemy as sa
from kombu import Connection

from reconcile.demo import DemoSet, build_demo

ROOT = Path(__file__).resolve().parent.parent
PYTHON = sys.executable
POSTGRES = os.environ.get("QBO_RECON_TEST_POSTGRES", "postgresql+psycopg://postgres@127.0.0.1:5432/test")
BROKER = os.environ.get("QBO_RECON_TEST_BROKER", "amqp://guest:guest@127.0.0.1:5672//")


def build_company(folder: Path, seeds: Iterator[int], scale: float) -> DemoSet:
    """A demo set from the next seed that can plant every problem at this small scale."""
    for seed in seeds:
        try:
            return build_demo(folder, seed=seed, scale=scale)
        except RuntimeError:  # "no <entity> fits a planted problem": too few records for this seed
            continue
    raise SystemExit("no seed builds a demo set at this scale")


def start_emulator(snapshot: Path, realm: str) -> tuple[subprocess.Popen[str], dict[str, Any]]:
    proc = subprocess.Popen(
        [PYTHON, "-m", "qbo_emulator", "--port", "0", "--data", str(snapshot), "--realm", realm],
        cwd=ROOT,
        stdout=subprocess.PIPE,
        text=True,
    )
    assert proc.stdout is not None
    return proc, json.loads(proc.stdout.readline())


def set_latency(info: dict[str, Any], seconds: float) -> None:
    base = info["base_url"].removesuffix("/v3")
    requests.post(f"{base}/_emulator/faults", json={"latency": seconds}, timeout=10).raise_for_status()


def admin_call(info: dict[str, Any], name: str, method: str = "POST") -> dict[str, Any]:
    base = info["base_url"].removesuffix("/v3")
    answer = requests.request(method, f"{base}/_emulator/{name}", timeout=10)
    answer.raise_for_status()
    result: dict[str, Any] = answer.json()
    return result


def write_config(path: Path, history: str, out_dir: Path, queue: str, companies: dict[str, Any]) -> None:
    parts = [f'[history]\nurl = "{history}"', f'[run]\nout_dir = "{out_dir}"', f'[workers]\nqueue = "{queue}"']
    for key, (demo, info) in companies.items():
        parts.append(
            f"[companies.{key}]\n"
            f'awra = {{ url = "{demo.awra_url}" }}\n'
            f'qbo = {{ realm_id = "{info["realm_id"]}", base_url = "{info["base_url"]}", '
            f'token_url = "{info["token_url"]}", token_store = "{path.parent}/tokens-{key}.json" }}'
        )
    path.write_text("\n\n".join(parts) + "\n", encoding="utf-8")


def one_by_one(config: Path, keys: list[str], window: list[str], env: dict[str, str]) -> tuple[float, float]:
    """(wall seconds of every company in turn, the slowest company's seconds)."""
    slowest, started = 0.0, time.perf_counter()
    for key in keys:
        t0 = time.perf_counter()
        subprocess.run(
            [PYTHON, "-m", "jobs.cli", "run", *window, "--config", str(config), "--company", key, "--no-email"],
            cwd=ROOT,
            env=env,
            check=True,
            stdout=subprocess.DEVNULL,
        )
        slowest = max(slowest, time.perf_counter() - t0)
    return time.perf_counter() - started, slowest


def fan_out(config: Path, window: list[str], env: dict[str, str]) -> float:
    started = time.perf_counter()
    done = subprocess.run(
        [PYTHON, "-m", "jobs.cli", "dispatch", *window, "--config", str(config), "--no-email", "--wait", "900"],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        check=False,
    )
    elapsed = time.perf_counter() - started
    if done.returncode != 0:
        raise SystemExit(f"dispatch exited {done.returncode}:\n{done.stdout}\n{done.stderr}")
    return elapsed


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--companies", type=int, default=20)
    parser.add_argument("--latency-ms", type=float, default=3000.0, help="added to every QBO request")
    parser.add_argument("--concurrency", type=int, default=10, help="pool processes per worker (two workers)")
    parser.add_argument("--scale", type=float, default=0.05, help="demo data scale of each company")
    parser.add_argument("--keep", type=Path, metavar="DIR", help="work in DIR and keep it (worker logs, reports)")
    args = parser.parse_args()

    with tempfile.TemporaryDirectory() as tmp:
        folder = args.keep or Path(tmp)
        folder.mkdir(parents=True, exist_ok=True)
        schema = f"bench_{uuid.uuid4().hex[:10]}"
        queue = f"qbo-recon-bench-{uuid.uuid4().hex[:8]}"
        admin = sa.create_engine(POSTGRES)
        with admin.begin() as conn:
            conn.execute(sa.text(f'CREATE SCHEMA "{schema}"'))
        emulators: list[subprocess.Popen[str]] = []
        workers: list[subprocess.Popen[bytes]] = []
        try:
            companies: dict[str, tuple[DemoSet, dict[str, Any]]] = {}
            env = {**os.environ, "PYTHONPATH": str(ROOT), "QBO_CLIENT_ID": "bench", "QBO_CLIENT_SECRET": "bench"}
            seeds = iter(range(200, 10_000))
            for n in range(args.companies):
                key = f"co{n:02d}"
                demo = build_company(folder / key, seeds, args.scale)
                proc, info = start_emulator(demo.snapshot_dir, f"91303500000{n:05d}")
                emulators.append(proc)
                companies[key] = (demo, info)
                env[f"QBO_REFRESH_TOKEN_{key.upper()}"] = info["refresh_token"]
            first = next(iter(companies.values()))[0]
            window = ["--from", first.date_from.isoformat(), "--to", first.date_to.isoformat()]
            serial_cfg, fan_cfg = folder / "serial.toml", folder / "fan.toml"
            write_config(serial_cfg, f"sqlite:///{folder}/serial.db", folder / "serial-out", queue, companies)
            history = f"{POSTGRES}?options=-csearch_path%3D{schema}"
            write_config(fan_cfg, history, folder / "fan-out", queue, companies)

            concurrency = str(args.concurrency)
            for log_name in ("a", "b"):
                log = (folder / f"worker-{log_name}.log").open("wb")
                workers.append(
                    subprocess.Popen(
                        [PYTHON, "-m", "jobs.cli", "worker", "--config", str(fan_cfg), "--concurrency", concurrency],
                        cwd=ROOT,
                        env=env,
                        stdout=log,
                        stderr=subprocess.STDOUT,
                        start_new_session=True,
                    )
                )
            deadline = time.monotonic() + 120
            while not all("ready" in (folder / f"worker-{n}.log").read_text(errors="replace") for n in ("a", "b")):
                if time.monotonic() > deadline:
                    raise SystemExit("the workers did not get ready")
                time.sleep(0.2)

            # long-running workers: their pool processes have imported the run's modules before the night
            fan_out(fan_cfg, window, env)
            keys = list(companies)
            results = []
            for latency in (0.0, args.latency_ms / 1000):
                for _, info in companies.values():
                    set_latency(info, latency)
                    admin_call(info, "reset")
                serial_s, slowest = one_by_one(serial_cfg, keys, window, env)
                stats = admin_call(next(iter(companies.values()))[1], "stats", "GET")
                fan_s = fan_out(fan_cfg, window, env)
                results.append((latency, serial_s, slowest, fan_s))
            requests_per_run, max_in_flight = stats["requests"], stats["max_in_flight"]
        finally:
            for worker in workers:
                if worker.poll() is None:
                    os.killpg(worker.pid, signal.SIGTERM)
                    worker.wait(timeout=60)
            for proc in emulators:
                proc.terminate()
                proc.wait(timeout=30)
            with admin.begin() as conn:
                conn.execute(sa.text(f'DROP SCHEMA "{schema}" CASCADE'))
            admin.dispose()
            with Connection(BROKER, connect_timeout=5) as conn:
                channel = conn.channel()
                channel.queue_delete(queue)
                channel.close()

    print(
        f"{args.companies} companies (demo scale {args.scale}), 2 workers x {args.concurrency} processes, "
        f"{os.cpu_count()} CPUs"
    )
    print(f"QBO requests per company run: {requests_per_run} (at most {max_in_flight} in flight)")
    print("latency  one-by-one  slowest single  fan-out  one-by-one/fan-out  fan-out/slowest single")
    for latency, serial_s, slowest, fan_s in results:
        print(
            f"{latency * 1000:5.0f} ms  {serial_s:8.1f} s  {slowest:12.1f} s  {fan_s:6.1f} s  "
            f"{serial_s / fan_s:17.1f}x  {fan_s / slowest:21.2f}x"
        )


if __name__ == "__main__":
    main()
