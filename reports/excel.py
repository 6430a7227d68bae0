"""The reconciliation workbook (``reconciliation.xlsx``) an accountant opens.

Sheets, in order (names and columns are stable, see ``reports/README.md``): ``Summary``;
``Account impact``; one sheet per finding category that has findings (``Missing in QBO``…);
``Acknowledged`` (when some finding is); ``Mapping gaps``; ``Sync triage``; ``Safe to retry``;
``Escalations``; ``Parameters``.

Written with XlsxWriter in constant-memory mode (rows are streamed to disk as they are
written), which measured about twice as fast as openpyxl's write-only mode for the same
styled cells and keeps peak memory flat (see ``bench/bench_reports.py``). Every string is
written with ``write_string`` (never ``write``), so text such as ``=HYPERLINK(…)`` or ``@SUM``
stays text; characters XML cannot hold are replaced and over-long text is truncated with a
visible marker. Money is written as numbers (cents / 100) with a currency number format,
dates as Excel dates. QBO Ids link to the record in the QBO web app.
"""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import xlsxwriter
from xlsxwriter.format import Format
from xlsxwriter.worksheet import Worksheet

from reconcile.links import qbo_url
from reconcile.model import RunResult
from reconcile.triage import CAUSES, cause_sentences
from reports._common import (
    MAPPING_CATEGORIES,
    acknowledged_mask,
    amounts_text,
    bridge_lines,
    categories_in_order,
    category_counts,
    category_title,
    clean_series,
    clean_strings,
    clean_text,
    has_acknowledgements,
    has_finding_history,
    headline,
    history_aging,
    history_counts,
    history_trend,
    order_findings,
    order_positions,
    totals_rows,
)

#: Fixed sheet names (category sheets are named by ``reports._common.CATEGORY_TITLES``).
SUMMARY_SHEET = "Summary"
ACCOUNTS_SHEET = "Account impact"
MAPPING_GAPS_SHEET = "Mapping gaps"
TRIAGE_SHEET = "Sync triage"
SAFE_TO_RETRY_SHEET = "Safe to retry"
ESCALATIONS_SHEET = "Escalations"
PARAMETERS_SHEET = "Parameters"
ACKNOWLEDGED_SHEET = "Acknowledged"

MONEY_FORMAT = "#,##0.00;[Red]-#,##0.00"
INT_FORMAT = "#,##0"
DATE_FORMAT = "yyyy-mm-dd"
TIMESTAMP_FORMAT = "yyyy-mm-dd hh:mm:ss"

#: Excel's sheet size and hyperlink limits.
EXCEL_MAX_DATA_ROWS = 1_048_575
EXCEL_MAX_URLS = 65_530
#: Real hyperlinks per workbook (each costs a relationship entry); further QBO links are
#: ``=HYPERLINK()`` formulas, which open the same page. Keeps big workbooks fast.
REAL_LINK_BUDGET = 20_000
_EXCEL_EPOCH = np.datetime64("1899-12-30T00:00:00", "ns")
_MONEY_FIELDS = frozenset({"amount", "tax_amount", "line_total"})


@dataclass(frozen=True)
class Col:
    """One output column: header text, source column in the frame, and how to write it.

    ``kind`` is one of ``text``, ``money`` (integer cents), ``int``, ``number``, ``date``,
    ``timestamp``, ``bool``, ``link`` (QBO Id linked by the row's ``entity``), ``category``
    (category title) and ``difference`` (decimal text written as a number when it is one).
    """

    header: str
    source: str
    kind: str = "text"
    width: float = 14


TRANSACTION_COLUMNS: tuple[Col, ...] = (
    Col("Entity", "entity", width=10),
    Col("AWRA number", "awra_number", width=16),
    Col("AWRA id", "awra_id", width=12),
    Col("QBO Id", "qbo_id", "link", 10),
    Col("Party", "party", width=28),
    Col("Date", "txn_date", "date", 11),
    Col("Amount", "amount_cents", "money", 14),
    Col("Currency", "currency", width=9),
    Col("Field", "field", width=12),
    Col("AWRA value", "awra_value", width=18),
    Col("QBO value", "qbo_value", width=18),
    Col("Difference", "difference", "difference", 13),
    Col("Effect on tie-out", "effect_cents", "money", 15),
    Col("Effect in other currency", "other_effect_cents", "money", 15),
    Col("Other currency", "other_currency", width=9),
    Col("Cause", "cause", width=40),
    Col("Action", "action", width=40),
    Col("Sync status", "sync_status", width=13),
    Col("Retries", "retry_count", "int", 8),
    Col("Message", "message", width=50),
    Col("Match method", "match_method", width=14),
    Col("Cause code", "cause_code", width=16),
)

MAPPING_COLUMNS: tuple[Col, ...] = (
    Col("Type", "entity", width=14),
    Col("AWRA id", "awra_id", width=12),
    Col("Name", "party", width=28),
    Col("QBO Id", "qbo_id", "link", 10),
    Col("Field", "field", width=14),
    Col("AWRA value", "awra_value", width=18),
    Col("QBO value", "qbo_value", width=18),
    Col("Blocks (transactions)", "blocks_count", "int", 12),
    Col("Blocks amount", "blocks_cents", "money", 15),
    Col("Cause", "cause", width=40),
    Col("Action", "action", width=40),
    Col("Message", "message", width=50),
    Col("Cause code", "cause_code", width=16),
)

