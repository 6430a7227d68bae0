"""Email delivery against a real local SMTP server (aiosmtpd): STARTTLS, SSL, plain, failures."""

from __future__ import annotations

import datetime as dt
import email
import email.policy
import ipaddress
import socket
import ssl
import subprocess
import threading
from collections.abc import Iterator
from dataclasses import replace
from datetime import date
from email.message import EmailMessage
from io import BytesIO
from pathlib import Path

import openpyxl
import pytest
from aiosmtpd.controller import Controller
from aiosmtpd.smtp import AuthResult, LoginPassword

from jobs.notify import CHART_CID, XLSX_MIME, DeliveryError, report_subject, send_alert, send_report
from reconcile.config import EmailSettings, Secret

PASSWORD = "s3cr3t-Pa55word!"
PNG = (
    b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR\x00\x00\x00\x01\x00\x00\x00\x01\x08\x06\x00\x00\x00\x1f\x15\xc4\x89"
    b"\x00\x00\x00\rIDATx\x9cc\xf8\xff\xff?\x00\x05\xfe\x02\xfe\xa7\x35\x81\x84\x00\x00\x00\x00IEND\xaeB`\x82"
)
HTML = '<html><body><h1>Acme reconciliation</h1><img src="cid:findings-chart" alt="chart"></body></html>'


class Inbox:
    """An aiosmtpd handler that keeps what it received, or rejects DATA with a 550."""

    def __init__(self, reject: bool = False):
        self.messages: list[tuple[str, list[str], EmailMessage]] = []
        self.reject = reject

    async def handle_DATA(self, server, session, envelope):
        if self.reject:
            return "550 5.7.1 Message rejected by policy"
        msg = email.message_from_bytes(envelope.content, policy=email.policy.default)
        self.messages.append((envelope.mail_from, list(envelope.rcpt_tos), msg))  # type: ignore[arg-type]
        return "250 OK"


def authenticator(server, session, envelope, mechanism, auth_data):
    ok = (
        isinstance(auth_data, LoginPassword) and auth_data.login == b"recon" and auth_data.password == PASSWORD.encode()
    )
    return AuthResult(success=ok, handled=False)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="module")
def certificate(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    folder = tmp_path_factory.mktemp("tls")
    try:
        return _certificate_with_cryptography(folder)
    except ImportError:
        return _certificate_with_openssl(folder)


def _certificate_with_openssl(folder: Path) -> tuple[Path, Path]:
    cert_path, key_path = folder / "cert.pem", folder / "key.pem"
    subprocess.run(
        [
            "openssl",
            "req",
            "-x509",
            "-newkey",
            "ec",
            "-pkeyopt",
            "ec_paramgen_curve:prime256v1",
            "-nodes",
            "-keyout",
            str(key_path),
            "-out",
            str(cert_path),
            "-days",
            "1",
            "-subj",
            "/CN=127.0.0.1",
            "-addext",
            "subjectAltName=DNS:localhost,IP:127.0.0.1",
        ],
        check=True,
        capture_output=True,
        timeout=60,
    )
    return cert_path, key_path


def _certificate_with_cryptography(folder: Path) -> tuple[Path, Path]:
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "127.0.0.1")])
    now = dt.datetime.now(dt.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(days=1))
        .not_valid_after(now + dt.timedelta(days=1))
        .add_extension(
            x509.SubjectAlternativeName([x509.DNSName("localhost"), x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]),
            critical=False,
        )
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(key, hashes.SHA256())
    )
    cert_path, key_path = folder / "cert.pem", folder / "key.pem"
    cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(
        key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())
    )
    return cert_path, key_path


def server_context(certificate: tuple[Path, Path]) -> ssl.SSLContext:
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ctx.load_cert_chain(*certificate)
    return ctx


def client_context(certificate: tuple[Path, Path]) -> ssl.SSLContext:
    return ssl.create_default_context(cafile=str(certificate[0]))


def settings(port: int, security: str, *, password: str = "") -> EmailSettings:
    return EmailSettings(
        enabled=True,
        smtp_host="127.0.0.1",
        smtp_port=port,
        security=security,
        sender="recon@example.com",
        recipients=("finance@example.com", "cfo@example.com"),
        alert_recipients=("ops@example.com",),
        username=Secret("recon" if password else ""),
        password=Secret(password),
        timeout_seconds=10,
    )


