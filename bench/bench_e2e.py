"""Benchmark (issue 14): a whole run from a snapshot beside a bare pandas read + merge of the same data.

Builds (in a scratch folder, or ``--data DIR`` to keep and reuse it) one company's month of
invoices: an AWRA SQLite database and a QBO snapshot folder. The masters (customers, items, tax
codes, accounts and their mappings, QBO's reference records and Preferences) are the embedded
demo's; the transactions are N invoices dated in March 2026, two lines each, every one synced
(AWRA ``qbo_id`` and a succeeded sync-log row), with planted differences:

* 1% missing in QBO (AWRA says synced: also a sync conflict),
* 1% with a changed amount in QBO (the first line and the total raised),
* 0.5% extra QBO invoices keyed by hand (numbers AWRA does not know).

Then, each in its own subprocess (peak RSS of the process, wall and CPU time):

* the job: ``qbo-recon run --entity invoice --profile`` from the snapshot, all four files written;
* the baseline: ``pandas.read_sql`` of the invoices, their lines and the sync log, ``json.load`` +
  ``pandas.json_normalize`` of the snapshot's invoices and their lines, and outer merges of
  headers (on the QBO Id) and lines (on QBO Id and line number).

It prints both, the ratio, the job's stage-by-stage profile and the tie-out (``unexplained``
per currency and per account, which must all be 0.00).

    PYTHONPATH=. .venv/bin/python bench/bench_e2e.py --invoices 200000 [--data DIR]
        [--awra-url postgresql+psycopg://postgres@127.0.0.1:5432/test]   # AWRA on PostgreSQL
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import sqlite3
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
DATE_FROM, DATE_TO = "2026-03-01", "2026-03-31"
TRANSACTION_TABLES = (
    "invoices",
    "invoice_lines",
    "payments",
    "payment_applications",
    "bills",
    "bill_lines",
    "journals",
    "journal_lines",
    "sync_log",
    "sync_runs",
)
FIRST_QBO_ID = 1_000_000
VAT_AWRA, VAT_QBO = "5001", "2"  # the demo's VAT 16% tax code and its QBO TaxCode


@dataclass(frozen=True)
class Plan:
    """Which invoice indexes carry a planted difference."""

    invoices: int

    @staticmethod
    def missing(i: int) -> bool:
        return i % 100 == 0

    @staticmethod
    def changed(i: int) -> bool:
        return i % 100 == 1

    @property
    def hand_keyed(self) -> int:
        return self.invoices // 200


def _money(cents: int) -> str:
    sign = "-" if cents < 0 else ""
    whole, frac = divmod(abs(cents), 100)
    return f"{sign}{whole}.{frac:02d}"


def _sound_mappings(demo: Path, mapping_type: str, entity: str) -> list[tuple[str, str, str]]:
    """(AWRA id, QBO Id, QBO name) of the demo's mappings that name an active QBO record."""
    qbo = {p["Id"]: p for p in json.loads((demo / "qbo" / f"{entity}.json").read_text(encoding="utf-8"))}
    with sqlite3.connect(demo / "awra.db") as conn:
        rows = conn.execute(
            "SELECT awra_id, qbo_id FROM qbo_mappings WHERE mapping_type = ? ORDER BY awra_id", (mapping_type,)
        ).fetchall()
    out = []
    for awra_id, qbo_id in rows:
        record = qbo.get(str(qbo_id))
        if record and record.get("Active", True):
            name = record.get("DisplayName") or record.get("Name") or ""
            out.append((str(awra_id), str(qbo_id), str(name)))
    return out