#: The ``Account impact`` sheet: ``RunResult.accounts``, largest differences first.
ACCOUNT_COLUMNS: tuple[Col, ...] = (
    Col("QBO account", "account", width=12),
    Col("Name", "name", width=30),
    Col("Currency", "currency", width=9),
    Col("AWRA net (debit − credit)", "awra_net_cents", "money", 16),
    Col("QBO net (debit − credit)", "qbo_net_cents", "money", 16),
    Col("Difference", "difference_cents", "money", 15),
    Col("Explained", "explained_cents", "money", 15),
    Col("Unexplained", "unexplained_cents", "money", 15),
    Col("Findings", "findings", "int", 9),
    Col("Explained by", "explained_by", width=70),
)

HISTORY_COLUMNS: tuple[Col, ...] = (
    Col("History", "history_status", width=11),
    Col("First seen (UTC)", "first_seen", "timestamp", 18),
    Col("Age (days)", "age_days", "int", 10),
)

#: Written on the findings sheets once some finding carries an acknowledgement (or a lapsed one).
ACK_COLUMNS: tuple[Col, ...] = (
    Col("Acknowledged by", "ack_by", width=16),
    Col("Acknowledged at (UTC)", "ack_at", "timestamp", 18),
    Col("Acknowledged until", "ack_until", "date", 12),
    Col("Acknowledgement note", "ack_note", width=40),
    Col("Acknowledgement lapsed", "ack_lapsed", width=40),
)

#: Headers for well-known columns of the triage / safe-to-retry / escalation frames; other
#: columns get their name with underscores as spaces, capitalised.
KNOWN_HEADERS: Mapping[str, tuple[str, str, float]] = {
    "entity": ("Entity", "text", 10),
    "record_type": ("Record type", "text", 12),
    "awra_id": ("AWRA id", "text", 12),
    "awra_number": ("AWRA number", "text", 16),
    "record_number": ("AWRA number", "text", 16),
    "qbo_id": ("QBO Id", "link", 10),
    "party": ("Party", "text", 28),
    "sync_status": ("Sync status", "text", 13),
    "status": ("Status", "text", 13),
    "error_code": ("Error code", "text", 11),
    "message": ("Message", "text", 50),
    "cause": ("Cause", "text", 40),
    "action": ("Action", "text", 40),
    "retry_can_succeed": ("Retry can succeed", "bool", 10),
    "retry_safe": ("Retry safe", "bool", 10),
    "record_id": ("AWRA id", "text", 12),
    "qbo_match_id": ("QBO Id", "link", 10),
    "in_qbo": ("In QBO", "bool", 8),
    "attempted_at": ("Attempted at (UTC)", "timestamp", 18),
    "first_failed_at": ("First failed at (UTC)", "timestamp", 18),
    "updated_at": ("Updated at (UTC)", "timestamp", 18),
    "retry_count": ("Retries", "int", 8),
    "root_ref": ("Root cause", "text", 22),
    "cause_code": ("Cause code", "text", 16),
    "reason": ("Reason", "text", 40),
    "connector": ("Connector", "text", 10),
    "record_numbers": ("AWRA numbers", "text", 30),
    "sync_run_ids": ("Sync runs", "text", 20),
    "expected_qbo_result": ("Expected QBO result", "text", 40),
    "changed_recently": ("Changed recently", "text", 20),
    "module": ("Module", "text", 12),
    "branch": ("Branch", "text", 12),
    "warehouse": ("Warehouse", "text", 12),
    "user": ("User", "text", 14),
    "count": ("Count", "int", 8),
}
ESCALATION_KEY_ORDER: tuple[str, ...] = (
    "reason",
    "connector",
    "status",
    "error_code",
    "message",
    "count",
    "retry_count",
    "record_numbers",
    "sync_run_ids",
    "expected_qbo_result",
    "changed_recently",
    "module",
    "branch",
    "warehouse",
    "user",
)


def write_workbook(result: RunResult, path: Path) -> None:
    """Write the run's workbook to ``path`` (deterministic for the same ``result``)."""
    writer = _WorkbookWriter(result, Path(path))
    writer.write()


def _money_cells(
    amounts: Mapping[str, int], fmt: _Formats, *, zero: bool = False
) -> list[tuple[str, Any, Format | None]]:
    """An amount and its currency as two cells (a number when in one currency, else text)."""
    present = {c: v for c, v in amounts.items() if v or not zero}
    if len(present) <= 1:
        currency, cents = next(iter(present.items()), ("", 0))
        return [("money", cents, fmt.money), ("text", currency, None)]
    return [("text", amounts_text(present), None)]


class _Formats:
    """The workbook's shared cell formats."""

    def __init__(self, wb: xlsxwriter.Workbook):
        self.header = wb.add_format({"bold": True, "bg_color": "#DDEBF7", "bottom": 1, "text_wrap": True})
        self.title = wb.add_format({"bold": True, "font_size": 14})
        self.section = wb.add_format({"bold": True, "font_size": 12, "font_color": "#1F4E79"})
        self.label = wb.add_format({"bold": True})
        self.money = wb.add_format({"num_format": MONEY_FORMAT})
        self.money_bold = wb.add_format({"num_format": MONEY_FORMAT, "bold": True, "top": 1})
        self.int = wb.add_format({"num_format": INT_FORMAT})
        self.date = wb.add_format({"num_format": DATE_FORMAT, "align": "left"})
        self.timestamp = wb.add_format({"num_format": TIMESTAMP_FORMAT, "align": "left"})
        self.link = wb.add_format({"font_color": "#0563C1", "underline": 1})
        self.good = wb.add_format({"bold": True, "font_color": "#006100", "bg_color": "#C6EFCE"})
        self.bad = wb.add_format({"bold": True, "font_color": "#9C0006", "bg_color": "#FFC7CE"})


