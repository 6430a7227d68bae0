"""The email-ready HTML report (``report.html``).

Summary first (does it tie out, unexplained amount, open findings, money at stake; totals and
the tie-out bridge per entity; the chart; with history, the counts against the last run and
the trend), then the top findings of each category ("all N are in the workbook"), mapping
gaps with the money they block, escalations.

Email-safe by construction: table layout, inline styles written in the template (no
``<style>`` block for a client to drop), no script, and a body kept under ``BODY_LIMIT``
bytes whatever the number of findings: if the page would be larger, fewer rows per category
are shown. Jinja2 runs with ``autoescape=True`` for every template (``select_autoescape()``
would not cover ``*.j2``), so names such as ``<script>`` arrive as text.
"""

from __future__ import annotations

import base64
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, date
from pathlib import Path
from typing import Any

import jinja2
import numpy as np
import pandas as pd

from reconcile.links import qbo_url
from reconcile.model import RunResult
from reports._common import (
    CATEGORY_TITLES,
    FIELD_WORDS,
    INFORMATIONAL_CATEGORIES,
    MAPPING_CATEGORIES,
    Headline,
    account_rows,
    acknowledged_mask,
    amounts_text,
    bridge_lines,
    categories_in_order,
    category_counts,
    category_title,
    cents_text,
    field_words,
    has_finding_history,
    headline,
    history_aging,
    history_counts,
    history_trend,
    int_or_none,
    money_text,
    order_positions,
    shorten,
    text_or_none,
    totals_rows,
)
from reports.chart import ChartImage, chart_images, findings_chart_png
from reports.excel import (
    ACKNOWLEDGED_SHEET,
    ESCALATIONS_SHEET,
    MAPPING_GAPS_SHEET,
    SAFE_TO_RETRY_SHEET,
    TRIAGE_SHEET,
)

#: Gmail clips a message body past about 102 KB; stay under this.
BODY_LIMIT = 100_000
TEMPLATE = "report.html.j2"
_TEXT_LIMIT = 140
#: Accounts shown in the report's "Account impact" (largest differences first; all in the workbook).
ACCOUNT_ROWS = 10
_NAME_LIMIT = 48
_MAX_ESCALATION_NUMBERS = 10

_ENV = jinja2.Environment(
    loader=jinja2.PackageLoader("reports", "templates"),
    autoescape=True,
    undefined=jinja2.StrictUndefined,
    trim_blocks=True,
    lstrip_blocks=True,
    keep_trailing_newline=True,
)


def render_html(
    result: RunResult, *, chart_src: str, max_rows_per_category: int = 10, workbook_location: str = ""
) -> str:
    """The report as one HTML document.

    ``chart_src`` says how the charts are embedded: a value starting with ``cid:`` (e.g.
    ``cid:findings-chart``) links each chart by its Content-ID (``cid:<ChartImage.cid>``, for
    the email, which attaches ``chart_images(result)``); any other value (e.g. a ``data:`` URI)
    embeds every chart as a data URI (the standalone file).

    Shows at most ``max_rows_per_category`` findings per category, fewer if the page would
    otherwise exceed ``BODY_LIMIT`` bytes (not counting data-URI charts). ``workbook_location``
    (a path, or an http(s) URL shown as a link) says near the top where the workbook is, for an
    email sent without it.
    """
    base = dict(_base_context(result), workbook=_workbook_notice(workbook_location))
    images = chart_images(result)
    by_cid = chart_src.startswith("cid:")
    rows = max(0, int(max_rows_per_category))
    while True:
        context = dict(base, **_row_context(result, rows))
        html = _ENV.get_template(TEMPLATE).render(charts=_charts(images, by_cid=True), **context)
        if len(html.encode("utf-8")) <= BODY_LIMIT or rows == 0:
            break
        rows = rows - 1 if rows <= 5 else rows // 2
    return _ENV.get_template(TEMPLATE).render(charts=_charts(images, by_cid=by_cid), **context)


