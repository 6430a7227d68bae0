"""Where a QBO record opens in the QBO web app (reports and ``explain`` link to it).

A company's records open only in the app of its own QBO environment: production companies at
``app.qbo.intuit.com``, sandbox companies at ``app.sandbox.qbo.intuit.com``.
"""

from __future__ import annotations

from collections.abc import Mapping
from urllib.parse import quote

#: The QBO web app of each environment (``[qbo] environment``).
QBO_APP_BASES: Mapping[str, str] = {
    "production": "https://app.qbo.intuit.com/app/",
    "sandbox": "https://app.sandbox.qbo.intuit.com/app/",
}
#: The page of a record in the app, by entity (as public integrations link them).
QBO_LINK_PATHS: Mapping[str, str] = {
    "invoice": "invoice?txnId=",
    "payment": "recvpayment?txnId=",
    "bill": "bill?txnId=",
    "journal": "journal?txnId=",
    "customer": "customerdetail?nameId=",
    "vendor": "vendordetail?nameId=",
}


def qbo_url(entity: object, qbo_id: object, environment: str = "production") -> str | None:
    """The QBO web-app address of a record, or None when the entity has no page or no Id."""
    if not isinstance(entity, str) or not isinstance(qbo_id, str) or not qbo_id.strip():
        return None
    path = QBO_LINK_PATHS.get(entity)
    if path is None:
        return None
    base = QBO_APP_BASES.get(environment, QBO_APP_BASES["production"])
    return base + path + quote(qbo_id.strip(), safe="")


__all__ = ["QBO_APP_BASES", "QBO_LINK_PATHS", "qbo_url"]