class _WorkbookWriter:
    def __init__(self, result: RunResult, path: Path):
        self.result = result
        self.path = path
        self.notes: list[str] = []
        self.links = _LinkBudget(result.params.qbo_environment)

    def write(self) -> None:
        result = self.result
        wb = xlsxwriter.Workbook(
            str(self.path),
            {
                "constant_memory": True,
                "strings_to_numbers": False,
                "strings_to_formulas": False,
                "strings_to_urls": False,
                "nan_inf_to_errors": True,
            },
        )
        created = result.params.now.astimezone(UTC).replace(tzinfo=None)
        wb.set_properties({"title": f"Reconciliation {result.params.run_id}", "created": created})
        fmt = _Formats(wb)
        findings = result.findings
        groups = self._category_positions(findings)
        sheet_names = self._sheet_names([c for c, _ in groups])
        sheet_names[ACKNOWLEDGED_SHEET] = ACKNOWLEDGED_SHEET
        # Summary first: it needs the notes of truncated sheets, so work those out now.
        for category, positions in groups:
            if len(positions) > EXCEL_MAX_DATA_ROWS:
                self.notes.append(
                    f"Sheet {sheet_names[category]!r} holds the first {EXCEL_MAX_DATA_ROWS:,} of "
                    f"{len(positions):,} rows; every finding is in findings.csv."
                )
        self._write_summary(wb.add_worksheet(SUMMARY_SHEET), fmt, sheet_names)
        _write_table(wb.add_worksheet(ACCOUNTS_SHEET), fmt, ACCOUNT_COLUMNS, result.accounts)
        extra = HISTORY_COLUMNS if has_finding_history(findings) else ()
        if has_acknowledgements(findings):
            extra = (*extra, *ACK_COLUMNS)
        for category, positions in groups:
            cols = (MAPPING_COLUMNS if category in MAPPING_CATEGORIES else TRANSACTION_COLUMNS) + extra
            frame = findings.iloc[positions[:EXCEL_MAX_DATA_ROWS]]
            _write_table(wb.add_worksheet(sheet_names[category]), fmt, cols, frame, self.links)
            del frame
        acknowledged = findings[acknowledged_mask(findings)] if len(findings) else findings
        if len(acknowledged):
            _write_table(
                wb.add_worksheet(sheet_names[ACKNOWLEDGED_SHEET]),
                fmt,
                (Col("Category", "category", "category", 20), *TRANSACTION_COLUMNS, *extra),
                order_findings(acknowledged, by_money=True),
                self.links,
            )
        mapping = findings[findings["category"].isin(MAPPING_CATEGORIES).fillna(False).astype(bool)]
        _write_table(
            wb.add_worksheet(MAPPING_GAPS_SHEET),
            fmt,
            (Col("Category", "category", "category", 20), *MAPPING_COLUMNS, *extra),
            order_findings(mapping, by_money=True),
            self.links,
        )
        for name, frame in ((TRIAGE_SHEET, _plain_causes(result.triage)), (SAFE_TO_RETRY_SHEET, result.safe_to_retry)):
            frame = frame if isinstance(frame, pd.DataFrame) else pd.DataFrame()
            _write_table(wb.add_worksheet(name), fmt, _generic_columns(frame), frame, self.links)
        escalations = _escalation_frame(result.escalations)
        _write_table(wb.add_worksheet(ESCALATIONS_SHEET), fmt, _generic_columns(escalations), escalations)
        params = _parameter_frame(result)
        _write_table(
            wb.add_worksheet(PARAMETERS_SHEET),
            fmt,
            (Col("Parameter", "parameter", width=30), Col("Value", "value", "any", 60)),
            params,
        )
        wb.close()

    @staticmethod
    def _category_positions(findings: pd.DataFrame) -> list[tuple[str, np.ndarray]]:
        """Per category present, the positions of its findings in sheet order (no copies yet)."""
        if not len(findings):
            return []
        groups = findings.groupby(findings["category"].astype("string"), sort=False, dropna=True).indices
        keys = ["entity", "awra_number", "awra_id", "qbo_id", "field", "amount_cents", "blocks_cents"]
        out: list[tuple[str, np.ndarray]] = []
        for category in categories_in_order(findings["category"]):
            positions = np.asarray(groups[category])
            order = order_positions(findings[keys].iloc[positions], by_money=False)
            out.append((category, positions[order]))
        return out

    @staticmethod
    def _sheet_names(categories: Sequence[str]) -> dict[str, str]:
        taken = {
            n.lower()
            for n in (
                SUMMARY_SHEET,
                ACCOUNTS_SHEET,
                MAPPING_GAPS_SHEET,
                TRIAGE_SHEET,
                SAFE_TO_RETRY_SHEET,
                ESCALATIONS_SHEET,
                PARAMETERS_SHEET,
                ACKNOWLEDGED_SHEET,
            )
        }
        names: dict[str, str] = {}
        for category in categories:
            base = clean_text(category_title(category))
            base = "".join(ch for ch in base if ch not in "[]:*?/\\").strip("' ")[:31] or "Findings"
            name, n = base, 2
            while name.lower() in taken:
                suffix = f" ({n})"
                name, n = base[: 31 - len(suffix)] + suffix, n + 1
            taken.add(name.lower())
            names[category] = name
        return names

    def _write_summary(self, ws: Worksheet, fmt: _Formats, sheet_names: Mapping[str, str]) -> None:
        result = self.result
        p = result.params
        head = headline(result)
        ws.set_column(0, 0, 34)
        ws.set_column(1, 8, 16)
        rows = _Rows(ws)
        rows.put([("text", f"QBO reconciliation — {p.company_name}", fmt.title)])
        ws.freeze_panes(1, 0)
        rows.skip()
        meta: list[tuple[str, Any, str]] = [
            ("Company", f"{p.company_name} ({p.company})", "text"),
            ("From", p.date_from, "date"),
            ("To", p.date_to, "date"),
            ("Status filter", p.status, "text"),
            ("Entities", ", ".join(p.entities), "text"),
            ("Run id", p.run_id, "text"),
            ("Run at (UTC)", p.now, "timestamp"),
        ]
        meta += [(f"Source: {key}", str(value), "text") for key, value in sorted(result.sources.items())]
        for label, value, kind in meta:
            rows.put([("text", label, fmt.label), (kind, value, None)], fmt)
        rows.skip()
        rows.put([("text", "Result", fmt.section)])
        rows.put(
            [
                ("text", "Ties out", fmt.label),
                ("text", "Yes" if head.ties_out else "No", fmt.good if head.ties_out else fmt.bad),
            ]
        )
        rows.put([("text", "Unexplained", fmt.label), *_money_cells(head.unexplained_by_currency, fmt, zero=True)])
        rows.put([("text", "Open findings", fmt.label), ("int", head.open_findings, fmt.int)])
        if head.acknowledged:
            rows.put([("text", "Need action", fmt.label), ("int", head.action_findings, fmt.int)])
            rows.put([("text", "Acknowledged", fmt.label), ("int", head.acknowledged, fmt.int)])
        rows.put([("text", "Money at stake", fmt.label), *_money_cells(head.money_at_stake_by_currency, fmt)])
        for note in self.notes:
            rows.put([("text", "Note", fmt.label), ("text", note, None)])
        rows.skip()

        rows.put([("text", "Totals per entity and currency", fmt.section)])
        headers = [
            "Entity",
            "Currency",
            "AWRA records",
            "QBO records",
            "AWRA total",
            "QBO total",
            "Difference",
            "Explained",
            "Unexplained",
        ]
        rows.put([("text", h, fmt.header) for h in headers])
        for t in totals_rows(result):
            rows.put(
                [
                    ("text", t.entity, None),
                    ("text", t.currency, None),
                    ("int", t.awra_count, fmt.int),
                    ("int", t.qbo_count, fmt.int),
                    ("money", t.awra_total_cents, fmt.money),
                    ("money", t.qbo_total_cents, fmt.money),
                    ("money", t.difference_cents, fmt.money),
                    ("money", t.explained_cents, fmt.money),
                    ("money", t.unexplained_cents, fmt.money),
                ]
            )
        rows.skip()

        rows.put([("text", "Tie-out bridge", fmt.section)])
        rows.put([("text", h, fmt.header) for h in ("Entity", "Line", "Amount")])
        for entity, lines in bridge_lines(result):
            for line in lines:
                money_fmt = fmt.money_bold if line.kind in ("difference", "unexplained") else fmt.money
                rows.put([("text", entity, None), ("text", line.label, None), ("money", line.cents, money_fmt)])
        rows.skip()

        rows.put([("text", "Findings by category", fmt.section)])
        counts = category_counts(result)
        with_history = has_finding_history(result.findings)
        headers = ["Category", "Sheet", "Findings", "Amount", "Currency"] + (
            ["New", "Persisting", "Reopened"] if with_history else []
        )
        first = rows.row
        rows.put([("text", h, fmt.header) for h in headers])
        for cc in counts:
            cells: list[tuple[str, Any, Format | None]] = [
                ("text", cc.title, None),
                ("sheetlink", sheet_names.get(cc.category, ""), fmt.link),
                ("int", cc.count, fmt.int),
                ("money", cc.amount_cents, fmt.money)
                if cc.amount_cents is not None
                else ("text", amounts_text(cc.amounts), None),
                ("text", ", ".join(sorted(c for c in cc.amounts if c)), None),
            ]
            cells += [("int", cc.history.get(s, 0), fmt.int) for s in ("new", "persisting", "reopened") if with_history]
            rows.put(cells)
        ws.autofilter(first, 0, rows.row - 1, len(headers) - 1)
        rows.put([("text", "Total", fmt.label), ("text", "", None), ("int", head.open_findings, fmt.int)])
        rows.skip()

        hist = result.history
        if hist:
            rows.put([("text", "Run history (against the previous run)", fmt.section)])
            for key, n in history_counts(hist):
                rows.put([("text", key.capitalize(), fmt.label), ("int", n, fmt.int)])
            aging = history_aging(hist)
            if aging:
                rows.skip()
                rows.put([("text", h, fmt.header) for h in ("Age in days", "Persisting findings")])
                for label, n in aging:
                    rows.put([("text", label, None), ("int", n, fmt.int)])
            trend = history_trend(hist)
            if trend:
                rows.skip()
                rows.put([("text", h, fmt.header) for h in ("Recent run", "Date", "Open findings")])
                for point in trend:
                    rows.put(
                        [("text", point.run_id, None), ("datetext", point.date, fmt.date), ("int", point.open, fmt.int)]
                    )


