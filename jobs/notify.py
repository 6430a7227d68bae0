"""Email delivery of reports and failure alerts over SMTP (STARTTLS, SSL or plain).

* ``send_report`` sends the HTML report as the body with the charts inline (each by its
  Content-ID, ``cid:findings-chart`` first) and the workbook (and any other file) attached,
  unless the attachments pass ``max_attachment_mb``: then, or when the server refuses the
  message as too big (SMTP 552), it sends the version of the report that says where the
  workbook is, without attachments, and says so in the ``Delivery`` it returns.
* ``send_alert`` tells the alert recipients (or the report recipients) that a run failed,
  with its one-line reason and nothing else.
* ``report_subject`` builds the subject line that carries the headline.

Login happens only when both a username and a password are set; the password is revealed only
to ``smtplib.login`` and never appears in an error. Any delivery failure raises
``DeliveryError`` so the caller can record "email failed: …" and keep the report on disk.
Whether to send at all (``email.enabled``, ``--no-email``) is the caller's decision.
"""

from __future__ import annotations

import base64
import email.policy
import smtplib
import ssl
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime
from decimal import Decimal, InvalidOperation
from email.message import EmailMessage
from email.utils import format_datetime, make_msgid
from typing import Any

from reconcile.config import EmailSettings

#: The Content-ID the HTML body uses for the chart: ``<img src="cid:findings-chart">``.
CHART_CID = "findings-chart"

#: The MIME type of an .xlsx workbook.
XLSX_MIME = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"


#: Headers up to 250 characters stay on one line (Python's default folder puts a subject that starts
#: with ``[`` and exceeds 78 characters on a continuation line, which parsers read with a leading space).
_POLICY = email.policy.default.clone(max_line_length=250)


#: SMTP replies that mean "this message is too big" (552 is the standard one; some servers say 554).
_TOO_BIG_CODES = frozenset({552})
_TOO_BIG_WORDS = ("size", "too big", "too large", "exceeds")


class DeliveryError(Exception):
    """The email could not be delivered; the message is one line and holds no secret."""

    def __init__(self, message: str, *, smtp_code: int | None = None, smtp_text: str = ""):
        super().__init__(message)
        self.smtp_code = smtp_code
        self.smtp_text = smtp_text

    @property
    def too_big(self) -> bool:
        """True when the server refused the message for its size."""
        if self.smtp_code in _TOO_BIG_CODES:
            return True
        text = self.smtp_text.lower()
        return self.smtp_code is not None and self.smtp_code >= 500 and any(w in text for w in _TOO_BIG_WORDS)


@dataclass(frozen=True)
class Delivery:
    """How a report was delivered: with its attachments, or without them and why."""

    attached: bool
    reason: str = ""  # why the attachments were left out (empty when attached)

    @property
    def status(self) -> str:
        """The run's email status: ``sent``, or ``sent without the workbook (…)``."""
        return "sent" if self.attached else f"sent without the workbook ({self.reason})"


def report_subject(company_name: str, window: tuple[date, date], counts: Mapping[str, Any]) -> str:
    """The report's subject: ``[qbo-recon] Acme 2026-08-01..2026-08-07: 12 new, 40 open, unexplained 0.00``.

    ``counts`` may hold ``new``, ``open`` and ``unexplained`` (decimal text or ``Decimal``) or
    ``unexplained_cents`` (integer cents); what is absent is left out.
    """
    date_from, date_to = window
    parts: list[str] = []
    if counts.get("new") is not None:
        parts.append(f"{counts['new']} new")
    if counts.get("open") is not None:
        parts.append(f"{counts['open']} open")
    unexplained = _money_text(counts)
    if unexplained is not None:
        parts.append(f"unexplained {unexplained}")
    headline = ", ".join(parts) if parts else "reconciliation report"
    return _one_line(f"[qbo-recon] {company_name} {date_from}..{date_to}: {headline}")


def _money_text(counts: Mapping[str, Any]) -> str | None:
    if counts.get("unexplained_cents") is not None:
        cents = int(counts["unexplained_cents"])
        sign = "-" if cents < 0 else ""
        return f"{sign}{abs(cents) // 100}.{abs(cents) % 100:02d}"
    value = counts.get("unexplained")
    if value is None:
        return None
    try:
        return f"{Decimal(str(value)):.2f}"
    except InvalidOperation:
        return str(value)