def workbook_bytes() -> bytes:
    wb = openpyxl.Workbook()
    ws = wb.active
    assert ws is not None
    ws.title = "Summary"
    ws["A1"] = "unexplained"
    ws["B1"] = "0.00"
    buf = BytesIO()
    wb.save(buf)
    return buf.getvalue()


@pytest.fixture
def starttls_server(certificate) -> Iterator[tuple[Inbox, int]]:
    inbox, port = Inbox(), free_port()
    controller = Controller(
        inbox,
        hostname="127.0.0.1",
        port=port,
        tls_context=server_context(certificate),
        require_starttls=True,
        authenticator=authenticator,
        auth_require_tls=True,
    )
    controller.start()
    yield inbox, port
    controller.stop()


@pytest.fixture
def plain_server() -> Iterator[tuple[Inbox, int]]:
    inbox, port = Inbox(), free_port()
    controller = Controller(inbox, hostname="127.0.0.1", port=port)
    controller.start()
    yield inbox, port
    controller.stop()


def send(cfg: EmailSettings, certificate=None) -> None:
    send_report(
        cfg,
        subject=report_subject(
            "Acme", (date(2026, 8, 1), date(2026, 8, 7)), {"new": 12, "open": 40, "unexplained": "0.00"}
        ),
        html=HTML,
        chart_png=PNG,
        attachments=[
            ("reconciliation.xlsx", workbook_bytes(), XLSX_MIME),
            ("findings.csv", b"run_id\nr1\n", "text/csv"),
        ],
        ssl_context=client_context(certificate) if certificate else None,
    )


def check_report(msg: EmailMessage) -> None:
    assert msg["Subject"] == "[qbo-recon] Acme 2026-08-01..2026-08-07: 12 new, 40 open, unexplained 0.00"
    assert msg["From"] == "recon@example.com"
    html_part = msg.get_body(preferencelist=("html",))
    assert html_part is not None and "cid:findings-chart" in html_part.get_content()
    related = [p for p in msg.walk() if p.get_content_type() == "multipart/related"]
    assert len(related) == 1
    inner = list(related[0].iter_parts())
    assert [p.get_content_type() for p in inner] == ["text/html", "image/png"]
    assert inner[1]["Content-ID"] == f"<{CHART_CID}>"
    assert inner[1].get_content() == PNG
    attachments = {p.get_filename(): p for p in msg.iter_attachments()}
    assert set(attachments) == {"reconciliation.xlsx", "findings.csv"}
    xlsx = attachments["reconciliation.xlsx"]
    assert xlsx.get_content_type() == XLSX_MIME
    wb = openpyxl.load_workbook(BytesIO(xlsx.get_content()))
    assert wb["Summary"]["A1"].value == "unexplained" and wb["Summary"]["B1"].value == "0.00"


def test_report_over_starttls_with_login(starttls_server, certificate):
    inbox, port = starttls_server
    send(settings(port, "starttls", password=PASSWORD), certificate)
    assert len(inbox.messages) == 1
    mail_from, rcpts, msg = inbox.messages[0]
    assert mail_from == "recon@example.com"
    assert rcpts == ["finance@example.com", "cfo@example.com"]
    check_report(msg)


def test_report_over_implicit_ssl(certificate):
    inbox, port = Inbox(), free_port()
    controller = Controller(inbox, hostname="127.0.0.1", port=port, ssl_context=server_context(certificate))
    controller.start()
    try:
        send(settings(port, "ssl"), certificate)
    finally:
        controller.stop()
    assert len(inbox.messages) == 1
    check_report(inbox.messages[0][2])


def test_report_over_plain_smtp(plain_server):
    inbox, port = plain_server
    send(settings(port, "none"))
    check_report(inbox.messages[0][2])


def test_untrusted_certificate_is_a_delivery_error(starttls_server):
    _, port = starttls_server
    with pytest.raises(DeliveryError, match="certificate"):
        send(settings(port, "starttls", password=PASSWORD))  # default context: self-signed cert refused


def test_wrong_password_is_refused_without_showing_it(starttls_server, certificate):
    _, port = starttls_server
    wrong = PASSWORD + "-wrong"
    with pytest.raises(DeliveryError) as info:
        send(settings(port, "starttls", password=wrong), certificate)
    text = str(info.value)
    assert "login refused" in text and "535" in text
    assert wrong not in text and PASSWORD not in text