class _Rows:
    """Writes the Summary sheet row by row (constant-memory mode needs rows in order)."""

    def __init__(self, ws: Worksheet):
        self.ws = ws
        self.row = 0

    def skip(self) -> None:
        self.row += 1

    def put(self, cells: Sequence[tuple[str, Any, Format | None]], fmt: _Formats | None = None) -> None:
        ws, r = self.ws, self.row
        for c, (kind, value, cell_fmt) in enumerate(cells):
            if value is None:
                continue
            if kind == "text":
                ws.write_string(r, c, clean_text(str(value)), cell_fmt)
            elif kind == "money":
                ws.write_number(r, c, int(value) / 100, cell_fmt)
            elif kind == "int":
                ws.write_number(r, c, int(value), cell_fmt)
            elif kind == "date" and fmt is not None:
                ws.write_datetime(r, c, datetime(value.year, value.month, value.day), fmt.date)  # noqa: DTZ001
            elif kind == "timestamp" and fmt is not None:
                ws.write_datetime(r, c, value.astimezone(UTC).replace(tzinfo=None), fmt.timestamp)
            elif kind == "datetext":
                try:
                    d = date.fromisoformat(str(value))
                except ValueError:
                    ws.write_string(r, c, clean_text(str(value)))
                else:
                    ws.write_datetime(r, c, datetime(d.year, d.month, d.day), cell_fmt)  # noqa: DTZ001
            elif kind == "sheetlink":
                if value:
                    target = str(value).replace("'", "''")
                    ws.write_url(r, c, f"internal:'{target}'!A1", cell_fmt, string=str(value))
            else:
                raise ValueError(f"unknown summary cell kind {kind!r}")
        self.row += 1


