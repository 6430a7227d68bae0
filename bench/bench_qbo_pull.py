"""Benchmark: pull 100,000 invoices from the QBO emulator with 20 ms added to every request.

The emulator runs as its own process (``python -m qbo_emulator``, as in the demo) so that its
work and the client's do not share one interpreter. In the same run the script times:

* a serial pull: the same ``QboClient.query_all`` path held to one request in flight, and
* the client's normal pull: first page, ``COUNT(*)``, then the remaining pages concurrently
  within QBO's limit of 10 requests in flight,

and prints the serial floor (pages × latency), both wall times with the client's CPU time, the
ratios, and the most requests the emulator saw in flight (must be ≤ 10). Target (issue 3): ≥ 5×
faster than serial. With 20 ms latency and 10 in flight the latency alone allows ~8×
(102 requests in ~12 rounds); what remains is CPU: decoding ~1 MB of JSON per page (exact
decimals, in python-quickbooks) costs about as much as the latency itself, so ``--payload
minimal`` is there to show the transport apart from the decode.

    PYTHONPATH=. .venv/bin/python bench/bench_qbo_pull.py [--count 100000] [--latency-ms 20]
"""

from __future__ import annotations

import argparse
import json
import random
import subprocess
import sys
import tempfile
import threading
import time
from datetime import date, timedelta
from pathlib import Path
from typing import Any

import requests

from reconcile.config import QboSettings, Secret
from reconcile.sources.qbo_auth import OAuthClient
from reconcile.sources.qbo_client import PAGE_SIZE, CompanyLimits, QboClient, RateLimiter

ROOT = Path(__file__).resolve().parent.parent
REALM = "9130350000000000"
QUERY = "SELECT * FROM Invoice WHERE TxnDate >= '2026-01-01' AND TxnDate <= '2026-12-31' ORDERBY Id"


def make_invoice(i: int, rng: random.Random) -> dict[str, Any]:
    txn = date(2026, 1, 1) + timedelta(days=rng.randrange(365))
    cents = [rng.randrange(100, 500_000) for _ in range(2)]
    total = sum(cents)
    customer = rng.randrange(1, 500)
    return {
        "Id": str(i),
        "SyncToken": "0",
        "domain": "QBO",
        "sparse": False,
        "MetaData": {"CreateTime": f"{txn}T10:00:00-08:00", "LastUpdatedTime": f"{txn}T10:00:00-08:00"},
        "DocNumber": f"INV-{i:06d}",
        "TxnDate": txn.isoformat(),
        "DueDate": (txn + timedelta(days=30)).isoformat(),
        "CurrencyRef": {"value": "USD", "name": "United States Dollar"},
        "CustomerRef": {"value": str(customer), "name": f"Customer {customer}"},
        "Line": [
            *(
                {
                    "Id": str(n + 1),
                    "LineNum": n + 1,
                    "Amount": c / 100,
                    "DetailType": "SalesItemLineDetail",
                    "SalesItemLineDetail": {
                        "ItemRef": {"value": str(n + 1), "name": f"Item {n + 1}"},
                        "Qty": 1,
                        "UnitPrice": c / 100,
                        "TaxCodeRef": {"value": "NON"},
                    },
                }
                for n, c in enumerate(cents)
            ),
            {"Amount": total / 100, "DetailType": "SubTotalLineDetail", "SubTotalLineDetail": {}},
        ],
        "TxnTaxDetail": {"TotalTax": 0},
        "TotalAmt": total / 100,
        "Balance": total / 100,
    }


def make_minimal_invoice(i: int, rng: random.Random) -> dict[str, Any]:
    """The smallest invoice the reconciliation reads: shows the transport without the decode cost."""
    txn = date(2026, 1, 1) + timedelta(days=rng.randrange(365))
    return {
        "Id": str(i),
        "DocNumber": f"INV-{i:06d}",
        "TxnDate": txn.isoformat(),
        "CustomerRef": {"value": str(rng.randrange(1, 500))},
        "TotalAmt": rng.randrange(100, 500_000) / 100,
    }


def start_emulator(data: Path, latency_ms: float) -> tuple[subprocess.Popen[str], dict[str, Any]]:
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "qbo_emulator",
            "--port",
            "0",
            "--data",
            str(data),
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