def build_report_message(
    settings: EmailSettings,
    *,
    subject: str,
    html: str,
    chart_png: bytes = b"",
    attachments: Sequence[tuple[str, bytes, str]],
    images: Sequence[tuple[str, bytes]] = (),
    workbook_location: str = "",
    now: datetime | None = None,
) -> EmailMessage:
    """The report email: text and HTML alternatives, the charts inline, then the attachments.

    ``images`` are ``(content_id, png)`` pairs; ``chart_png`` alone is the first chart
    (``findings-chart``). ``workbook_location`` (a path or URL) tells a reader without HTML
    where the workbook is when it is not attached.
    """
    msg = _new_message(settings, subject, settings.recipients, now)
    where = f"open the workbook at {workbook_location}" if workbook_location else "open the attached workbook"
    msg.set_content(f"This reconciliation report is in HTML; open it in a mail client that shows HTML, or {where}.\n")
    msg.add_alternative(html, subtype="html")
    html_part = msg.get_body(preferencelist=("html",))
    inline = list(images) or ([(CHART_CID, chart_png)] if chart_png else [])
    if html_part is not None:
        for cid, png in inline:
            html_part.add_related(png, maintype="image", subtype="png", cid=f"<{cid}>", filename=f"{cid}.png")
    for filename, data, mime in attachments:
        maintype, _, subtype = (mime or "application/octet-stream").partition("/")
        msg.add_attachment(data, maintype=maintype, subtype=subtype or "octet-stream", filename=filename)
    return msg


def send_report(
    settings: EmailSettings,
    *,
    subject: str,
    html: str,
    chart_png: bytes = b"",
    attachments: list[tuple[str, bytes, str]],
    images: Sequence[tuple[str, bytes]] = (),
    detached_html: str | Callable[[], str] | None = None,
    workbook_location: str = "",
    ssl_context: ssl.SSLContext | None = None,
) -> Delivery:
    """Send the report to ``settings.recipients``; ``DeliveryError`` if it could not be sent.

    ``attachments`` are ``(filename, bytes, mime type)``, e.g.
    ``("reconciliation.xlsx", data, XLSX_MIME)``. When they weigh more than
    ``settings.max_attachment_mb`` the email goes without them, with ``detached_html`` (the
    report saying where the workbook is, at ``workbook_location``; a callable is only called
    then, as rendering a big report takes a while) as its body; when the server
    refuses the message with them as too big, it is sent once more that way. ``ssl_context``
    replaces the default (certificate-verifying) TLS context.
    """
    if not settings.recipients:
        raise DeliveryError("no email recipients are configured")

    def send(body: str, files: Sequence[tuple[str, bytes, str]], location: str) -> None:
        msg = build_report_message(
            settings,
            subject=subject,
            html=body,
            chart_png=chart_png,
            images=images,
            attachments=files,
            workbook_location=location,
        )
        _deliver(settings, msg, settings.recipients, ssl_context)

    def detached() -> str:
        if detached_html is None:
            return html
        return detached_html() if callable(detached_html) else detached_html

    size = sum(len(data) for _, data, _ in attachments)
    limit = int(settings.max_attachment_mb * 1024 * 1024)
    if attachments and size > limit:
        send(detached(), (), workbook_location)
        return Delivery(
            attached=False,
            reason=f"{_megabytes(size)} is over the {settings.max_attachment_mb:g} MB attachment limit",
        )
    try:
        send(html, attachments, "")
    except DeliveryError as exc:
        if not (attachments and exc.too_big):
            raise
        send(detached(), (), workbook_location)
        return Delivery(
            attached=False, reason=f"the server refused it with the workbook: {exc.smtp_code} {exc.smtp_text}"
        )
    return Delivery(attached=True)


def _megabytes(size: int) -> str:
    return f"{size / (1024 * 1024):.1f} MB"


def build_alert_message(
    settings: EmailSettings, *, company: str, reason: str, when: datetime | None = None
) -> EmailMessage:
    """The alert email of a failed run."""
    when = when or datetime.now(UTC)
    recipients = settings.alert_recipients or settings.recipients
    reason_line = _scrub(_one_line(reason), settings)
    msg = _new_message(settings, f"[qbo-recon] {company}: run failed: {reason_line}"[:250], recipients, when)
    msg.set_content(
        f"The qbo-recon run for {company} failed at {when.astimezone(UTC):%Y-%m-%d %H:%M} UTC.\n\n"
        f"Reason: {reason_line}\n\n"
        "No report was published for this run. Check the scheduler's log, fix the cause and rerun it:\n"
        "  qbo-recon run --from YYYY-MM-DD --to YYYY-MM-DD\n"
    )
    return msg


