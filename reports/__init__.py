"""Writers of the run's human-facing reports: the Excel workbook and the email-ready HTML.

* ``reports.excel.write_workbook(result, path)``: ``reconciliation.xlsx``.
* ``reports.html.render_html(result, chart_src=…)`` / ``write_html(result, path)``: ``report.html``.
* ``reports.chart.chart_images(result)``: the charts (matplotlib), attached to the email each by
  its Content-ID (``reports.chart.CHART_CID`` first); ``reports.chart_data`` says what is drawn.

They only read a ``RunResult``; sheet and column names are documented in ``reports/README.md``.
"""

from reports.chart import CHART_CID, chart_images, findings_chart_png
from reports.excel import write_workbook
from reports.html import chart_data_uri, render_html, write_html

__all__ = [
    "CHART_CID",
    "chart_data_uri",
    "chart_images",
    "findings_chart_png",
    "render_html",
    "write_html",
    "write_workbook",
]
