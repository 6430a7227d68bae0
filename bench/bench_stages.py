"""Benchmark (issue 14): the pure stages and writers that grow with the data, from cached inputs.

Reads a data set built by ``bench/bench_e2e.py`` once through the real readers (the e2e job's
window, entity and config), caches the frames in ``--cache DIR`` (a pickle), then times in one
process, in CPU seconds (wall beside it): the inputs hash, the mapping checks, the account
impact, the escalations, ``findings.csv`` and the workbook. ``--save-ref NAME`` keeps what they
produced; ``--check-ref NAME`` (run with another version of the code on ``PYTHONPATH``) says
whether each output is the same: the mapping findings, the account rows, the escalation
packets, ``findings.csv`` and every part of the workbook.

    PYTHONPATH=OLD .venv/bin/python bench/bench_stages.py --data /work/bench-data/1m --cache C --save-ref old
    PYTHONPATH=.   .venv/bin/python bench/bench_stages.py --data /work/bench-data/1m --cache C --check-ref old

The first run reads the sources (a minute and several GB at 1M); later runs load the pickle.
"""

from __future__ import annotations

import argparse
import dataclasses
import hashlib
import os
import pickle
import resource
import tempfile
import time
import zipfile
from collections.abc import Callable
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

import pandas as pd

from jobs.run import RunRequest, company_for, inputs_hash, qbo_snapshot_of, read_sources
from reconcile import frames as F
from reconcile.accounts import account_impact
from reconcile.config import load_settings
from reconcile.currencies import home_currency_of
from reconcile.escalation import build_escalations
from reconcile.mappings import blocked_transactions, check_mappings
from reconcile.model import RunResult
from reconcile.params import build_run_params
from reconcile.reconciliation import sort_findings
from reconcile.sources.qbo import open_qbo_source
from reconcile.tieout import RunArrays, entity_totals
from reconcile.transactions import reconcile_transactions
from reconcile.triage import load_rules, triage
from reports.excel import write_workbook
from reports.outputs import findings_csv_frame

DATE_FROM, DATE_TO = date(2026, 3, 1), date(2026, 3, 31)


def load_inputs(data: Path, cache: Path) -> tuple[Any, Any, Any, Any]:
    """(awra, qbo, params, rules) of the data set, read once and then from ``cache``."""
    pickled = cache / "inputs.pkl"
    if pickled.exists():
        with pickled.open("rb") as f:
            return pickle.load(f)
    cache.mkdir(parents=True, exist_ok=True)
    config = cache / "config.toml"
    config.write_text(f'[history]\nurl = "sqlite:///{cache}/history.db"\n', encoding="utf-8")
    settings = load_settings(config, os.environ)
    request = RunRequest(
        company=None,
        date_from=DATE_FROM,
        date_to=DATE_TO,
        entities=("invoice",),
        awra_url=f"sqlite:///{data}/awra.db",
        qbo_snapshot=data / "qbo",
        send_email=False,
    )
    company = company_for(settings, request)
    params = build_run_params(
        settings,
        company=company.key,
        date_from=DATE_FROM,
        date_to=DATE_TO,
        status=None,
        entities=request.entities,
        now=datetime(2026, 12, 6, 5, 0, tzinfo=UTC),
    )
    rules = load_rules(settings.reconcile.triage_rules)
    source = open_qbo_source(company, snapshot_dir=qbo_snapshot_of(company, request))
    awra, qbo = read_sources(company, params, source, lambda _message: None)
    qbo = dataclasses.replace(qbo, raw={})  # the payloads: no stage timed here reads them
    inputs = (awra, qbo, params, rules)
    with pickled.open("wb") as f:
        pickle.dump(inputs, f, protocol=5)
    return inputs


def timed(label: str, work: Callable[[], Any]) -> Any:
    """Run ``work``; print its wall and CPU seconds."""
    cpu, wall = time.process_time(), time.perf_counter()
    out = work()
    print(f"{label:<28} CPU {time.process_time() - cpu:7.2f} s   wall {time.perf_counter() - wall:7.2f} s", flush=True)
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, required=True, help="a folder built by bench/bench_e2e.py")
    parser.add_argument("--cache", type=Path, required=True, help="where the read frames are kept")
    parser.add_argument("--save-ref", metavar="NAME")
    parser.add_argument("--check-ref", metavar="NAME")
    args = parser.parse_args()

    awra, qbo, params, rules = load_inputs(args.data, args.cache)
    digest = timed("inputs hash", lambda: inputs_hash(awra, qbo))
    core = reconcile_transactions(awra, qbo, params)
    blocked = blocked_transactions(core.matches, awra)
    mapping = timed("mapping checks", lambda: check_mappings(awra, qbo, params, blocked=blocked))
    triaged = triage(awra, qbo, F.concat_frames([core.findings, mapping], F.FINDINGS), params, rules)
    findings = sort_findings(triaged.findings)
    totals = entity_totals(findings, awra, qbo, params, core.tolerance_cents, core.arrays)
    arrays = core.arrays or RunArrays(core.matches, awra, qbo, params)
    accounts = timed("account impact", lambda: account_impact(awra, qbo, params, findings, arrays))
    escalations = timed("escalations", lambda: build_escalations(awra, triaged, params))
    result = RunResult(
        params=params,
        findings=findings,
        totals=totals,
        triage=triaged.triage,
        safe_to_retry=triaged.safe_to_retry,
        escalations=escalations,
        sources={"awra": "awra", "qbo": "qbo"},
        home_currency=home_currency_of(qbo, params),
        accounts=accounts,
    )
    out = Path(tempfile.mkdtemp(prefix="bench-stages-"))
    csv, workbook = out / "findings.csv", out / "reconciliation.xlsx"
    timed("findings.csv", lambda: findings_csv_frame(findings).to_csv(csv, index=False, encoding="utf-8"))
    timed("workbook", lambda: write_workbook(result, workbook))
    print(f"inputs hash {digest}; {len(findings):,} findings; {len(accounts)} account rows")
    print(f"peak RSS {resource.getrusage(resource.RUSAGE_SELF).ru_maxrss // 1024:,} MB")

    with zipfile.ZipFile(workbook) as z:
        parts = {name: hashlib.sha256(z.read(name)).hexdigest() for name in sorted(z.namelist())}
    outputs = {
        "mapping findings": mapping,
        "account rows": accounts,
        "escalation packets": repr(escalations),
        "findings.csv": hashlib.sha256(csv.read_bytes()).hexdigest(),
        "workbook parts": parts,
    }
    if args.save_ref:
        with (args.cache / f"ref-{args.save_ref}.pkl").open("wb") as f:
            pickle.dump(outputs, f)
    if args.check_ref:
        with (args.cache / f"ref-{args.check_ref}.pkl").open("rb") as f:
            reference = pickle.load(f)
        for name, value in outputs.items():
            before = reference[name]
            same = before.equals(value) if isinstance(value, pd.DataFrame) else before == value
            print(f"{name}: {'same' if same else 'DIFFERENT'} as {args.check_ref}")


if __name__ == "__main__":
    main()