def build(folder: Path, invoices: int) -> None:
    """The AWRA database and the QBO snapshot for ``invoices`` invoices (see the module text)."""
    sys.path.insert(0, str(ROOT))
    from reconcile.demo import ensure_demo

    demo_root = folder / "demo"
    demo = ensure_demo(demo_root)
    demo_dir = Path(demo.snapshot_dir).parent
    customers = _sound_mappings(demo_dir, "customer", "Customer")
    items = [i for i in _sound_mappings(demo_dir, "item", "Item") if _item_sells(demo_dir, i[1])]
    awra_db = folder / "awra.db"
    shutil.copyfile(demo_dir / "awra.db", awra_db)
    snapshot = folder / "qbo"
    snapshot.mkdir()
    for name in ("Account", "Customer", "Item", "TaxCode", "TaxRate", "PaymentMethod", "Vendor", "Preferences"):
        shutil.copyfile(demo_dir / "qbo" / f"{name}.json", snapshot / f"{name}.json")
    shutil.rmtree(demo_root)

    plan = Plan(invoices)
    inv_rows, line_rows, log_rows = [], [], []
    with (snapshot / "Invoice.json").open("w", encoding="utf-8") as out:
        out.write("[")
        first = True
        for i in range(invoices + plan.hand_keyed):
            hand = i >= invoices
            day = f"2026-03-{1 + i % 31:02d}"
            customer = customers[i % len(customers)]
            lines = [(items[(i + n) % len(items)], 100 * (1 + (i * 7 + n * 13) % 50_000)) for n in (1, 2)]
            net = sum(cents for _, cents in lines)
            tax = (net * 16 + 50) // 100
            number = f"HAND-{i:07d}" if hand else f"INV-{i:07d}"
            qbo_id = str(FIRST_QBO_ID + i)
            if not hand:
                inv_rows.append(
                    (
                        str(i + 1),
                        number,
                        customer[0],
                        day,
                        "2026-04-30",
                        "KES",
                        _money(net + tax),
                        _money(tax),
                        "posted",
                        "Nairobi",
                        qbo_id,
                        f"{day} 08:00:00",
                        "bench",
                    )
                )
                for n, (item, cents) in enumerate(lines, start=1):
                    line_rows.append((str(i + 1), n, item[0], item[2], "1", _money(cents), _money(cents), VAT_AWRA))
                log_rows.append(
                    (
                        str(i + 1),
                        "R1",
                        "qbo",
                        "invoice",
                        str(i + 1),
                        number,
                        "succeeded",
                        None,
                        f"Created Invoice {qbo_id}",
                        0,
                        qbo_id,
                        f"{day} 09:00:00",
                    )
                )
                if plan.missing(i):
                    continue
                if plan.changed(i):
                    raised = lines[0][1] + 1_000
                    lines = [(lines[0][0], raised), lines[1]]
                    net += 1_000
            out.write("" if first else ",\n")
            first = False
            out.write(_invoice_json(qbo_id, number, day, customer, lines, net, tax))
        out.write("]\n")

    with sqlite3.connect(awra_db) as conn:
        conn.execute("PRAGMA journal_mode=OFF")
        conn.execute("PRAGMA synchronous=OFF")
        for table in TRANSACTION_TABLES:
            conn.execute(f"DELETE FROM {table}")
        conn.execute("INSERT INTO sync_runs VALUES ('R1', 'qbo', '2026-03-01 00:00:00', NULL, 'succeeded', 'cron')")
        conn.executemany(
            "INSERT INTO invoices (id, number, customer_id, txn_date, due_date, currency, total_amount, tax_amount,"
            " status, branch, qbo_id, updated_at, updated_by) VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?)",
            inv_rows,
        )
        conn.executemany(
            "INSERT INTO invoice_lines (invoice_id, line_no, item_id, description, quantity, unit_price, amount,"
            " tax_code_id) VALUES (?,?,?,?,?,?,?,?)",
            line_rows,
        )
        conn.executemany(
            "INSERT INTO sync_log (id, sync_run_id, connector, record_type, record_id, record_number, status,"
            " error_code, message, retry_count, qbo_id, attempted_at) VALUES (?,?,?,?,?,?,?,?,?,?,?,?)",
            log_rows,
        )
    (folder / "built.json").write_text(json.dumps({"invoices": invoices}), encoding="utf-8")


def _item_sells(demo_dir: Path, qbo_id: str) -> bool:
    items = {p["Id"]: p for p in json.loads((demo_dir / "qbo" / "Item.json").read_text(encoding="utf-8"))}
    return bool(items.get(qbo_id, {}).get("IncomeAccountRef"))


def _invoice_json(
    qbo_id: str,
    number: str,
    day: str,
    customer: tuple[str, str, str],
    lines: list[tuple[tuple[str, str, str], int]],
    net: int,
    tax: int,
) -> str:
    line_json = ", ".join(
        f'{{"Id": "{n}", "LineNum": {n}, "Description": {json.dumps(item[2])}, "Amount": {_money(cents)},'
        f' "DetailType": "SalesItemLineDetail", "SalesItemLineDetail": {{"ItemRef": {{"value": "{item[1]}",'
        f' "name": {json.dumps(item[2])}}}, "UnitPrice": {_money(cents)}, "Qty": 1,'
        f' "TaxCodeRef": {{"value": "{VAT_QBO}"}}}}}}'
        for n, (item, cents) in enumerate(lines, start=1)
    )
    return (
        f'{{"Id": "{qbo_id}", "SyncToken": "0", "domain": "QBO", "sparse": false, "MetaData": {{"CreateTime":'
        f' "{day}T09:00:00+03:00", "LastUpdatedTime": "{day}T09:00:00+03:00"}}, "DocNumber": "{number}",'
        f' "TxnDate": "{day}", "CurrencyRef": {{"value": "KES", "name": "Kenyan Shilling"}}, "ExchangeRate": 1,'
        f' "Line": [{line_json}, {{"Amount": {_money(net)}, "DetailType": "SubTotalLineDetail",'
        f' "SubTotalLineDetail": {{}}}}], "TxnTaxDetail": {{"TotalTax": {_money(tax)}, "TaxLine": [{{"Amount":'
        f' {_money(tax)}, "DetailType": "TaxLineDetail", "TaxLineDetail": {{"TaxRateRef": {{"value": "3"}},'
        f' "PercentBased": true, "TaxPercent": 16, "NetAmountTaxable": {_money(net)}}}}}]}},'
        f' "CustomerRef": {{"value": "{customer[1]}", "name": {json.dumps(customer[2])}}},'
        f' "DueDate": "2026-04-30", "TotalAmt": {_money(net + tax)}, "Balance": {_money(net + tax)},'
        f' "GlobalTaxCalculation": "TaxExcluded"}}'
    )