_Writer = Callable[[int, int, Any], Any]


#: Sheets with at least this many rows take the vectorized fast path.
FAST_PATH_MIN_ROWS = 2_000


def _write_table(
    ws: Worksheet, fmt: _Formats, cols: Sequence[Col], frame: pd.DataFrame, links: _LinkBudget | None = None
) -> None:
    """A header row, then one row per frame row, with frozen header, autofilter and widths."""
    frame = frame.iloc[:EXCEL_MAX_DATA_ROWS]
    n = len(frame)
    for c, col in enumerate(cols):
        ws.set_column(c, c, col.width)
        ws.write_string(0, c, col.header, fmt.header)
    ws.freeze_panes(1, 0)
    ws.autofilter(0, 0, max(n, 1) if n else 0, max(len(cols) - 1, 0))
    if not n or not cols:
        return
    links = links if links is not None else _LinkBudget()
    # the vectorized path has a fixed cost per column (~20 ms): it pays off on big sheets only
    if n >= FAST_PATH_MIN_ROWS and _fast_path_available(ws) and all(col.kind != "any" for col in cols):
        _write_rows_fast(ws, fmt, cols, frame, links)
        return
    prepared: list[tuple[int, list[Any], _Writer]] = []
    for c, col in enumerate(cols):
        values, writer = _prepare(ws, fmt, col, frame, links)
        prepared.append((c, values, writer))
    for r in range(n):
        row = r + 1
        for c, values, writer in prepared:
            v = values[r]
            if v is not None:
                writer(row, c, v)


class _LinkBudget:
    """Real hyperlinks left: at most ``REAL_LINK_BUDGET`` per workbook (Excel: 65,530 a sheet).

    ``environment``: the company's QBO (``production`` or ``sandbox``), whose app the links open.
    """

    def __init__(self, environment: str = "production") -> None:
        self.used = 0
        self.environment = environment

    def take(self) -> bool:
        """True (and one fewer left) when a real hyperlink may still be written."""
        if self.used >= min(REAL_LINK_BUDGET, EXCEL_MAX_URLS):
            return False
        self.used += 1
        return True


def _prepare(
    ws: Worksheet, fmt: _Formats, col: Col, frame: pd.DataFrame, links: _LinkBudget
) -> tuple[list[Any], _Writer]:
    """The column's values as a list (``None`` = blank) and the function that writes one."""
    n = len(frame)
    if col.source not in frame.columns:
        return [None] * n, ws.write_string
    series = frame[col.source]
    kind = col.kind
    if kind == "money":
        return _numbers(series, scale=100), _bind(ws.write_number, fmt.money)
    if kind in ("int", "number"):
        return _numbers(series, scale=1), _bind(ws.write_number, fmt.int if kind == "int" else None)
    if kind == "date":
        return _excel_dates(series), _bind(ws.write_number, fmt.date)
    if kind == "timestamp":
        return _excel_dates(series), _bind(ws.write_number, fmt.timestamp)
    if kind == "bool":
        values = series.astype("boolean")
        return [None if v is pd.NA else bool(v) for v in values.tolist()], ws.write_boolean
    if kind == "category":
        return [category_title(v) if v is not None else None for v in clean_series(series)], ws.write_string
    if kind == "link":
        return _links(ws, fmt, frame, series, links)
    if kind == "difference":
        return _differences(ws, fmt, frame, series)
    if kind == "any":
        return _any_values(ws, fmt, series)
    return clean_series(series), ws.write_string


def _bind(method: Callable[..., Any], cell_format: Format | None) -> _Writer:
    def write(row: int, col: int, value: Any) -> Any:
        return method(row, col, value, cell_format)

    return write


def _numbers(series: pd.Series, *, scale: int) -> list[Any]:
    numeric = pd.to_numeric(series, errors="coerce")
    arr = numeric.astype("float64").to_numpy(na_value=np.nan) if len(numeric) else np.array([])
    if scale != 1:
        arr = arr / scale
    missing = np.isnan(arr)
    values: list[Any] = arr.tolist()
    if missing.any():
        for pos in np.flatnonzero(missing):
            values[pos] = None
    if scale == 1:
        return [int(v) if v is not None and float(v).is_integer() else v for v in values]
    return values


def _excel_dates(series: pd.Series) -> list[Any]:
    """Dates / timestamps as Excel serial day numbers (timestamps in UTC)."""
    if isinstance(series.dtype, pd.DatetimeTZDtype):
        series = series.dt.tz_convert("UTC").dt.tz_localize(None)
    elif not pd.api.types.is_datetime64_dtype(series.dtype):
        series = pd.to_datetime(series, errors="coerce", utc=True).dt.tz_localize(None)
    arr = series.to_numpy(dtype="datetime64[ns]")
    missing = np.isnat(arr)
    serial = ((arr - _EXCEL_EPOCH) / np.timedelta64(1, "D")).astype("float64")
    values: list[Any] = serial.tolist()
    for pos in np.flatnonzero(missing):
        values[pos] = None
    return values