def _explained_in_words(explained_by: str) -> list[dict[str, str]]:
    """An account's ``explained_by`` as parts with the category and field in words.

    ``mismatch amount bill BILL-7; …`` reads ``Mismatches (amount)`` with the reference
    ``bill BILL-7`` (kept on one line: a record number never breaks at its hyphen); the
    internal codes stay in the workbook's ``Explained by``.
    """
    parts = []
    for part in explained_by.split("; ") if explained_by else []:
        words = part.split(" ")
        if words[0] not in CATEGORY_TITLES:
            parts.append({"label": shorten(part, 60), "ref": ""})  # "and 3 more", or an unknown category
            continue
        title, rest = CATEGORY_TITLES[words[0]], words[1:]
        if rest and rest[0] in FIELD_WORDS:
            title, rest = f"{title} ({FIELD_WORDS[rest[0]].lower()})", rest[1:]
        parts.append({"label": title, "ref": shorten(" ".join(rest), 60)})
    return parts


def _workbook_notice(location: str) -> dict[str, str] | None:
    if not location:
        return None
    link = location.startswith(("http://", "https://"))
    return {"text": shorten(location, 300), "href": location if link else ""}


def _charts(images: Sequence[ChartImage], *, by_cid: bool) -> dict[str, dict[str, Any]]:
    """Per Content-ID: the ``src``, alt text and size of the chart's ``<img>``."""
    return {
        image.cid: {
            "src": f"cid:{image.cid}" if by_cid else _data_uri(image.png),
            "alt": image.alt,
            "width": image.width,
            "height": image.height,
        }
        for image in images
    }


def _data_uri(png: bytes) -> str:
    return "data:image/png;base64," + base64.b64encode(png).decode("ascii")


def chart_data_uri(result: RunResult) -> str:
    """The first chart (findings by category) as a ``data:image/png;base64,…`` URI."""
    return _data_uri(findings_chart_png(result))


def write_html(result: RunResult, path: Path) -> None:
    """Write the standalone report (charts embedded as data URIs) to ``path``."""
    Path(path).write_text(render_html(result, chart_src="data:"), encoding="utf-8")


@dataclass(frozen=True)
class _Cell:
    text: str
    href: str | None = None
    align: str | None = None
    nowrap: bool = False


def _base_context(result: RunResult) -> dict[str, Any]:
    p = result.params
    head = headline(result)
    counts = category_counts(result)
    with_history = has_finding_history(result.findings)
    entity_rows = []
    for t in totals_rows(result):
        entity_rows.append(
            {
                "entity": t.entity,
                "currency": t.currency,
                "awra_count": f"{t.awra_count:,}",
                "qbo_count": f"{t.qbo_count:,}",
                "awra_total": cents_text(t.awra_total_cents),
                "qbo_total": cents_text(t.qbo_total_cents),
                "difference": cents_text(t.difference_cents),
                "unexplained": cents_text(t.unexplained_cents),
                "ties": t.unexplained_cents == 0,
            }
        )
    differing = account_rows(result, differing_only=True)
    account_section = {
        "rows": [
            {
                "account": shorten(a.account or "—", 20),
                "name": shorten(a.name, 60),
                "currency": a.currency,
                "awra_net": cents_text(a.awra_net_cents),
                "qbo_net": cents_text(a.qbo_net_cents),
                "difference": cents_text(a.difference_cents),
                "unexplained": cents_text(a.unexplained_cents),
                "ties": a.unexplained_cents == 0,
                "explained_by": _explained_in_words(a.explained_by),
            }
            for a in differing[:ACCOUNT_ROWS]
        ],
        "differing": f"{len(differing):,}",
        "agreeing": f"{len(result.accounts) - len(differing):,}",
        "more": len(differing) > ACCOUNT_ROWS,
    }
    bridges = [
        {"entity": entity, "lines": [{"label": x.label, "amount": cents_text(x.cents), "kind": x.kind} for x in lines]}
        for entity, lines in bridge_lines(result)
    ]
    category_rows = [
        {
            "title": cc.title,
            "count": f"{cc.count:,}",
            "amount": cents_text(cc.amount_cents) if cc.amount_cents is not None else amounts_text(cc.amounts),
            "history": [f"{cc.history.get(s, 0):,}" for s in ("new", "persisting", "reopened")],
        }
        for cc in counts
    ]
    trend = history_trend(result.history)
    triage = result.triage if isinstance(result.triage, pd.DataFrame) else pd.DataFrame()
    safe = result.safe_to_retry if isinstance(result.safe_to_retry, pd.DataFrame) else pd.DataFrame()
    return {
        "company_name": shorten(p.company_name, 120),
        "company": shorten(p.company, 60),
        "date_from": p.date_from.isoformat(),
        "date_to": p.date_to.isoformat(),
        "status": shorten(p.status, 40),
        "entities": ", ".join(p.entities),
        "run_id": shorten(p.run_id, 120),
        "run_at": p.now.astimezone(UTC).strftime("%Y-%m-%d %H:%M UTC"),
        "agrees": head.agrees,
        "verdict": _verdict(head),
        "ties_out": head.ties_out,
        "unexplained": amounts_text(head.unexplained_by_currency),
        "open_findings": f"{head.open_findings:,}",
        "money_at_stake": amounts_text(head.money_at_stake_by_currency),
        "entity_rows": entity_rows,
        "accounts": account_section,
        "bridges": bridges,
        "category_rows": category_rows,
        "with_history": with_history,
        "acknowledged_count": f"{head.acknowledged:,}",
        "history": [(k.capitalize(), f"{n:,}") for k, n in history_counts(result.history)],
        "aging": [(shorten(label, 40), f"{n:,}") for label, n in history_aging(result.history)],
        "trend": [{"date": t.date, "run_id": shorten(t.run_id, 60), "open": f"{t.open:,}"} for t in trend[-12:]],
        "triage_count": f"{len(triage):,}",
        "safe_count": f"{len(safe):,}",
        "sheets": {
            "mapping": MAPPING_GAPS_SHEET,
            "triage": TRIAGE_SHEET,
            "safe": SAFE_TO_RETRY_SHEET,
            "escalations": ESCALATIONS_SHEET,
            "acknowledged": ACKNOWLEDGED_SHEET,
        },
        "acknowledged_headers": _ACKNOWLEDGED_HEADERS,
        "sources": [(shorten(str(k), 40), shorten(str(v), 200)) for k, v in sorted(result.sources.items())],
    }


