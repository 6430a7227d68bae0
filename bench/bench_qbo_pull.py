"""Benchmark: pull 100,000 invoices from the QBO emulator with 20 ms added to every request.

The emulator runs as its own process (``python -m qbo_emulator``, as in the demo) so that its
work and the client's do not share one interpreter. In the same run the script times:

* a serial pull: ``QboClient.query_rows`` held to one request in flight;
* the client's pull (``query_rows(count_first=True)``, as the live source reads a window): the
  first page with ``COUNT(*)`` beside it, then the remaining pages concurrently within QBO's
  limit of 10 requests in flight; each answer is checked and its records' ids read (paging
  loops, rows repeated across pages), the records kept as QBO sent them;
* the same pull followed by decoding every record into payload dicts with exact decimals
  (``query_all``), which is what the parser gets.

It prints the serial floor (pages × latency), the wall times with the client's CPU time, the
ratios, and the most requests the emulator saw in flight (must be ≤ 10). Target (issue 3): the
pull ≥ 5× faster than the serial floor. The latency alone allows ~9× (1 + 10 rounds of
requests); the rest is client CPU (≈ 2.5 ms a page: transport and reading the ids of ≈ 1 MB of
JSON). ``--payload minimal`` shows the transport with small records.

    PYTHONPATH=. .venv/bin/python bench/bench_qbo_pull.py [--count 100000] [--latency-ms 20] [--repeat 3]
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


def pull(
    settings: QboSettings, auth: OAuthClient, in_flight: int, *, decode: bool = False
) -> tuple[float, float, int, int]:
    """(wall seconds, client CPU seconds, rows, requests) of one full pull.

    ``decode``: through ``query_all`` (records decoded into payload dicts) instead of
    ``query_rows`` (the pages as QBO sent them, ids read: what the transfer yields).
    """
    limits = CompanyLimits(threading.BoundedSemaphore(in_flight), RateLimiter(settings.requests_per_minute))
    client = QboClient(settings, auth, company="bench", limits=limits)
    started, cpu = time.perf_counter(), time.process_time()
    rows = client.query_all(QUERY, count_first=True) if decode else client.query_rows(QUERY, count_first=True)
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
    parser.add_argument("--repeat", type=int, default=3, help="client pulls timed (the best is kept)")
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

            runs, max_in_flight = [], 0
            for _ in range(args.repeat):
                admin(info, "reset", "POST")
                runs.append(pull(settings, auth, settings.max_in_flight))
                max_in_flight = max(max_in_flight, admin(info, "stats")["max_in_flight"])
            par_s, par_cpu, par_rows, par_requests = min(runs)
            decoded_s, decoded_cpu, decoded_rows, _ = min(
                pull(settings, auth, settings.max_in_flight, decode=True) for _ in range(args.repeat)
            )
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
        f"  rows={serial_rows:,}  requests={serial_requests}  max in flight={serial_stats['max_in_flight']}"
    )
    print(
        f"client pull (<=10 in flight), best of {args.repeat}: {par_s:.3f} s (client CPU {par_cpu:.2f} s)"
        f"  rows={par_rows:,}  requests={par_requests}  max in flight={max_in_flight}"
    )
    print(f"speed-up vs serial floor: {floor / par_s:.1f}x   vs measured serial pull: {serial_s / par_s:.1f}x")
    print(f"invoices/s (client pull): {par_rows / par_s:,.0f}")
    print(
        f"client pull + decode into payload dicts (query_all), best of {args.repeat}: {decoded_s:.3f} s"
        f" (client CPU {decoded_cpu:.2f} s)  {floor / decoded_s:.1f}x the floor"
    )
    assert serial_rows == par_rows == decoded_rows == args.count, "every invoice exactly once"
    assert max_in_flight <= 10, "never more than 10 requests in flight"
    target = "MET" if floor / par_s >= 5 else "NOT MET"
    print(f"target >= 5x faster than serial (floor): {target}")


if __name__ == "__main__":
    main()