def _links(
    ws: Worksheet, fmt: _Formats, frame: pd.DataFrame, series: pd.Series, links: _LinkBudget
) -> tuple[list[Any], _Writer]:
    ids = clean_series(series, 255)
    entities = _entities(frame)
    values: list[Any] = []
    for entity, qbo_id in zip(entities, ids, strict=True):
        if qbo_id is None:
            values.append(None)
            continue
        url = qbo_url(entity if isinstance(entity, str) else None, qbo_id, links.environment)
        values.append((qbo_id, url))

    def write(row: int, col: int, value: tuple[str, str | None]) -> Any:
        text, url = value
        if url is None:
            return ws.write_string(row, col, text)
        if links.take():
            return ws.write_url(row, col, url, fmt.link, string=text)
        formula = '=HYPERLINK("{}","{}")'.format(url.replace('"', '""'), text.replace('"', '""'))
        return ws.write_formula(row, col, formula, fmt.link, text)

    return values, write


def _entities(frame: pd.DataFrame) -> list[Any]:
    """The record type of each row (``entity``, else a triage frame's ``record_type``)."""
    for name in ("entity", "record_type"):
        if name in frame.columns:
            return frame[name].astype("string").tolist()
    return [None] * len(frame)


def _differences(ws: Worksheet, fmt: _Formats, frame: pd.DataFrame, series: pd.Series) -> tuple[list[Any], _Writer]:
    texts = clean_series(series)
    numeric = pd.to_numeric(series.astype("string").str.strip(), errors="coerce").astype("float64").to_numpy()
    fields = frame["field"].astype("string").tolist() if "field" in frame.columns else [None] * len(frame)
    values: list[Any] = []
    for text, number, field in zip(texts, numeric.tolist(), fields, strict=True):
        if text is None:
            values.append(None)
        elif np.isfinite(number):
            values.append((number, fmt.money if field in _MONEY_FIELDS else fmt.int))
        else:
            values.append(text)

    def write(row: int, col: int, value: Any) -> Any:
        if isinstance(value, str):
            return ws.write_string(row, col, value)
        return ws.write_number(row, col, value[0], value[1])

    return values, write


def _any_values(ws: Worksheet, fmt: _Formats, series: pd.Series) -> tuple[list[Any], _Writer]:
    """A Parameters value: text, number, date or timestamp per row."""

    def write(row: int, col: int, value: Any) -> Any:
        if isinstance(value, bool):
            return ws.write_boolean(row, col, value)
        if isinstance(value, int | float):
            return ws.write_number(row, col, value)
        if isinstance(value, datetime):
            return ws.write_datetime(row, col, value.astimezone(UTC).replace(tzinfo=None), fmt.timestamp)
        if isinstance(value, date):
            return ws.write_datetime(row, col, datetime(value.year, value.month, value.day), fmt.date)  # noqa: DTZ001
        return ws.write_string(row, col, clean_text(str(value)))

    return [None if v is None else v for v in series.tolist()], write


def _generic_columns(frame: pd.DataFrame) -> tuple[Col, ...]:
    """Columns for a frame whose shape other stages own: known names first, then the rest."""
    if not isinstance(frame, pd.DataFrame) or frame.columns.empty:
        return (Col("Entity", "entity", width=10), Col("Message", "message", width=50))
    cols = []
    for name in frame.columns:
        name = str(name)
        if name in KNOWN_HEADERS:
            header, kind, width = KNOWN_HEADERS[name]
            actual = _kind_of(frame[name])
            if kind in ("timestamp", "date", "bool", "int"):
                kind = actual  # trust the column's dtype: never coerce a producer's values away
        else:
            header, kind, width = _header_of(name), _kind_of(frame[name]), 16
            if kind == "money":
                header = header.removesuffix(" cents")
        cols.append(Col(clean_text(header)[:255], name, kind, width))
    # The same header twice would confuse a reader: number repeats.
    seen: dict[str, int] = {}
    out = []
    for col in cols:
        seen[col.header] = seen.get(col.header, 0) + 1
        out.append(
            col if seen[col.header] == 1 else dataclasses.replace(col, header=f"{col.header} ({seen[col.header]})")
        )
    return tuple(out)


def _header_of(name: str) -> str:
    """``qbo_match_id`` -> ``QBO match id``: words spaced, first capitalised, QBO/AWRA in capitals."""
    words = [w for w in name.split("_") if w]
    if not words:
        return name
    words = [{"qbo": "QBO", "awra": "AWRA"}.get(w.lower(), w) for w in words]
    first = words[0]
    words[0] = first if first.isupper() else first.capitalize()
    return " ".join(words)


def _kind_of(series: pd.Series) -> str:
    dtype = series.dtype
    name = str(series.name)
    if isinstance(dtype, pd.DatetimeTZDtype):
        return "timestamp"
    if pd.api.types.is_datetime64_dtype(dtype):
        return "date"
    if pd.api.types.is_bool_dtype(dtype):
        return "bool"
    if pd.api.types.is_integer_dtype(dtype):
        return "money" if name.endswith("_cents") else "int"
    if pd.api.types.is_float_dtype(dtype):
        return "number"
    return "text"


