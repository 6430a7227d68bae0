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
from reconcile.profile import NO_PROFILE, Profile
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
    """The ``summary.json`` document (CONTRACTS §4): counts, totals, the bridge, accounts, history.

    Money is never added across currencies. Per entity, ``currencies.<CODE>`` holds that
    currency's ``awra_count``, ``qbo_count``, ``awra_total``, ``qbo_total``, ``difference``,
    ``bridge`` and ``unexplained`` (a currency on one side only has ``"0.00"`` on the other).
    The entity-level counts (``awra_count``, ``qbo_count``, ``categories``) are over every
    currency; the entity-level money keys (``awra_total``, ``qbo_total``, ``difference``,
    ``bridge``, ``unexplained``) are kept, as before, when the entity has a single currency (or
    none: ``"0.00"``) and left out when it has several, since they would add currencies. The
    top-level ``unexplained`` is ``"0.00"`` when every currency ties out; otherwise the
    unexplained amount (one currency) or each currency's, e.g. ``"12.00 USD; -3.00 KES"``;
    ``unexplained_by_currency`` gives the figures per currency. ``home_currency`` is the
    company's (``null`` when unknown), ``currencies`` those the run saw, ``accounts`` the
    account impact (``reconcile.accounts``; largest differences first).
    """
    params = result.params
    findings = result.findings
    entities: dict[str, Any] = {}
    unexplained: dict[str, int] = {}
    seen: set[str] = set()
    for totals in result.totals:
        currencies: dict[str, Any] = {}
        for c in totals.currencies:
            seen.add(c.currency)
            unexplained[c.currency] = unexplained.get(c.currency, 0) + c.unexplained_cents
            currencies[c.currency] = {
                "awra_count": c.awra_count,
                "qbo_count": c.qbo_count,
                "awra_total": cents_text(c.awra_total_cents),
                "qbo_total": cents_text(c.qbo_total_cents),
                "difference": cents_text(c.difference_cents),
                "bridge": {k: cents_text(v) for k, v in c.bridge.items() if v},
                "unexplained": cents_text(c.unexplained_cents),
            }
        entry: dict[str, Any] = {
            "awra_count": totals.awra_count,
            "qbo_count": totals.qbo_count,
        }
        single = totals.single
        if single is not None:
            entry.update(
                {
                    "awra_total": cents_text(single.awra_total_cents),
                    "qbo_total": cents_text(single.qbo_total_cents),
                    "difference": cents_text(single.difference_cents),
                }
            )
        entry["categories"] = {c: int(totals.category_counts.get(c, 0)) for c in F.CATEGORIES}
        if single is not None:
            entry["bridge"] = {c: cents_text(v) for c, v in single.bridge.items() if v}
            entry["unexplained"] = cents_text(single.unexplained_cents)
        entry["currencies"] = currencies
        entities[totals.entity] = entry
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
        "home_currency": result.home_currency,
        "currencies": sorted(seen),
        "entities": entities,
        "masters": masters,
        "categories": {c: int(by_category.get(c, 0)) for c in F.CATEGORIES},
        "findings": len(findings),
        "unexplained": _unexplained_text(unexplained),
        "unexplained_by_currency": {c: cents_text(v) for c, v in sorted(unexplained.items())},
        "accounts": account_entries(result.accounts),
        "safe_to_retry": len(result.safe_to_retry),
        "escalations": len(result.escalations),
        "sources": dict(result.sources),
    }
    if result.history is not None:
        summary["history"] = _jsonable(result.history)
    return summary


def _unexplained_text(unexplained: Mapping[str, int]) -> str:
    """``"0.00"`` when every currency ties out; one currency's amount; else each currency's."""
    open_ = {c: v for c, v in sorted(unexplained.items()) if v}
    if not open_:
        return "0.00"
    if len(unexplained) == 1:
        return cents_text(next(iter(open_.values())))
    return "; ".join(f"{cents_text(v)} {c}" for c, v in open_.items())


def account_entries(accounts: pd.DataFrame) -> list[dict[str, Any]]:
    """The account impact rows for ``summary.json`` (amounts as decimal strings)."""
    entries = []
    for record in accounts.to_dict("records"):
        row: dict[str, Any] = {str(k): (None if v is None or v is pd.NA else v) for k, v in record.items()}
        entries.append(
            {
                "account": None if row["account"] is None else str(row["account"]),
                "name": None if row["name"] is None else str(row["name"]),
                "currency": str(row["currency"]),
                "awra_net": cents_text(int(row["awra_net_cents"])),
                "qbo_net": cents_text(int(row["qbo_net_cents"])),
                "difference": cents_text(int(row["difference_cents"])),
                "explained": cents_text(int(row["explained_cents"])),
                "unexplained": cents_text(int(row["unexplained_cents"])),
                "findings": int(row["findings"]),
                "explained_by": None if row["explained_by"] is None else str(row["explained_by"]),
            }
        )
    return entries


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


def write_run_folder(result: RunResult, out_dir: Path, *, profile: Profile = NO_PROFILE) -> Path:
    """Write every report of ``result`` into ``out_dir/<run_id>/`` atomically; return that path.

    ``profile`` measures each writer when the run asks for a stage-by-stage account.
    """
    out_dir.mkdir(parents=True, exist_ok=True)
    sweep_partial_folders(out_dir)
    final = out_dir / result.params.run_id
    if final.exists():
        raise FileExistsError(f"{final} already exists")
    tmp = out_dir / f"{_TMP_PREFIX}{result.params.run_id}-{os.getpid()}"
    tmp.mkdir()
    try:
        with _writer_lock(tmp) as lock_file:
            _write_files(result, tmp, profile)
            lock_file.unlink()  # still held through the open descriptor until the rename is done
            tmp.rename(final)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return final


def _write_files(result: RunResult, tmp: Path, profile: Profile) -> None:
    with profile.stage("write findings.csv"):
        findings_csv_frame(result.findings).to_csv(tmp / "findings.csv", index=False, encoding="utf-8")
    with profile.stage("write summary.json, escalations.json"):
        _write_json(tmp / "summary.json", build_summary(result))
        _write_json(tmp / "escalations.json", [_jsonable(p) for p in result.escalations])
    with profile.stage("write workbook"):
        write_workbook(result, tmp / "reconciliation.xlsx")
    with profile.stage("write html"):
        write_html(result, tmp / "report.html")
    with profile.stage("flush to disk"):
        _fsync_folder(tmp)


@contextlib.contextmanager
def _writer_lock(folder: Path) -> Iterator[Path]:
    """Hold an exclusive lock on ``folder/.writing`` while the run's files are written and renamed.

    The lock file is locked under another name and only then renamed to ``.writing``: a sweep
    that opened ``.writing`` between its creation and its locking would find it free and remove
    a folder whose writer is alive (seen with twenty runs writing at once).
    """
    path = folder / _LOCK_NAME
    # locked under another name first, then renamed: a sweep that finds ``.writing`` always finds
    # it locked (locking it after creating it would leave a moment where a sweep takes it)
    staging = folder / f"{_LOCK_NAME}.new"
    fd = os.open(staging, os.O_CREAT | os.O_EXCL | os.O_RDWR, 0o600)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        staging.rename(path)
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