def test_server_rejecting_the_message(certificate):
    inbox, port = Inbox(reject=True), free_port()
    controller = Controller(inbox, hostname="127.0.0.1", port=port)
    controller.start()
    try:
        with pytest.raises(DeliveryError, match="550") as info:
            send(settings(port, "none"))
    finally:
        controller.stop()
    assert PASSWORD not in str(info.value)


def test_server_dropping_the_connection():
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(1)
    port = listener.getsockname()[1]

    def drop() -> None:
        conn, _ = listener.accept()
        conn.close()

    thread = threading.Thread(target=drop, daemon=True)
    thread.start()
    try:
        with pytest.raises(DeliveryError, match=f"127.0.0.1:{port}"):
            send(settings(port, "starttls", password=PASSWORD))
    finally:
        thread.join(10)
        listener.close()


def test_nothing_listening_is_a_delivery_error():
    with pytest.raises(DeliveryError, match="refused"):
        send(settings(free_port(), "none"))


def test_alert_carries_the_reason_and_no_secret(plain_server):
    inbox, port = plain_server
    cfg = settings(port, "none")
    cfg = replace(cfg, password=Secret(PASSWORD))  # set but unused without a username: no login
    cfg = replace(cfg, username=Secret(""))
    send_alert(cfg, company="acme", reason=f"acme: QBO: fault 3200\n token {PASSWORD} expired")
    assert len(inbox.messages) == 1
    _, rcpts, msg = inbox.messages[0]
    assert rcpts == ["ops@example.com"]
    assert msg["Subject"].startswith("[qbo-recon] acme: run failed: acme: QBO: fault 3200")
    body = msg.get_body(preferencelist=("plain",))
    assert body is not None
    text = body.get_content()
    assert "Reason: acme: QBO: fault 3200 token *** expired" in text
    assert PASSWORD not in msg.as_string()


def test_report_subject_variants():
    window = (date(2026, 8, 1), date(2026, 8, 7))
    assert report_subject("Acme", window, {"new": 1, "open": 2, "unexplained_cents": -1234}) == (
        "[qbo-recon] Acme 2026-08-01..2026-08-07: 1 new, 2 open, unexplained -12.34"
    )
    assert report_subject("Acme", window, {"open": 0, "unexplained": "5"}) == (
        "[qbo-recon] Acme 2026-08-01..2026-08-07: 0 open, unexplained 5.00"
    )
    assert (
        report_subject("Acme\nLtd", window, {}) == "[qbo-recon] Acme Ltd 2026-08-01..2026-08-07: reconciliation report"
    )


# --------------------------------------------------------------------------- attachment limit


class SizeLimitedInbox(Inbox):
    """Refuses at DATA (552) any message larger than ``limit`` bytes, like a server without SIZE."""

    def __init__(self, limit: int):
        super().__init__()
        self.limit = limit
        self.attempts = 0

    async def handle_DATA(self, server, session, envelope):
        self.attempts += 1
        if len(envelope.content) > self.limit:
            return "552 5.3.4 Message size exceeds fixed maximum message size"
        return await super().handle_DATA(server, session, envelope)


DETACHED = HTML.replace(
    "</h1>", '</h1><p id="workbook-notice">Open it at https://recon.example.com/r1/reconciliation.xlsx</p>'
)
IMAGES = [("findings-chart", PNG), ("trend-chart", PNG + b"trend")]


def send_big(cfg: EmailSettings, workbook: bytes):
    return send_report(
        cfg,
        subject="[qbo-recon] Acme: report",
        html=HTML,
        images=IMAGES,
        attachments=[("reconciliation.xlsx", workbook, XLSX_MIME)],
        detached_html=DETACHED,
        workbook_location="https://recon.example.com/r1/reconciliation.xlsx",
    )


def check_detached(msg: EmailMessage) -> None:
    assert list(msg.iter_attachments()) == []
    html_part = msg.get_body(preferencelist=("html",))
    assert html_part is not None and 'id="workbook-notice"' in html_part.get_content()
    text_part = msg.get_body(preferencelist=("plain",))
    assert text_part is not None
    assert "open the workbook at https://recon.example.com/r1/reconciliation.xlsx" in text_part.get_content()
    related = next(p for p in msg.walk() if p.get_content_type() == "multipart/related")
    assert [p["Content-ID"] for p in list(related.iter_parts())[1:]] == ["<findings-chart>", "<trend-chart>"]