def _row_context(result: RunResult, rows: int) -> dict[str, Any]:
    findings = result.findings
    qbo = result.params.qbo_environment
    sections = []
    mapping_section = None
    acknowledged = None
    if len(findings):
        acked = acknowledged_mask(findings).to_numpy(dtype=bool)
        groups = findings.groupby(findings["category"].astype("string"), sort=False, dropna=True).indices
        for category in categories_in_order(findings["category"]):
            positions = np.asarray(groups[category])
            subset = findings.take(positions[~acked[positions]])
            top = subset.iloc[order_positions(subset, by_money=True)[:rows]]
            mapping = category in MAPPING_CATEGORIES
            sections.append(
                {
                    "title": category_title(category),
                    "total": f"{len(positions):,}",
                    "count": len(subset),
                    "acknowledged": f"{int(acked[positions].sum()):,}" if acked[positions].any() else "",
                    "shown": len(top),
                    "informational": category in INFORMATIONAL_CATEGORIES,
                    "headers": _MAPPING_HEADERS if mapping else _TRANSACTION_HEADERS,
                    "rows": [_mapping_cells(r, qbo) if mapping else _transaction_cells(r, qbo) for r in _records(top)],
                }
            )
        is_mapping = findings["category"].isin(MAPPING_CATEGORIES).fillna(False).astype(bool)
        gaps = findings[is_mapping]
        if len(gaps):
            top = gaps.iloc[order_positions(gaps, by_money=True)[:rows]]
            mapping_section = {
                "total": f"{len(gaps):,}",
                "shown": len(top),
                "blocked": _blocked_money(gaps),
                "rows": [_gap_cells(r, qbo) for r in _records(top)],
            }
        if acked.any():
            subset = findings.loc[acked]
            top = subset.iloc[order_positions(subset, by_money=True)[:rows]]
            acknowledged = {
                "total": f"{len(subset):,}",
                "count": len(subset),
                "shown": len(top),
                "rows": [_acknowledged_cells(r, qbo) for r in _records(top)],
            }
    return {
        "sections": sections,
        "mapping_gaps": mapping_section,
        "acknowledged": acknowledged,
        "escalations": _escalations(result.escalations, rows),
        "escalation_total": len(result.escalations),
    }


_TRANSACTION_HEADERS = ("Record", "QBO", "Party", "Date", "Amount", "What", "Action")
_MAPPING_HEADERS = ("Type", "AWRA id", "Name", "QBO", "Blocks", "Blocked amount", "What", "Action")
_ACKNOWLEDGED_HEADERS = ("Record", "Category", "Amount", "What", "By", "On", "Until", "Note")