def admin(info: dict[str, Any], name: str, method: str = "GET") -> dict[str, Any]:
    base = info["base_url"].removesuffix("/v3")
    answer = requests.request(method, f"{base}/_emulator/{name}", timeout=30)
    result: dict[str, Any] = answer.json()
    return result


def pull(settings: QboSettings, auth: OAuthClient, in_flight: int) -> tuple[float, float, int, int]:
    """(wall seconds, client CPU seconds, rows, requests) of one full pull."""
    limits = CompanyLimits(threading.BoundedSemaphore(in_flight), RateLimiter(settings.requests_per_minute))
    client = QboClient(settings, auth, company="bench", limits=limits)
    started, cpu = time.perf_counter(), time.process_time()
    rows = client.query_all(QUERY)
    elapsed, cpu = time.perf_counter() - started, time.process_time() - cpu
    client.close()
    return elapsed, cpu, len(rows), client.request_count


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--count", type=int, default=100_000)
    parser.add_argument("--latency-ms", type=float, default=20.0)
    parser.add_argument(
        "--payload",
        choices=("full", "minimal"),
        default="full",
        help="full: realistic invoices (~1 KB: lines, refs, tax, MetaData); minimal: 5 fields (~120 B)",
    )
    args = parser.parse_args()
    make = make_invoice if args.payload == "full" else make_minimal_invoice

    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        rng = random.Random(3)
        (folder / "Invoice.json").write_text(json.dumps([make(i, rng) for i in range(1, args.count + 1)]))
        folder_bytes = (folder / "Invoice.json").stat().st_size
        proc, info = start_emulator(folder, args.latency_ms)
        try:
            settings = QboSettings(
                realm_id=REALM,
                base_url=info["base_url"],
                token_url=info["token_url"],
                token_store=folder / "tokens.json",
                client_id=Secret("bench"),
                client_secret=Secret("bench"),
                refresh_token=Secret(info["refresh_token"]),
            )
            auth = OAuthClient(settings)
            auth.access_token()
            pull(settings, auth, 10)  # warm-up: the emulator caches the selection and encodings

            admin(info, "reset", "POST")
            serial_s, serial_cpu, serial_rows, serial_requests = pull(settings, auth, 1)
            serial_stats = admin(info, "stats")

            admin(info, "reset", "POST")
            par_s, par_cpu, par_rows, par_requests = pull(settings, auth, settings.max_in_flight)
            par_stats = admin(info, "stats")
        finally:
            proc.terminate()
            proc.wait(timeout=30)

    pages = args.count // PAGE_SIZE + 1  # serial paging reads until a short (here empty) page
    floor = pages * args.latency_ms / 1000
    size = (folder_bytes / args.count) if args.count else 0
    print(
        f"invoices: {args.count:,} ({args.payload}, ~{size:,.0f} B each)  latency: {args.latency_ms:g} ms/request"
        f"  page size: {PAGE_SIZE}"
    )
    print(f"serial floor (pages x latency): {pages} x {args.latency_ms:g} ms = {floor:.3f} s")
    print(
        f"serial pull (1 in flight):  {serial_s:.3f} s (client CPU {serial_cpu:.2f} s)"
        f"  rows={serial_rows:,}  requests={serial_requests}"
        f"  max in flight={serial_stats['max_in_flight']}"
    )
    print(
        f"client pull (<=10 in flight): {par_s:.3f} s (client CPU {par_cpu:.2f} s)"
        f"  rows={par_rows:,}  requests={par_requests}"
        f"  max in flight={par_stats['max_in_flight']}"
    )
    print(f"speed-up vs serial floor: {floor / par_s:.1f}x   vs measured serial pull: {serial_s / par_s:.1f}x")
    print(f"invoices/s (client pull): {par_rows / par_s:,.0f}")
    assert serial_rows == par_rows == args.count, "every invoice exactly once"
    assert par_stats["max_in_flight"] <= 10, "never more than 10 requests in flight"
    target = "MET" if floor / par_s >= 5 else "NOT MET"
    print(f"target >= 5x faster than serial (floor): {target}")


if __name__ == "__main__":
    main()