def _plain_causes(triage: pd.DataFrame) -> pd.DataFrame:
    """The triage frame with its cause codes as sentences, the codes kept in a last ``cause_code`` column."""
    if not isinstance(triage, pd.DataFrame) or "cause" not in triage.columns or "cause_code" in triage.columns:
        # not a frame (an early producer), or its causes are already sentences
        return triage
    codes = triage["cause"].astype("string")
    if not bool(codes.isin(CAUSES).fillna(False).any()):
        return triage
    return triage.assign(cause=cause_sentences(codes), cause_code=codes)


def _escalation_frame(escalations: Sequence[Mapping[str, Any]]) -> pd.DataFrame:
    """Escalation packets as rows: known keys first, other keys sorted; lists joined."""
    if not escalations:
        return pd.DataFrame({k: pd.Series([], dtype="string") for k in ESCALATION_KEY_ORDER[:5]})
    keys = [k for k in ESCALATION_KEY_ORDER if any(k in e for e in escalations)]
    keys += sorted({str(k) for e in escalations for k in e} - set(keys))
    data: dict[str, list[Any]] = {k: [_plain(e.get(k)) for e in escalations] for k in keys}
    frame = pd.DataFrame(data)
    for k in keys:
        if k not in ("count", "retry_count"):
            frame[k] = frame[k].astype("string")
        else:
            frame[k] = pd.to_numeric(frame[k], errors="coerce").astype("Int64")
    return frame


def _plain(value: Any) -> Any:
    if value is None:
        return None
    if isinstance(value, str | int | float):
        return value
    if isinstance(value, list | tuple | set | frozenset):
        items = sorted(value, key=str) if isinstance(value, set | frozenset) else value
        if any(isinstance(v, Mapping) for v in items):
            return "; ".join(json.dumps(v, sort_keys=True, default=str, ensure_ascii=False) for v in items)
        return ", ".join(str(v) for v in items)
    if isinstance(value, Mapping):
        return json.dumps(value, sort_keys=True, default=str, ensure_ascii=False)
    return str(value)


def _parameter_frame(result: RunResult) -> pd.DataFrame:
    """The run parameters and sources as (parameter, value) rows."""
    rows: list[tuple[str, Any]] = []
    for f in dataclasses.fields(result.params):
        value = getattr(result.params, f.name)
        if dataclasses.is_dataclass(value) and not isinstance(value, type):
            rows += [(f"{f.name}.{k}", v) for k, v in dataclasses.asdict(value).items()]
        elif isinstance(value, tuple | list):
            rows.append((f.name, ", ".join(str(v) for v in value)))
        else:
            rows.append((f.name, value))
    rows += [(f"source.{k}", str(v)) for k, v in sorted(result.sources.items())]
    return pd.DataFrame({"parameter": [r[0] for r in rows], "value": pd.Series([r[1] for r in rows], dtype=object)})


# --- The fast path -------------------------------------------------------------------------
#
# Writing cell by cell through XlsxWriter costs about 10 µs a cell, most of it in building the
# XML of each cell. For the findings sheets (up to a million rows) the fast path builds the
# same XML (``<row>``/``<c>`` elements exactly as XlsxWriter writes them in constant-memory
# mode: inline strings, style indexes of the workbook's shared formats) column by column with
# vectorized string operations, and appends it to the worksheet's row-data stream. It uses
# XlsxWriter internals (pinned to XlsxWriter 3.x); when they are not there, the cell-by-cell
# path above is used instead. Tests check both paths read back identically.

_FAST_CHUNK = 10_000
_RAW_ATTRS = ("fh", "_write_single_row", "_check_dimensions", "hyperlinks", "hlink_count", "previous_row")


def _fast_path_available(ws: Worksheet) -> bool:
    return bool(getattr(ws, "constant_memory", False)) and all(hasattr(ws, a) for a in _RAW_ATTRS)


def _column_letter(index: int) -> str:
    letters = ""
    index += 1
    while index:
        index, rem = divmod(index - 1, 26)
        letters = chr(65 + rem) + letters
    return letters


def _xml_escape(values: pd.Series) -> pd.Series:
    """Cleaned text as XML element content, with Excel's ``_xHHHH_`` escaping of CR."""
    v = values
    if bool(v.str.contains("[&<>]", regex=True).fillna(False).any()):
        v = v.str.replace("&", "&amp;", regex=False).str.replace("<", "&lt;", regex=False)
        v = v.str.replace(">", "&gt;", regex=False)
    if bool(v.str.contains("_x|\r", regex=True).fillna(False).any()):
        v = v.str.replace(r"(_x[0-9a-fA-F]{4}_)", r"_x005F\1", regex=True)
        v = v.str.replace("\r", "_x000D_", regex=False)
    return v


def _style(cell_format: Format | None) -> str:
    return f' s="{cell_format._get_xf_index()}"' if cell_format is not None else ""


def _text_cells(ref: pd.Series, values: pd.Series, cell_format: Format | None = None) -> pd.Series:
    body = _xml_escape(values)
    head = '<c r="' + ref + '"' + _style(cell_format) + ' t="inlineStr"><is>'
    # Leading or trailing white space must be kept explicitly (as XlsxWriter does).
    preserve = values.str.contains(r"^\s|\s$", regex=True).fillna(False).astype(bool)
    if bool(preserve.any()):
        head = head + pd.Series(
            np.where(preserve, '<t xml:space="preserve">', "<t>"), index=values.index, dtype="string"
        )
    else:
        head = head + "<t>"
    return head + body + "</t></is></c>"


def _number_cells(ref: pd.Series, numbers: pd.Series, cell_format: Format | None) -> pd.Series:
    return '<c r="' + ref + '"' + _style(cell_format) + "><v>" + numbers + "</v></c>"