def _records(frame: pd.DataFrame) -> list[dict[str, Any]]:
    return [{str(k): v for k, v in row.items()} for row in frame.to_dict("records")] if len(frame) else []


def _t(value: object, limit: int = _TEXT_LIMIT) -> str:
    text = text_or_none(value)
    return shorten(text, limit) if text is not None else ""


def _qbo_cell(row: Mapping[str, Any], environment: str) -> _Cell:
    qbo_id = text_or_none(row.get("qbo_id"))
    if qbo_id is None:
        return _Cell("")
    entity = text_or_none(row.get("entity"))
    return _Cell(shorten(qbo_id, 24), qbo_url(entity, qbo_id, environment), nowrap=True)


def _what(row: Mapping[str, Any]) -> str:
    raw_field = text_or_none(row.get("field"))
    field = shorten(field_words(raw_field), 30) if raw_field else ""
    cause = _t(row.get("cause"))
    if field and (text_or_none(row.get("awra_value")) or text_or_none(row.get("qbo_value"))):
        detail = f"{field}: AWRA {_t(row.get('awra_value'), 40) or '—'} / QBO {_t(row.get('qbo_value'), 40) or '—'}"
        diff = _t(row.get("difference"), 30)
        detail += f" (difference {diff})" if diff else ""
        return f"{detail}. {cause}" if cause else detail
    message = _t(row.get("message"))
    return cause or message


def _what_with_lapse(row: Mapping[str, Any]) -> str:
    """What the finding is, and why an earlier acknowledgement no longer holds (if one lapsed)."""
    what = _what(row)
    lapsed = _t(row.get("ack_lapsed"))
    if not lapsed:
        return what
    return f"{what} Acknowledgement lapsed: {lapsed}".strip()


def _record_text(row: Mapping[str, Any]) -> str:
    number = _t(row.get("awra_number"), 32) or _t(row.get("awra_id"), 32) or _t(row.get("qbo_id"), 32)
    return f"{_t(row.get('entity'), 16)} {number}".strip()


def _date_text(value: object) -> str:
    if value is None or value is pd.NaT or value is pd.NA:
        return ""
    if isinstance(value, pd.Timestamp):
        return value.tz_convert(UTC).strftime("%Y-%m-%d") if value.tzinfo else value.strftime("%Y-%m-%d")
    if isinstance(value, date):
        return value.isoformat()[:10]
    return ""


def _acknowledged_cells(row: Mapping[str, Any], environment: str) -> list[_Cell]:
    mapping = str(row.get("category", "")) in MAPPING_CATEGORIES
    money = int_or_none(row.get("blocks_cents") if mapping else row.get("amount_cents"))
    return [
        _Cell(_record_text(row), nowrap=True),
        _Cell(category_title(str(row.get("category", "")))),
        _Cell(money_text(money, text_or_none(row.get("currency"))), align="right", nowrap=True),
        _Cell(_what(row)),
        _Cell(_t(row.get("ack_by"), _NAME_LIMIT)),
        _Cell(_date_text(row.get("ack_at")), nowrap=True),
        _Cell(_date_text(row.get("ack_until")) or "until resolved", nowrap=True),
        _Cell(_t(row.get("ack_note"))),
    ]


def _transaction_cells(row: Mapping[str, Any], environment: str) -> list[_Cell]:
    number = _t(row.get("awra_number"), 32) or _t(row.get("awra_id"), 32)
    date = row.get("txn_date")
    date_text = date.strftime("%Y-%m-%d") if isinstance(date, pd.Timestamp) and not pd.isna(date) else ""
    amount = int_or_none(row.get("amount_cents"))
    return [
        _Cell(f"{_t(row.get('entity'), 16)} {number}".strip(), nowrap=True),
        _qbo_cell(row, environment),
        _Cell(_t(row.get("party"), _NAME_LIMIT)),
        _Cell(date_text, nowrap=True),
        _Cell(money_text(amount, text_or_none(row.get("currency"))), align="right", nowrap=True),
        _Cell(_what_with_lapse(row)),
        _Cell(_t(row.get("action"))),
    ]