BASELINE = r"""
import json, sys, time
import pandas as pd
import sqlalchemy as sa
folder = sys.argv[1]
laps = {}
mark = time.perf_counter()
def lap(label):
    global mark
    now = time.perf_counter()
    laps[label] = round(now - mark, 2)
    mark = now
engine = sa.create_engine(sys.argv[2])
with engine.connect() as conn:
    invoices = pd.read_sql("SELECT * FROM invoices", conn)
    lines = pd.read_sql("SELECT * FROM invoice_lines", conn)
    log = pd.read_sql("SELECT * FROM sync_log", conn)
lap("read_sql")
with open(f"{folder}/qbo/Invoice.json", encoding="utf-8") as fh:
    payloads = json.load(fh)
lap("json.load")
headers = pd.json_normalize(payloads)
lap("json_normalize headers")
pairs = invoices.merge(headers, left_on="qbo_id", right_on="Id", how="outer", indicator=True)
lap("merge headers")
qbo_lines = pd.json_normalize(payloads, record_path="Line", meta=["Id"], meta_prefix="invoice_")
del payloads
lap("json_normalize lines")
keyed = lines.merge(invoices[["id", "qbo_id"]], left_on="invoice_id", right_on="id")
qbo_lines = qbo_lines[qbo_lines["DetailType"] == "SalesItemLineDetail"]
line_pairs = keyed.merge(
    qbo_lines, left_on=["qbo_id", "line_no"], right_on=["invoice_Id", "LineNum"], how="outer", indicator=True
)
lap("merge lines")
print(json.dumps({"pairs": pairs["_merge"].value_counts().to_dict(), "line_pairs": len(line_pairs), "laps": laps}))
"""


def measured(argv: list[str]) -> tuple[float, float, float, str]:
    """Run ``argv``; return its wall seconds, CPU seconds (user + system), peak RSS in MB and stdout."""
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    start = time.perf_counter()
    with tempfile.TemporaryFile() as out:
        proc = subprocess.Popen(argv, stdout=out, env=env, cwd=ROOT)
        _, status, usage = os.wait4(proc.pid, 0)
        wall = time.perf_counter() - start
        proc.returncode = os.waitstatus_to_exitcode(status)
        out.seek(0)
        text = out.read().decode("utf-8")
    if proc.returncode != 0:
        raise SystemExit(f"{argv[:4]}… exited {proc.returncode}:\n{text}")
    return wall, usage.ru_utime + usage.ru_stime, usage.ru_maxrss / 1024, text


def run_job(folder: Path, work: Path, awra_url: str) -> tuple[float, float, float, str, Path]:
    """The job end to end from the snapshot, in a subprocess; its figures and its run folder."""
    config = work / "config.toml"
    config.write_text(f'[history]\nurl = "sqlite:///{work}/history.db"\n', encoding="utf-8")
    out = work / "out"
    argv = [sys.executable, "-m", "jobs.cli", "run", "--from", DATE_FROM, "--to", DATE_TO]
    argv += ["--entity", "invoice", "--config", str(config), "--awra-url", awra_url]
    argv += ["--qbo-snapshot", str(folder / "qbo"), "--out", str(out), "--no-email", "--profile"]
    wall, cpu, peak, text = measured(argv)
    (run_folder,) = [p for p in out.iterdir() if not p.name.startswith(".")]
    return wall, cpu, peak, text, run_folder