def send_alert(
    settings: EmailSettings,
    *,
    company: str,
    reason: str,
    when: datetime | None = None,
    ssl_context: ssl.SSLContext | None = None,
) -> None:
    """Tell the alert recipients (default: the report recipients) that a run failed."""
    recipients = settings.alert_recipients or settings.recipients
    if not recipients:
        raise DeliveryError("no email recipients are configured")
    msg = build_alert_message(settings, company=company, reason=reason, when=when)
    _deliver(settings, msg, recipients, ssl_context)


def _new_message(
    settings: EmailSettings, subject: str, recipients: Sequence[str], now: datetime | None
) -> EmailMessage:
    msg = EmailMessage(policy=_POLICY)
    msg["Subject"] = _one_line(subject)
    msg["From"] = settings.sender
    msg["To"] = ", ".join(recipients)
    msg["Date"] = format_datetime(now or datetime.now(UTC))
    domain = settings.sender.rpartition("@")[2] or "qbo-recon.invalid"
    msg["Message-ID"] = make_msgid(idstring="qbo-recon", domain=domain)
    return msg


def _deliver(
    settings: EmailSettings, msg: EmailMessage, recipients: Sequence[str], context: ssl.SSLContext | None
) -> None:
    where = f"{settings.smtp_host}:{settings.smtp_port}"
    try:
        client = _connect(settings, context)
        try:
            if settings.username and settings.password:
                client.login(settings.username.reveal(), settings.password.reveal())
            refused = client.send_message(msg, from_addr=settings.sender, to_addrs=list(recipients))
        finally:
            try:
                client.quit()
            except (smtplib.SMTPException, OSError):
                client.close()
    except smtplib.SMTPAuthenticationError as exc:
        raise DeliveryError(_scrub(f"email via {where}: login refused ({_smtp_reason(exc)})", settings)) from None
    except smtplib.SMTPRecipientsRefused as exc:
        raise DeliveryError(
            _scrub(f"email via {where}: every recipient refused ({_refused(exc.recipients)})", settings)
        ) from None
    except smtplib.SMTPResponseException as exc:
        raise DeliveryError(
            _scrub(f"email via {where}: server said {_smtp_reason(exc)}", settings),
            smtp_code=exc.smtp_code,
            smtp_text=_scrub(_smtp_text(exc), settings),
        ) from None
    except (smtplib.SMTPException, OSError) as exc:
        text = " ".join(str(exc).split()) or type(exc).__name__
        raise DeliveryError(_scrub(f"email via {where}: {text}", settings)) from None
    if refused:
        raise DeliveryError(_scrub(f"email via {where}: some recipients refused ({_refused(refused)})", settings))


def _connect(settings: EmailSettings, context: ssl.SSLContext | None) -> smtplib.SMTP:
    timeout = settings.timeout_seconds
    if settings.security == "ssl":
        return smtplib.SMTP_SSL(
            settings.smtp_host, settings.smtp_port, timeout=timeout, context=context or ssl.create_default_context()
        )
    client = smtplib.SMTP(settings.smtp_host, settings.smtp_port, timeout=timeout)
    try:
        client.ehlo()
        if settings.security == "starttls":
            client.starttls(context=context or ssl.create_default_context())
            client.ehlo()
    except (smtplib.SMTPException, OSError):
        client.close()
        raise
    return client


def _smtp_text(exc: smtplib.SMTPResponseException) -> str:
    message = exc.smtp_error.decode("utf-8", "replace") if isinstance(exc.smtp_error, bytes) else str(exc.smtp_error)
    return " ".join(message.split())


def _smtp_reason(exc: smtplib.SMTPResponseException) -> str:
    return f"{exc.smtp_code} {_smtp_text(exc)}"


def _refused(recipients: Mapping[str, tuple[int, bytes]]) -> str:
    parts = []
    for address, (code, message) in recipients.items():
        text = message.decode("utf-8", "replace") if isinstance(message, bytes) else str(message)
        parts.append(f"{address}: {code} {' '.join(text.split())}")
    return "; ".join(parts)


def _one_line(text: str) -> str:
    return " ".join(str(text).split())


def _scrub(text: str, settings: EmailSettings) -> str:
    """Remove the SMTP password (and its AUTH encodings) from a message, if it shows up."""
    password = settings.password.reveal() if settings.password else ""
    if not password:
        return text
    user = settings.username.reveal() if settings.username else ""
    secrets = {password, base64.b64encode(f"\0{user}\0{password}".encode()).decode()}
    secrets.add(base64.b64encode(password.encode()).decode())
    for secret in secrets:
        if secret:
            text = text.replace(secret, "***")
    return text


__all__ = [
    "CHART_CID",
    "XLSX_MIME",
    "Delivery",
    "DeliveryError",
    "build_alert_message",
    "build_report_message",
    "report_subject",
    "send_alert",
    "send_report",
]
