"""The run folder: ``DIR/<run_id>/`` with the workbook, the HTML report and the machine files.

A run's folder appears whole or not at all: everything is written into a hidden temporary
folder beside it, flushed, and renamed into place in one step. A run that dies halfway leaves
only a ``.tmp-*`` folder, which a later run sweeps away.

Several runs write into one reports folder at once (the scheduler's threads, workers sharing a
folder), so a ``.tmp-*`` folder may be another live run's work in progress. Its writer holds an
exclusive ``flock`` on the folder's ``.writing`` file until the rename; the sweep removes only
folders whose lock it can take, i.e. whose writer is gone (the kernel drops a dead process's
locks). A folder without a lock file is swept only once it is old enough to be abandoned.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
import shutil
import time
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from reconcile import frames as F
from reconcile.model import RunResult
from reports.excel import write_workbook
from reports.html import write_html

#: The files every completed run folder holds (CONTRACTS §3), plus ``escalations.json``.
RUN_FILES: tuple[str, ...] = (
    "reconciliation.xlsx",
    "report.html",
    "findings.csv",
    "summary.json",
    "escalations.json",
)

_TMP_PREFIX = ".tmp-"
_LOCK_NAME = ".writing"
#: A temporary folder with no lock file (its writer died before taking it) is swept after this.
_UNLOCKED_GRACE_SECONDS = 3600.0


def cents_text(cents: int) -> str:
    """Integer cents as a decimal string with two places (``-1234`` -> ``"-12.34"``)."""
    sign = "-" if cents < 0 else ""
    whole, frac = divmod(abs(int(cents)), 100)
    return f"{sign}{whole}.{frac:02d}"


def build_summary(result: RunResult) -> dict[str, Any]:
    """The ``summary.json`` document (CONTRACTS §4): counts, totals, the bridge, history."""
    params = result.params
    findings = result.findings
    entities: dict[str, Any] = {}
    for totals in result.totals:
        entities[totals.entity] = {
            "awra_count": totals.awra_count,
            "qbo_count": totals.qbo_count,
            "awra_total": cents_text(totals.awra_total_cents),
            "qbo_total": cents_text(totals.qbo_total_cents),
            "difference": cents_text(totals.awra_total_cents - totals.qbo_total_cents),
            "categories": {c: int(totals.category_counts.get(c, 0)) for c in F.CATEGORIES},
            "bridge": {c: cents_text(v) for c, v in totals.bridge.items() if v},
            "unexplained": cents_text(totals.unexplained_cents),
        }
    by_category = findings["category"].value_counts()
    mapping_counts = findings[findings["entity"].isin(F.MASTER_TYPES)].groupby(["entity", "category"]).size()
    masters: dict[str, dict[str, int]] = {}
    for row in mapping_counts.reset_index(name="n").itertuples(index=False):
        masters.setdefault(str(row.entity), {})[str(row.category)] = int(str(row.n))
    summary: dict[str, Any] = {
        "run_id": params.run_id,
        "company": params.company,
        "company_name": params.company_name,
        "from": params.date_from.isoformat(),
        "to": params.date_to.isoformat(),
        "status": params.status,
        "generated_at": params.now.isoformat(),
        "entities": entities,
        "masters": masters,
        "categories": {c: int(by_category.get(c, 0)) for c in F.CATEGORIES},
        "findings": len(findings),
        "unexplained": cents_text(sum(t.unexplained_cents for t in result.totals)),
        "safe_to_retry": len(result.safe_to_retry),
        "escalations": len(result.escalations),
        "sources": dict(result.sources),
    }
    if result.history is not None:
        summary["history"] = _jsonable(result.history)
    return summary


def findings_csv_frame(findings: pd.DataFrame) -> pd.DataFrame:
    """The findings as written to ``findings.csv``: contract columns first, money as decimals."""
    out = findings.copy()
    for column in [c for c in out.columns if c.endswith("_cents")]:
        values = out[column]
        out[column.removesuffix("_cents")] = [None if pd.isna(v) else cents_text(int(v)) for v in values]
        out = out.drop(columns=[column])
    for column in out.columns:
        if pd.api.types.is_datetime64_any_dtype(out[column]):
            out[column] = out[column].dt.strftime("%Y-%m-%d")
    extra = [c for c in out.columns if c not in F.CONTRACT_FINDING_COLUMNS]
    return out[[*F.CONTRACT_FINDING_COLUMNS, *extra]]


def write_run_folder(result: RunResult, out_dir: Path) -> Path:
    """Write every report of ``result`` into ``out_dir/<run_id>/`` atomically; return that path."""
    out_dir.mkdir(parents=True, exist_ok=True)
    sweep_partial_folders(out_dir)
    final = out_dir / result.params.run_id
    if final.exists():
        raise FileExistsError(f"{final} already exists")
    tmp = out_dir / f"{_TMP_PREFIX}{result.params.run_id}-{os.getpid()}"
    tmp.mkdir()
    try:
        with _writer_lock(tmp) as lock_file:
            _write_files(result, tmp)
            lock_file.unlink()  # still held through the open descriptor until the rename is done
            tmp.rename(final)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return final


def _write_files(result: RunResult, tmp: Path) -> None:
    findings_csv_frame(result.findings).to_csv(tmp / "findings.csv", index=False, encoding="utf-8")
    _write_json(tmp / "summary.json", build_summary(result))
    _write_json(tmp / "escalations.json", [_jsonable(p) for p in result.escalations])
    write_workbook(result, tmp / "reconciliation.xlsx")
    write_html(result, tmp / "report.html")
    _fsync_folder(tmp)


@contextlib.contextmanager
def _writer_lock(folder: Path) -> Iterator[Path]:
    """Hold an exclusive lock on ``folder/.writing`` while the run's files are written and renamed.

    The lock file is locked under another name and only then renamed to ``.writing``: a sweep
    that opened ``.writing`` between its creation and its locking would find it free and remove
    a folder whose writer is alive (seen with twenty runs writing at once).
    """
    path = folder / _LOCK_NAME
    fresh = folder / f"{_LOCK_NAME}-{os.getpid()}"
    fd = os.open(fresh, os.O_CREAT | os.O_RDWR, 0o600)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        fresh.rename(path)
        yield path
    finally:
        os.close(fd)  # closing drops the lock


def sweep_partial_folders(out_dir: Path, *, now: float | None = None) -> list[Path]:
    """Remove temporary folders left by runs that died while writing; return those removed.

    A folder whose writer is still alive (its lock is held) is left alone, whoever holds it.
    """
    now = time.time() if now is None else now
    removed: list[Path] = []
    for leftover in out_dir.glob(f"{_TMP_PREFIX}*"):
        if leftover.is_dir() and _abandoned(leftover, now):
            shutil.rmtree(leftover, ignore_errors=True)
            removed.append(leftover)
    return removed


def _abandoned(folder: Path, now: float) -> bool:
    try:
        fd = os.open(folder / _LOCK_NAME, os.O_RDWR)
    except FileNotFoundError:
        # the writer made the folder but has not taken its lock yet, or died in between
        try:
            return now - folder.stat().st_mtime > _UNLOCKED_GRACE_SECONDS
        except FileNotFoundError:
            return False  # renamed into place (or swept) meanwhile
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        return False
    finally:
        os.close(fd)
    return True


def _write_json(path: Path, document: Any) -> None:
    path.write_text(json.dumps(document, indent=2, ensure_ascii=False, sort_keys=False) + "\n", encoding="utf-8")


def _jsonable(value: Any) -> Any:
    if isinstance(value, Mapping):
        return {str(k): _jsonable(v) for k, v in value.items()}
    if isinstance(value, list | tuple | set | frozenset):
        return [_jsonable(v) for v in value]
    if value is None or isinstance(value, str | int | float | bool):
        return value
    if isinstance(value, np.bool_):
        return bool(value)
    if isinstance(value, np.integer):
        return int(value)
    if isinstance(value, pd.Timestamp):
        return value.isoformat()
    if hasattr(value, "isoformat"):
        return value.isoformat()
    if pd.isna(value):
        return None
    return str(value)


def _fsync_folder(folder: Path) -> None:
    for path in folder.iterdir():
        with path.open("rb") as fh:
            os.fsync(fh.fileno())