def tie_out(run_folder: Path) -> tuple[list[str], dict[str, int]]:
    """Every non-zero ``unexplained`` in the summary (per currency, per account), and the category counts."""
    summary = json.loads((run_folder / "summary.json").read_text(encoding="utf-8"))
    open_ = []
    for entity, entry in summary["entities"].items():
        for currency, figures in entry["currencies"].items():
            if figures["unexplained"] != "0.00":
                open_.append(f"{entity} {currency}: {figures['unexplained']}")
    for account in summary["accounts"]:
        if account["unexplained"] != "0.00":
            open_.append(f"account {account['account']} {account['currency']}: {account['unexplained']}")
    counts = {k: v for k, v in summary["categories"].items() if v}
    return open_, counts


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--invoices", type=int, default=200_000)
    parser.add_argument("--data", type=Path, help="build the data set here (kept), or reuse it if already built")
    parser.add_argument(
        "--awra-url",
        help="copy the AWRA data into this PostgreSQL database (schema --pg-schema, typed date/numeric/timestamptz"
        " columns) and have the job and the baseline read it from there",
    )
    parser.add_argument("--pg-schema", default="h_awra_bench", help="the PostgreSQL schema to (re)create")
    parser.add_argument("--build-only", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()

    with tempfile.TemporaryDirectory(prefix="bench-e2e-") as scratch:
        folder = args.data or Path(scratch) / "data"
        built = folder / "built.json"
        if built.exists() and json.loads(built.read_text(encoding="utf-8"))["invoices"] != args.invoices:
            raise SystemExit(f"{folder} holds another size; pass another --data folder")
        if args.build_only:
            build(folder, args.invoices)
            return
        if not built.exists():
            folder.mkdir(parents=True, exist_ok=True)
            start = time.perf_counter()
            # built in a child process: on Linux a child's ru_maxrss starts at its parent's
            # resident set, so a parent holding the built rows would inflate the measured peaks
            argv = [sys.executable, __file__, "--invoices", str(args.invoices), "--data", str(folder), "--build-only"]
            subprocess.run(argv, check=True, env={**os.environ, "PYTHONPATH": str(ROOT)})
            size = (folder / "qbo" / "Invoice.json").stat().st_size / 1024 / 1024
            print(
                f"built {args.invoices:,} invoices in {time.perf_counter() - start:.1f} s (Invoice.json {size:,.0f} MB)"
            )
        awra_url = f"sqlite:///{folder}/awra.db"
        if args.awra_url:
            sys.path.insert(0, str(ROOT / "bench"))
            from bench_awra_read import load_postgres

            start = time.perf_counter()
            awra_url = load_postgres(folder / "awra.db", args.awra_url, args.pg_schema)
            print(f"AWRA copied into PostgreSQL schema {args.pg_schema} in {time.perf_counter() - start:.1f} s")
        load_before = os.getloadavg()
        work = Path(scratch) / "work"
        work.mkdir()
        job_wall, job_cpu, job_peak, profile, run_folder = run_job(folder, work, awra_url)
        base_wall, base_cpu, base_peak, base_out = measured([sys.executable, "-c", BASELINE, str(folder), awra_url])
        load_after = os.getloadavg()
        open_, counts = tie_out(run_folder)

        n = args.invoices
        print(f"AWRA: {awra_url.split('?')[0]}")
        print(f"invoices: {n:,} (+{Plan(n).hand_keyed:,} keyed by hand in QBO); findings by category: {counts}")
        print(f"load average (1 min) before / after: {load_before[0]:.1f} / {load_after[0]:.1f} (2 cores, shared)")
        print(f"baseline output: {base_out.strip()}")
        print(f"{'':<34}{'wall s':>8}{'CPU s':>8}{'peak MB':>10}")
        print(f"{'job end to end (4 files written)':<34}{job_wall:8.1f}{job_cpu:8.1f}{job_peak:10,.0f}")
        print(f"{'bare read_sql + json_normalize + merge':<34}{base_wall:8.1f}{base_cpu:8.1f}{base_peak:10,.0f}")
        print(f"ratio job / baseline: {job_wall / base_wall:.2f}x wall, {job_cpu / base_cpu:.2f}x CPU")
        laps = json.loads(base_out)["laps"]
        header_only = sum(laps[k] for k in ("read_sql", "json.load", "json_normalize headers", "merge headers"))
        print(f"baseline steps (s): {laps}")
        print(
            f"baseline without the lines (read_sql + json.load + json_normalize + merge of the headers):"
            f" {header_only:.1f} s; job / that: {job_wall / header_only:.2f}x"
        )
        print(f"job per invoice: {job_wall / n * 1e6:.0f} us wall, {job_peak * 1024 / n:.1f} KB peak")
        print(f"tie-out: {'0.00 everywhere' if not open_ else 'NOT 0.00: ' + '; '.join(open_)}")
        print("job --profile:")
        print("\n".join(line for line in profile.splitlines() if not line.startswith(("run ", "report:", "workbook:"))))
        if open_:
            raise SystemExit(1)


if __name__ == "__main__":
    main()