def _cents_text(series: pd.Series) -> pd.Series:
    """Integer cents as exact decimal text (``-1234.05``); missing stays missing."""
    cents = pd.to_numeric(series, errors="coerce").astype("Int64")
    absolute = cents.abs()
    text = (absolute // 100).astype("string") + "." + (absolute % 100).astype("string").str.zfill(2)
    return text.where(cents >= 0, "-" + text)


def _serial_text(series: pd.Series) -> pd.Series:
    values = _excel_dates(series)
    return pd.Series(
        [None if v is None else (str(int(v)) if float(v).is_integer() else repr(v)) for v in values],
        dtype="string",
        index=series.index,
    )


def _as_string(values: list[str | None], index: pd.Index) -> pd.Series:
    return pd.Series(values, dtype="string", index=index)


def _fast_column(
    ws: Worksheet, fmt: _Formats, col: Col, c: int, frame: pd.DataFrame, ref: pd.Series, links: _LinkBudget
) -> pd.Series:
    """One column's cell XML for the chunk (empty string for blank cells)."""
    if col.source not in frame.columns:
        return pd.Series("", index=frame.index, dtype="string")
    series = frame[col.source]
    kind = col.kind
    if kind == "money":
        out = _number_cells(ref, _cents_text(series), fmt.money)
    elif kind in ("int", "number"):
        numbers = pd.to_numeric(series, errors="coerce")
        text = numbers.astype("Int64").astype("string") if kind == "int" else numbers.astype("string")
        out = _number_cells(ref, text, fmt.int if kind == "int" else None)
    elif kind in ("date", "timestamp"):
        out = _number_cells(ref, _serial_text(series), fmt.date if kind == "date" else fmt.timestamp)
    elif kind == "bool":
        flags = series.astype("boolean")
        out = '<c r="' + ref + '" t="b"><v>' + flags.astype("Int64").astype("string") + "</v></c>"
    elif kind == "category":
        titles = [None if v is None else category_title(v) for v in clean_series(series)]
        out = _text_cells(ref, _as_string(titles, frame.index))
    elif kind == "difference":
        out = _fast_differences(fmt, frame, series, ref)
    elif kind == "link":
        out = _fast_links(ws, fmt, frame, series, ref, c, links)
    else:
        out = _text_cells(ref, clean_strings(series))
    return out.fillna("")


def _fast_differences(fmt: _Formats, frame: pd.DataFrame, series: pd.Series, ref: pd.Series) -> pd.Series:
    text = clean_strings(series)
    stripped = text.str.strip()
    numeric = stripped.str.fullmatch(r"[-+]?\d+(\.\d+)?").fillna(False).astype(bool)
    fields = frame["field"].astype("string") if "field" in frame.columns else pd.Series(pd.NA, index=frame.index)
    is_money = fields.isin(_MONEY_FIELDS).fillna(False).astype(bool)
    money = _number_cells(ref, stripped.str.lstrip("+"), fmt.money)
    count = _number_cells(ref, stripped.str.lstrip("+"), fmt.int)
    as_text = _text_cells(ref, text)
    return as_text.where(~numeric, money.where(is_money, count))


def _fast_links(
    ws: Worksheet,
    fmt: _Formats,
    frame: pd.DataFrame,
    series: pd.Series,
    ref: pd.Series,
    c: int,
    links: _LinkBudget,
) -> pd.Series:
    from xlsxwriter.url import Url

    ids = clean_series(series, 255)
    entities = _entities(frame)
    urls = [
        None if i is None else qbo_url(e if isinstance(e, str) else None, i, links.environment)
        for e, i in zip(entities, ids, strict=True)
    ]
    text = _as_string(ids, frame.index)
    n = len(frame)
    linked = np.zeros(n, dtype=bool)
    formulas: list[str | None] = [None] * n
    rows = frame.index.to_numpy()
    for pos, url in enumerate(urls):
        if url is None:
            continue
        if links.take():
            ws.hlink_count += 1
            link = Url(url)
            link.text = str(ids[pos])
            ws.hyperlinks[int(rows[pos]) + 1][c] = link
            linked[pos] = True
        else:
            formulas[pos] = 'HYPERLINK("{}","{}")'.format(url.replace('"', '""'), str(ids[pos]).replace('"', '""'))
    out = _text_cells(ref, text)
    if linked.any():
        out = out.where(~linked, _text_cells(ref, text, fmt.link))
    if any(f is not None for f in formulas):
        f_text = _xml_escape(_as_string(formulas, frame.index))
        f_cells = (
            '<c r="'
            + ref
            + '"'
            + _style(fmt.link)
            + ' t="str"><f>'
            + f_text
            + "</f><v>"
            + _xml_escape(text)
            + "</v></c>"
        )
        out = out.where(f_text.isna(), f_cells)
    return out


def _write_rows_fast(
    ws: Worksheet, fmt: _Formats, cols: Sequence[Col], frame: pd.DataFrame, links: _LinkBudget
) -> None:
    n = len(frame)
    # Flush the header row and move XlsxWriter's row cursor past the rows written here.
    ws._check_dimensions(n, len(cols) - 1)
    ws._write_single_row(n + 1)
    letters = [_column_letter(c) for c, _ in enumerate(cols)]
    for start in range(0, n, _FAST_CHUNK):
        chunk = frame.iloc[start : start + _FAST_CHUNK].reset_index(drop=True)
        chunk.index = pd.RangeIndex(start, start + len(chunk))
        row_numbers = pd.Series(np.arange(start + 2, start + 2 + len(chunk)), index=chunk.index).astype("string")
        xml = '<row r="' + row_numbers + '">'
        for c, col in enumerate(cols):
            xml = xml + _fast_column(ws, fmt, col, c, chunk, letters[c] + row_numbers, links)
        xml = xml + "</row>"
        ws.fh.write("".join(xml.tolist()))
