"""A local QuickBooks Online emulator for tests and the demo (``python -m qbo_emulator``).

See :mod:`qbo_emulator.server` for what it serves and how to inject faults, and
:mod:`qbo_emulator.query` for the query subset it understands.
"""

from qbo_emulator.query import QueryError, parse_query
from qbo_emulator.server import Emulator, Faults, RequestRecord

__all__ = ["Emulator", "Faults", "QueryError", "RequestRecord", "parse_query"]
