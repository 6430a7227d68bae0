"""Benchmark: ``read_awra`` beside a bare ``pandas.read_sql`` of the same tables, SQLite or PostgreSQL.

The data is either built here (N invoices dated in one quarter, L lines each, one sync-log row per
invoice, money stored as SQLite REAL: the careful float -> cents path), or taken from a data set of
``bench/bench_e2e.py`` (``--data DIR``: its ``awra.db``, invoices of March 2026, money as the
decimal text NUMERIC affinity turns into REAL or INTEGER).

With ``--awra-url postgresql+psycopg://...`` the SQLite data is first copied into that PostgreSQL
database, in a schema of its own (``--pg-schema``, replaced), with typed columns as production AWRA
has them: ``date``, ``numeric(18,2)``, ``timestamptz``; both reads then go to PostgreSQL.

Then, each in its own subprocess (wall, CPU = user + system, peak resident set of the process):

* baseline: ``pandas.read_sql`` of the invoices, their lines and the sync log (``SELECT *``);
* ``read_awra`` for the invoice entity over the window (typed, checked frames, exact cents,
  reference checks, data-quality scan), with this tree's code;
* with ``--before DIR``: the same ``read_awra`` with the code of another checkout (e.g. main), in
  the same run, for a before/after figure under the same load.

    PYTHONPATH=. .venv/bin/python bench/bench_awra_read.py [--invoices 100000] [--lines 3] [--repeat 2]
    PYTHONPATH=. .venv/bin/python bench/bench_awra_read.py --data /work/bench-data/200k \
        [--awra-url postgresql+psycopg://postgres@127.0.0.1:5432/test] [--before /work/main]
"""

from __future__ import annotations

import argparse
import os
import random
import sqlite3
import subprocess
import sys
import tempfile
import time
from datetime import date, timedelta
from pathlib import Path

import sqlalchemy as sa

from reconcile.sources.awra_schema import awra_metadata

START = date(2024, 1, 1)
DAYS = 90