def _mapping_cells(row: Mapping[str, Any], environment: str) -> list[_Cell]:
    blocks = int_or_none(row.get("blocks_count"))
    return [
        _Cell(_t(row.get("entity"), 16), nowrap=True),
        _Cell(_t(row.get("awra_id"), 32), nowrap=True),
        _Cell(_t(row.get("party"), _NAME_LIMIT)),
        _qbo_cell(row, environment),
        _Cell(f"{blocks:,}" if blocks is not None else "", align="right", nowrap=True),
        _Cell(_blocked_cell(row, blocks), align="right", nowrap=True),
        _Cell(_what_with_lapse(row)),
        _Cell(_t(row.get("action"))),
    ]


def _blocked_cell(row: Mapping[str, Any], blocks: int | None) -> str:
    """The money a mapping gap blocks, with its currency ("several currencies": never one sum)."""
    cents = int_or_none(row.get("blocks_cents"))
    if cents is None:
        return "several currencies" if blocks else ""
    currency = _t(row.get("currency"), 8)
    return f"{cents_text(cents)} {currency}".rstrip()


def _blocked_money(gaps: pd.DataFrame) -> str:
    """What the mapping gaps block, summed per currency (a gap over several currencies is said apart)."""
    cents = pd.to_numeric(gaps["blocks_cents"], errors="coerce")
    counts = pd.to_numeric(gaps["blocks_count"], errors="coerce").fillna(0)
    currency = gaps["currency"].astype("string").fillna("")
    known = cents.notna().to_numpy(dtype=bool)
    per_currency = cents[known].astype("int64").groupby(currency[known].to_numpy()).sum()
    parts = [f"{cents_text(int(v))} {c}".rstrip() for c, v in per_currency.items() if v or len(per_currency) == 1]
    text = "; ".join(parts) or cents_text(0)
    if ((~known) & (counts > 0).to_numpy(dtype=bool)).any():
        text += " (and transactions in several currencies: see the workbook)"
    return text


def _gap_cells(row: Mapping[str, Any], environment: str) -> list[_Cell]:
    return [_Cell(category_title(str(row.get("category", "")))), *_mapping_cells(row, environment)]


def _escalations(escalations: Sequence[Mapping[str, Any]], rows: int) -> list[dict[str, Any]]:
    out = []
    for packet in list(escalations)[: max(rows, 1) if escalations else 0]:
        numbers = packet.get("record_numbers") or []
        if isinstance(numbers, str):
            numbers = [numbers]
        numbers = [str(n) for n in numbers]
        shown = ", ".join(shorten(n, 32) for n in numbers[:_MAX_ESCALATION_NUMBERS])
        if len(numbers) > _MAX_ESCALATION_NUMBERS:
            shown += f" and {len(numbers) - _MAX_ESCALATION_NUMBERS:,} more"
        count = int_or_none(packet.get("count"))
        details = []
        for key, label in (
            ("status", "Sync status"),
            ("error_code", "Error"),
            ("message", "Message"),
            ("retry_count", "Retries"),
            ("expected_qbo_result", "Expected in QBO"),
            ("changed_recently", "Changed recently"),
            ("module", "Module"),
            ("branch", "Branch"),
            ("warehouse", "Warehouse"),
            ("user", "User"),
        ):
            value = packet.get(key)
            if value is None or value == "" or isinstance(value, list | tuple | dict):
                continue
            details.append((label, _t(value)))
        out.append(
            {
                "reason": _t(packet.get("reason")) or "Escalation",
                "count": f"{count:,}" if count is not None else "",
                "numbers": shown,
                "details": details,
            }
        )
    return out


def _verdict(head: Headline) -> str:
    """The one sentence an accountant reads first: do the books agree, and is every cent explained."""
    acknowledged = f", {head.acknowledged:,} acknowledged" if head.acknowledged else ""
    if head.agrees:
        if head.acknowledged:
            return f"AWRA and QBO agree for this window: 0 findings need action{acknowledged}."
        return "AWRA and QBO agree for this window."
    difference = amounts_text(head.difference_by_currency)
    explained = (
        "every cent of the difference is explained below"
        if head.ties_out
        else f"{amounts_text(head.unexplained_by_currency)} of it is NOT explained"
    )
    need = "finding needs" if head.action_findings == 1 else "findings need"
    return (
        f"AWRA and QBO do not agree: {head.action_findings:,} {need} action{acknowledged}; "
        f"AWRA − QBO = {difference}, and {explained}."
    )
