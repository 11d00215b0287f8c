"""What only the real SMTP transport does: TLS, login, refused connections, a bounded pool."""

from __future__ import annotations

import asyncio
import datetime as dt
import ipaddress
import signal
import socket
import ssl
import sys
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from bot.sandbox.smtp_server import ScriptedSmtpServer, ServerOptions
from services.email.smtp import SmtpRelay, SmtpTransport
from services.email.transport import Envelope, TransientSendError, TransportCheckFailed

ENVELOPE = Envelope(mail_from="bounces+1-x@example.com", recipients=["ap@acme.example"])
MESSAGE = b"From: invoices@example.com\r\nTo: ap@acme.example\r\nSubject: Invoice\r\n\r\nHello\r\n"
PASSWORD = "s3cret-Pa55word"


@pytest.fixture(scope="module")
def certificate(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    """A self-signed certificate for 127.0.0.1, made on the spot."""
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "127.0.0.1")])
    now = dt.datetime.now(dt.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(minutes=5))
        .not_valid_after(now + dt.timedelta(days=1))
        .add_extension(x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]), False)
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(key, hashes.SHA256())
    )
    folder = tmp_path_factory.mktemp("tls")
    cert_path, key_path = folder / "cert.pem", folder / "key.pem"
    cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(
        key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())
    )
    return cert_path, key_path


def _contexts(certificate: tuple[Path, Path]) -> tuple[ssl.SSLContext, ssl.SSLContext]:
    server = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    server.load_cert_chain(*certificate)
    client = ssl.create_default_context(cafile=str(certificate[0]))
    return server, client


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


@pytest.mark.parametrize("security", ["starttls", "tls"])
async def test_sends_over_starttls_and_implicit_tls_with_login(certificate, security: str):
    server_context, client_context = _contexts(certificate)
    options = ServerOptions(
        tls_context=server_context, implicit_tls=security == "tls", credentials=("invoices", PASSWORD)
    )
    server = ScriptedSmtpServer(options=options)
    async with server:
        transport = SmtpTransport(
            relay=SmtpRelay(
                host="127.0.0.1",
                port=server.port,
                security=security,  # type: ignore[arg-type]
                username="invoices",
                password=PASSWORD,
                tls_context=client_context,
            ),
            timeout=2,
        )
        await transport.verify()
        result = await transport.send(ENVELOPE, MESSAGE)
        await transport.aclose()

    assert result.accepted == ["ap@acme.example"]
    assert [m.data for m in server.received] == [MESSAGE]


async def test_starttls_against_a_server_without_it_fails_verification_instead_of_sending_in_clear():
    async with ScriptedSmtpServer() as server:
        transport = SmtpTransport(relay=SmtpRelay(host="127.0.0.1", port=server.port, security="starttls"), timeout=2)
        with pytest.raises(TransportCheckFailed, match="STARTTLS"):
            await transport.verify()
    assert server.received == []


async def test_a_wrong_password_is_reported_without_showing_the_password():
    async with ScriptedSmtpServer(options=ServerOptions(credentials=("invoices", PASSWORD))) as server:
        transport = SmtpTransport(
            relay=SmtpRelay(
                host="127.0.0.1", port=server.port, security="none", username="invoices", password="wrong-" + PASSWORD
            )
        )
        with pytest.raises(TransportCheckFailed) as error:
            await transport.verify()
        with pytest.raises(TransientSendError) as send_error:
            await transport.send(ENVELOPE, MESSAGE)

    for message in (str(error.value), str(send_error.value), repr(transport)):
        assert PASSWORD not in message
    assert "refused the username or password" in str(error.value)
    assert "535" in str(error.value)


async def test_a_refused_connection_is_a_readable_check_failure_and_a_transient_send():
    transport = SmtpTransport(relay=SmtpRelay(host="127.0.0.1", port=_free_port(), security="none"), timeout=1)

    with pytest.raises(TransportCheckFailed, match=r"Could not connect to the mail server 127\.0\.0\.1:\d+"):
        await transport.verify()
    with pytest.raises(TransientSendError, match="Nothing was sent"):
        await transport.send(ENVELOPE, MESSAGE)


async def test_concurrent_sends_share_at_most_pool_size_connections():
    async with ScriptedSmtpServer() as server:
        transport = SmtpTransport(
            relay=SmtpRelay(host="127.0.0.1", port=server.port, security="none"), timeout=2, pool_size=2
        )
        results = await asyncio.gather(*(transport.send(ENVELOPE, MESSAGE) for _ in range(8)))
        await transport.aclose()

    assert len(server.received) == 8
    assert len({r.data_reply for r in results}) == 8  # one queue id each
    assert server.connection_count == 2


async def test_the_sandbox_server_can_keep_each_message_as_an_eml_file(tmp_path: Path):
    async with ScriptedSmtpServer(options=ServerOptions(eml_dir=tmp_path / "mail")) as server:
        transport = SmtpTransport(relay=SmtpRelay(host="127.0.0.1", port=server.port, security="none"), timeout=2)
        result = await transport.send(ENVELOPE, MESSAGE)
        await transport.aclose()

    [eml] = list((tmp_path / "mail").glob("*.eml"))
    assert eml.read_bytes() == b"Return-Path: <bounces+1-x@example.com>\r\nX-Envelope-To: ap@acme.example\r\n" + MESSAGE
    assert eml.stem in result.data_reply


async def test_the_sandbox_server_runs_in_its_own_process_for_benchmarks():
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "bot.sandbox.smtp_server",
        "--port",
        "0",
        "--count-only",
        "--max-seconds",
        "30",
        stdout=asyncio.subprocess.PIPE,
        cwd=Path(__file__).parents[3],
    )
    try:
        assert process.stdout is not None
        first_line = (await asyncio.wait_for(process.stdout.readline(), timeout=10)).decode()
        port = int(first_line.rsplit(":", 1)[1])
        transport = SmtpTransport(relay=SmtpRelay(host="127.0.0.1", port=port, security="none"), timeout=2)
        for _ in range(3):
            await transport.send(ENVELOPE, MESSAGE)
        await transport.aclose()
    finally:
        process.send_signal(signal.SIGTERM)
        rest = (await asyncio.wait_for(process.stdout.read(), timeout=10)).decode()  # type: ignore[union-attr]
        await asyncio.wait_for(process.wait(), timeout=10)

    assert first_line.startswith("listening on 127.0.0.1:")
    assert "received 3 messages on 1 connections" in rest