def build(path: Path, invoices: int, lines: int, seed: int = 7) -> None:
    engine = sa.create_engine(f"sqlite:///{path}")
    awra_metadata().create_all(engine)
    engine.dispose()
    rng = random.Random(seed)
    with sqlite3.connect(path) as conn:
        conn.execute("PRAGMA journal_mode=OFF")
        conn.execute("PRAGMA synchronous=OFF")
        conn.executemany(
            "INSERT INTO customers VALUES (?, ?, ?, ?, 1, '2024-01-01 00:00:00')",
            [(f"C{i}", f"CUST{i}", f"Customer {i}", f"c{i}@example.com") for i in range(40)],
        )
        conn.executemany(
            "INSERT INTO accounts VALUES (?, ?, ?, ?, 1, '2024-01-01 00:00:00')",
            [("A-INC", "4000", "Sales", "income"), ("A-BANK", "1000", "Bank", "bank")],
        )
        conn.executemany(
            "INSERT INTO items VALUES (?, ?, ?, 'service', 'A-INC', NULL, 1, '2024-01-01 00:00:00')",
            [(f"I{i}", f"ITEM{i}", f"Item {i}") for i in range(30)],
        )
        conn.executemany(
            "INSERT INTO tax_codes VALUES (?, ?, ?, ?, 1, '2024-01-01 00:00:00')",
            [("T16", "VAT16", "VAT 16%", 16), ("T0", "ZERO", "Zero", 0), ("T8", "VAT8", "Fuel 8%", 8)],
        )
        inv_rows, line_rows, log_rows = [], [], []
        for i in range(invoices):
            day = START + timedelta(days=rng.randrange(DAYS))
            amounts = [rng.randrange(100, 500_000) / 100 for _ in range(lines)]
            subtotal = round(sum(amounts), 2)
            tax = round(subtotal * 0.16, 2)
            inv_rows.append(
                (
                    str(i),
                    f"INV-{i:07d}",
                    f"C{rng.randrange(40)}",
                    day.isoformat(),
                    (day + timedelta(days=30)).isoformat(),
                    "KES",
                    round(subtotal + tax, 2),
                    tax,
                    rng.choice(("posted", "posted", "posted", "approved", "draft")),
                    "NBO",
                    "W1",
                    f"Q{i}",
                    f"{day.isoformat()} 10:00:00",
                    "bench",
                )
            )
            for n, amount in enumerate(amounts, start=1):
                line_rows.append((str(i), n, f"I{rng.randrange(30)}", f"line {n}", 1, amount, amount, "T16"))
            log_rows.append(
                (
                    f"L{i}",
                    "R1",
                    "qbo",
                    "invoice",
                    str(i),
                    f"INV-{i:07d}",
                    "succeeded",
                    None,
                    None,
                    0,
                    f"Q{i}",
                    f"{day.isoformat()} 11:00:00",
                )
            )
        conn.executemany(
            "INSERT INTO invoices (id, number, customer_id, txn_date, due_date, currency, total_amount, tax_amount,"
            " status, branch, warehouse, qbo_id, updated_at, updated_by) VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?)",
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
        conn.execute("INSERT INTO sync_runs VALUES ('R1', 'qbo', '2024-01-01 00:00:00', NULL, 'succeeded', 'cron')")


#: Columns typed as production PostgreSQL AWRA types them (the rest: awra_schema's types).
PG_TIMESTAMPS = ("updated_at", "attempted_at", "started_at", "finished_at")
#: Tables copied into PostgreSQL (every one the invoice read touches).
PG_TABLES = (
    "customers",
    "vendors",
    "items",
    "tax_codes",
    "accounts",
    "payment_methods",
    "qbo_mappings",
    "invoices",
    "invoice_lines",
    "sync_runs",
    "sync_log",
)


def load_postgres(sqlite_path: Path, url: str, schema: str) -> str:
    """Copy the AWRA tables into ``schema`` of the PostgreSQL at ``url``; the URL that reads them."""
    import psycopg

    md = awra_metadata()
    engine = sa.create_engine(url)
    with engine.begin() as conn:
        conn.execute(sa.text(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE'))
        conn.execute(sa.text(f'CREATE SCHEMA "{schema}"'))
        conn.execute(sa.text(f'SET LOCAL search_path TO "{schema}"'))
        md.create_all(conn, tables=[md.tables[t] for t in PG_TABLES], checkfirst=False)
        for t in PG_TABLES:
            for column in md.tables[t].columns:
                if column.name in PG_TIMESTAMPS:
                    conn.execute(sa.text(f'ALTER TABLE "{schema}"."{t}" ALTER COLUMN {column.name} TYPE timestamptz'))
    engine.dispose()
    plain = sa.make_url(url).set(drivername="postgresql").render_as_string(hide_password=False)
    with sqlite3.connect(f"file:{sqlite_path}?mode=ro", uri=True) as source, psycopg.connect(plain) as target:
        for t in PG_TABLES:
            names = [row[1] for row in source.execute(f"PRAGMA table_info({t})")]
            cursor = source.execute(f"SELECT {', '.join(names)} FROM {t}")
            columns = ", ".join(names)
            with target.cursor().copy(f'COPY "{schema}"."{t}" ({columns}) FROM STDIN') as copy:
                while rows := cursor.fetchmany(50_000):
                    for row in rows:
                        copy.write_row(row)
        target.execute(f'ANALYZE "{schema}".invoices, "{schema}".invoice_lines, "{schema}".sync_log')
    sep = "&" if "?" in url else "?"
    return f"{url}{sep}options=-csearch_path%3D{schema}"


BASELINE = r"""
import sys, time
import pandas as pd
import sqlalchemy as sa
engine = sa.create_engine(sys.argv[1])
rows = 0
with engine.connect() as conn:
    for table in ("invoices", "invoice_lines", "sync_log"):
        rows += len(pd.read_sql(f"SELECT * FROM {table}", conn))
print(rows)
"""

READ = r"""
import sys
from datetime import date
from reconcile.config import AwraSettings
from reconcile.params import RunParams
from reconcile.sources.awra import read_awra
params = RunParams(run_id="bench", company="bench", company_name="Bench", date_from=date.fromisoformat(sys.argv[2]),
                   date_to=date.fromisoformat(sys.argv[3]), entities=("invoice",))
data = read_awra(AwraSettings(url=sys.argv[1]), params)
tx = data.transactions
assert bool(tx["data_ok"].all()) and data.data_quality.empty, "benchmark data should be clean"
print(len(tx), len(data.lines), len(data.sync_log))
"""


def measured(code: str, args: list[str], tree: Path) -> tuple[float, float, float, str]:
    """Run python ``code`` with ``args`` and ``tree`` first on the path: wall s, CPU s, peak MB, stdout."""
    env = {**os.environ, "PYTHONPATH": str(tree)}
    start = time.perf_counter()
    with tempfile.TemporaryFile() as out:
        proc = subprocess.Popen([sys.executable, "-c", code, *args], stdout=out, env=env, cwd=tree)
        _, status, usage = os.wait4(proc.pid, 0)
        wall = time.perf_counter() - start
        out.seek(0)
        text = out.read().decode("utf-8").strip()
    if os.waitstatus_to_exitcode(status) != 0:
        raise SystemExit(f"{code.splitlines()[1]}... exited {os.waitstatus_to_exitcode(status)}: {text}")
    return wall, usage.ru_utime + usage.ru_stime, usage.ru_maxrss / 1024, text


def best_of(repeat: int, code: str, args: list[str], tree: Path) -> tuple[float, float, float, str]:
    """The best wall and best CPU over ``repeat`` runs (the machine is shared), the highest peak."""
    runs = [measured(code, args, tree) for _ in range(repeat)]
    return min(r[0] for r in runs), min(r[1] for r in runs), max(r[2] for r in runs), runs[-1][3]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--invoices", type=int, default=100_000)
    parser.add_argument("--lines", type=int, default=3)
    parser.add_argument("--repeat", type=int, default=1)
    parser.add_argument("--db", type=Path, help="reuse/keep the built database at this path")
    parser.add_argument("--data", type=Path, help="a bench_e2e.py data folder: read its awra.db (March 2026)")
    parser.add_argument("--awra-url", help="copy the data into this PostgreSQL database and read it from there")
    parser.add_argument("--pg-schema", default="h_awra_bench", help="the PostgreSQL schema to (re)create")
    parser.add_argument("--before", type=Path, help="another checkout whose read_awra to time in the same run")
    args = parser.parse_args()

    with tempfile.TemporaryDirectory() as tmp:
        if args.data:
            path, window = args.data / "awra.db", ("2026-03-01", "2026-03-31")
        else:
            path, window = args.db or Path(tmp) / "awra-bench.db", (str(START), str(START + timedelta(days=DAYS - 1)))
            if not path.exists():
                start = time.perf_counter()
                build(path, args.invoices, args.lines)
                took = time.perf_counter() - start
                print(f"built {path.name}: {args.invoices:,} invoices x {args.lines} lines in {took:.1f}s")
        url = f"sqlite:///{path}"
        if args.awra_url:
            start = time.perf_counter()
            url = load_postgres(path, args.awra_url, args.pg_schema)
            print(f"copied into PostgreSQL schema {args.pg_schema} in {time.perf_counter() - start:.1f}s")
        here = Path(__file__).resolve().parent.parent
        load_before = os.getloadavg()[0]
        base = best_of(args.repeat, BASELINE, [url], here)
        after = best_of(args.repeat, READ, [url, *window], here)
        before = best_of(args.repeat, READ, [url, *window], args.before) if args.before else None
        load_after = os.getloadavg()[0]

    invoices, lines, log = (int(v) for v in after[3].split())
    rows = invoices + lines + log
    print(
        f"backend: {sa.make_url(url).get_backend_name()}; rows read: {rows:,} ({invoices:,} invoices, {lines:,} lines,"
        f" {log:,} sync-log rows); best of {args.repeat}"
    )
    print(f"load average (1 min) before / after: {load_before:.1f} / {load_after:.1f} (2 cores, shared)")
    print(f"{'':<34}{'wall s':>8}{'CPU s':>8}{'peak MB':>9}{'rows/CPU-s':>12}{'CPU ratio':>11}")
    table = [("baseline: pandas.read_sql x 3", base)]
    if before:
        table.append((f"read_awra before ({args.before})", before))
    table.append(("read_awra (this tree)", after))
    for label, (wall, cpu, peak, _) in table:
        print(f"{label[:33]:<34}{wall:8.2f}{cpu:8.2f}{peak:9,.0f}{rows / cpu:12,.0f}{cpu / base[1]:10.2f}x")
    if before:
        print(
            f"after / before: {after[0] / before[0]:.2f}x wall, {after[1] / before[1]:.2f}x CPU, "
            f"{after[2] / before[2]:.2f}x peak"
        )


if __name__ == "__main__":
    main()