def test_the_detached_report_is_only_rendered_when_needed(plain_server):
    inbox, port = plain_server
    calls = []

    def render() -> str:
        calls.append(1)
        return DETACHED

    common = {"subject": "s", "html": HTML, "images": IMAGES, "detached_html": render, "workbook_location": "/r/x"}
    small = [("reconciliation.xlsx", workbook_bytes(), XLSX_MIME)]
    assert send_report(settings(port, "none"), attachments=small, **common).attached  # type: ignore[arg-type]
    assert calls == []
    big = [("reconciliation.xlsx", b"x" * (1024 * 1024 + 1), XLSX_MIME)]
    cfg = replace(settings(port, "none"), max_attachment_mb=1)
    assert not send_report(cfg, attachments=big, **common).attached  # type: ignore[arg-type]
    assert calls == [1] and 'id="workbook-notice"' in inbox.messages[-1][2].get_body(("html",)).get_content()


def test_a_workbook_under_the_limit_is_attached_with_every_chart_inline(plain_server):
    inbox, port = plain_server
    delivery = send_big(settings(port, "none"), workbook_bytes())
    assert delivery.attached and delivery.status == "sent"
    msg = inbox.messages[0][2]
    assert [p.get_filename() for p in msg.iter_attachments()] == ["reconciliation.xlsx"]
    related = next(p for p in msg.walk() if p.get_content_type() == "multipart/related")
    assert [p["Content-ID"] for p in list(related.iter_parts())[1:]] == ["<findings-chart>", "<trend-chart>"]
    assert 'id="workbook-notice"' not in msg.get_body(preferencelist=("html",)).get_content()  # type: ignore[union-attr]


def test_a_workbook_over_the_limit_is_left_out_and_the_email_says_where_it_is(plain_server):
    inbox, port = plain_server
    cfg = replace(settings(port, "none"), max_attachment_mb=1)
    delivery = send_big(cfg, b"x" * (1024 * 1024 + 1))
    assert not delivery.attached
    assert delivery.status == "sent without the workbook (1.0 MB is over the 1 MB attachment limit)"
    assert len(inbox.messages) == 1
    check_detached(inbox.messages[0][2])


def _size_limited(handler: Inbox, **kw) -> Iterator[tuple[Inbox, int]]:
    port = free_port()
    controller = Controller(handler, hostname="127.0.0.1", port=port, **kw)
    controller.start()
    try:
        yield handler, port
    finally:
        controller.stop()


def test_a_server_refusing_the_size_at_data_gets_the_email_once_more_without_the_workbook():
    handler = SizeLimitedInbox(limit=200_000)
    for inbox, port in _size_limited(handler):
        delivery = send_big(settings(port, "none"), b"x" * 300_000)  # under our 10 MB limit, over the server's
        assert not delivery.attached and "the server refused it with the workbook: 552 5.3.4" in delivery.status
        assert handler.attempts == 2 and len(inbox.messages) == 1
        check_detached(inbox.messages[0][2])


def test_a_server_announcing_its_size_limit_refuses_at_mail_from_and_the_retry_goes_through():
    # aiosmtpd announces SIZE; smtplib then declares the size and the server answers 552 up front
    for inbox, port in _size_limited(Inbox(), data_size_limit=200_000):
        delivery = send_big(settings(port, "none"), b"x" * 300_000)
        assert not delivery.attached and "552" in delivery.status
        assert len(inbox.messages) == 1
        check_detached(inbox.messages[0][2])


def test_a_server_that_refuses_even_the_small_email_is_tried_once_more_only():
    handler = SizeLimitedInbox(limit=10)
    for _, port in _size_limited(handler):
        with pytest.raises(DeliveryError, match="552"):
            send_big(settings(port, "none"), workbook_bytes())
        assert handler.attempts == 2


class CountingRejecter(SizeLimitedInbox):
    """Refuses every message by policy (550), counting the attempts."""

    async def handle_DATA(self, server, session, envelope):
        self.attempts += 1
        return "550 5.7.1 Message rejected by policy"


def test_other_refusals_are_not_retried_without_the_workbook():
    handler = CountingRejecter(limit=0)
    for inbox, port in _size_limited(handler):
        with pytest.raises(DeliveryError, match="550"):
            send_big(settings(port, "none"), workbook_bytes())
        assert handler.attempts == 1 and inbox.messages == []
