"""A real RFC 3161 timestamp authority for a laptop, CI and tests: ``openssl ts -reply`` over HTTP.

Development only. It makes a throwaway CA and a TSA certificate under a directory, then answers
``POST`` ``application/timestamp-query`` with ``application/timestamp-reply`` by running
``openssl ts -reply``, so the anchorer and ``provledger verify`` meet a true TSA, not a fake::

    from provledger.local.tsa import local_tsa
    with local_tsa(Path(".provledger/tsa"), Path(".provledger/logs/tsa.log")) as tsa:
        print(tsa.url, tsa.roots_file)  # PROVLEDGER_TSA_URLS, PROVLEDGER_TSA_ROOTS_FILE

The server runs in its own process (``python -m provledger.local.tsa --dir D --port P``) that dies
with its parent. The TSA key is ECDSA P-256: ``openssl ts`` signs through the PKCS#7 routines, which
refuse Ed25519 keys. Tokens embed the signer certificate alone (no ``certs`` file, no ``-chain``,
``ess_cert_id_chain = no``): ``rfc3161-client`` rejects tokens holding several certificates in the
set order openssl writes them.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import subprocess
import sys
import urllib.request
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Final

from aiohttp import web

from provledger.errors import ServiceUnavailable
from provledger.local.process import ManagedProcess, free_port

QUERY_TYPE: Final = "application/timestamp-query"
REPLY_TYPE: Final = "application/timestamp-reply"
#: A SHA-512 query with a nonce and a policy is under 150 bytes; anything much larger is not a query.
MAX_QUERY_BYTES: Final = 4096
#: Longest one ``openssl`` run may take (a signature takes milliseconds).
OPENSSL_TIMEOUT_S: Final = 10.0
START_TIMEOUT_S: Final = 20.0
BIND_ATTEMPTS: Final = 3
#: Validity of the throwaway certificates; tokens are checked at their genTime, so this only has to
#: outlast a development data directory.
CERT_DAYS: Final = 3650
#: The TSA policy OID written into every token (a private arc: these tokens mean nothing outside).
POLICY_OID: Final = "1.3.6.1.4.1.99999.3161.1"

_EXTENSIONS: Final = """\
[req]
distinguished_name = dn
prompt = no
[dn]
CN = unused
[tsa_ca]
basicConstraints = critical,CA:true
keyUsage = critical,keyCertSign,cRLSign
subjectKeyIdentifier = hash
[tsa_signer]
basicConstraints = critical,CA:false
keyUsage = critical,digitalSignature
extendedKeyUsage = critical,timeStamping
subjectKeyIdentifier = hash
authorityKeyIdentifier = keyid
"""


@dataclass(frozen=True)
class TsaFiles:
    """Where one local TSA keeps its CA, its signing certificate and key, and its ``openssl ts`` config."""

    directory: Path

    @property
    def ca_cert(self) -> Path:
        """The CA's PEM certificate: the roots file the anchorer and ``provledger verify`` trust."""
        return self.directory / "ca.pem"

    @property
    def config(self) -> Path:
        """The ``openssl ts`` configuration; written last, so its presence means the set is whole."""
        return self.directory / "ts.cnf"


def _openssl(*args: str | Path, stdin: bytes | None = None) -> bytes:
    try:
        done = subprocess.run(
            ["openssl", *map(str, args)], input=stdin, capture_output=True, timeout=OPENSSL_TIMEOUT_S
        )
    except (OSError, subprocess.TimeoutExpired) as exc:
        raise ServiceUnavailable(f"openssl {args[0]} could not run ({exc}): install OpenSSL 3") from exc
    if done.returncode != 0:
        raise ServiceUnavailable(f"openssl {args[0]} failed: {done.stderr.decode(errors='replace')}")
    return done.stdout


def make_tsa_pki(directory: Path, name: str = "provledger local") -> TsaFiles:
    """Create (once) a CA, a TSA certificate with critical EKU timeStamping, and an ``openssl ts`` config.

    An existing complete set is reused, so tokens issued before a restart still verify against
    the same roots file.
    """
    files = TsaFiles(directory.resolve())
    if files.config.exists():
        return files
    d = files.directory
    d.mkdir(parents=True, exist_ok=True)
    extensions = d / "extensions.cnf"
    extensions.write_text(_EXTENSIONS)
    p256 = ("-algorithm", "EC", "-pkeyopt", "ec_paramgen_curve:P-256")
    for key in ("ca.key", "tsa.key"):
        _openssl("genpkey", *p256, "-out", d / key)
        (d / key).chmod(0o600)
    common = ("-days", str(CERT_DAYS), "-config", extensions)
    _openssl(
        "req",
        "-x509",
        "-new",
        "-key",
        d / "ca.key",
        "-subj",
        f"/CN={name} TSA root",
        *common,
        "-extensions",
        "tsa_ca",
        "-out",
        files.ca_cert,
    )
    csr = _openssl("req", "-new", "-key", d / "tsa.key", "-subj", f"/CN={name} TSA", "-config", extensions)
    _openssl(
        "x509",
        "-req",
        "-in",
        "/dev/stdin",
        "-CA",
        files.ca_cert,
        "-CAkey",
        d / "ca.key",
        "-set_serial",
        "2",
        "-days",
        str(CERT_DAYS),
        "-extfile",
        extensions,
        "-extensions",
        "tsa_signer",
        "-out",
        d / "tsa.pem",
        stdin=csr,
    )
    (d / "serial").write_text("01\n")
    files.config.write_text(
        "[tsa]\n"
        "default_tsa = tsa_config\n"
        "[tsa_config]\n"
        f'serial = "{d / "serial"}"\n'
        "crypto_device = builtin\n"
        f'signer_cert = "{d / "tsa.pem"}"\n'
        f'signer_key = "{d / "tsa.key"}"\n'
        "signer_digest = sha256\n"
        f"default_policy = {POLICY_OID}\n"
        "digests = sha256, sha384, sha512\n"
        "accuracy = secs:1\n"
        "ordering = no\n"
        "tsa_name = yes\n"
        # The ESS signing-certificate attribute names the signer certificate alone.
        "ess_cert_id_chain = no\n"
        "ess_cert_id_alg = sha256\n"
    )
    return files


def make_app(files: TsaFiles) -> web.Application:
    """The HTTP side: ``POST /`` answers a query with a token, ``GET /healthz`` says it is up."""
    # openssl increments the serial file in place: one reply at a time keeps serials unique.
    serial_lock = asyncio.Lock()

    async def timestamp(request: web.Request) -> web.Response:
        if request.content_type != QUERY_TYPE:
            raise web.HTTPUnsupportedMediaType(text=f"send {QUERY_TYPE}")
        if request.content_length is not None and request.content_length > MAX_QUERY_BYTES:
            raise web.HTTPRequestEntityTooLarge(max_size=MAX_QUERY_BYTES, actual_size=request.content_length)
        query = await request.read()  # client_max_size refuses a longer chunked body with 413
        async with serial_lock:
            reply = await openssl_reply(files, query)
        return web.Response(body=reply, content_type=REPLY_TYPE)

    async def healthz(_: web.Request) -> web.Response:
        return web.Response(text="ok\n")

    app = web.Application(client_max_size=MAX_QUERY_BYTES)
    app.router.add_post("/", timestamp)
    app.router.add_get("/healthz", healthz)
    return app


async def openssl_reply(files: TsaFiles, query: bytes) -> bytes:
    """Run ``openssl ts -reply`` on one query, within :data:`OPENSSL_TIMEOUT_S`.

    A query openssl cannot parse still gets a TimeStampResp, with status rejection.
    """
    process = await asyncio.create_subprocess_exec(
        "openssl",
        "ts",
        "-reply",
        "-config",
        str(files.config),
        "-queryfile",
        "/dev/stdin",
        stdin=asyncio.subprocess.PIPE,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    try:
        reply, errors = await asyncio.wait_for(process.communicate(query), OPENSSL_TIMEOUT_S)
    except TimeoutError:
        process.kill()
        await process.wait()
        raise web.HTTPServiceUnavailable(text="openssl ts timed out") from None
    if process.returncode != 0 or not reply:
        print(f"openssl ts -reply failed: {errors.decode(errors='replace')}", file=sys.stderr, flush=True)
        raise web.HTTPInternalServerError(text="openssl ts failed")
    return reply


class LocalTsa:
    """The local TSA server process on a free port of 127.0.0.1."""

    def __init__(self, directory: Path, log_path: Path, name: str = "provledger local") -> None:
        self.files = TsaFiles(directory.resolve())
        self.log_path = log_path
        self.name = name
        self.port = 0
        self._process: ManagedProcess | None = None

    @property
    def url(self) -> str:
        """Where to POST queries (a ``PROVLEDGER_TSA_URLS`` entry)."""
        return f"http://127.0.0.1:{self.port}/"

    @property
    def roots_file(self) -> Path:
        """The PEM of the throwaway CA (``PROVLEDGER_TSA_ROOTS_FILE``, ``provledger verify --tsa-roots``)."""
        return self.files.ca_cert

    @property
    def process(self) -> ManagedProcess | None:
        """The server process, for fault tests that pause or kill it."""
        return self._process

    def start(self) -> None:
        """Make the certificates if needed, start the server, wait until ``/healthz`` answers."""
        make_tsa_pki(self.files.directory, self.name)
        for attempt in range(1, BIND_ATTEMPTS + 1):
            self.port = free_port()
            argv = [
                sys.executable,
                "-m",
                "provledger.local.tsa",
                "--dir",
                str(self.files.directory),
                "--port",
                str(self.port),
            ]
            self._process = ManagedProcess("tsa", argv, self.log_path)
            try:
                self._process.wait_ready(self._probe, START_TIMEOUT_S, f"GET {self.url}healthz")
                return
            except ServiceUnavailable:
                if attempt == BIND_ATTEMPTS or "in use" not in self._process.log_tail().lower():
                    raise

    def _probe(self) -> None:
        with urllib.request.urlopen(f"{self.url}healthz", timeout=2) as answer:
            if answer.status != 200:
                raise RuntimeError(f"/healthz answered {answer.status}")

    def stop(self) -> None:
        if self._process is not None:
            self._process.stop()


@contextlib.contextmanager
def local_tsa(directory: Path, log_path: Path, name: str = "provledger local") -> Iterator[LocalTsa]:
    """Yield a running local TSA whose files live in ``directory``; stop it on exit, also on failure.

    ``name`` makes the certificates' subjects (``CN=<name> TSA``) when they are first created.
    """
    tsa = LocalTsa(directory, log_path, name)
    try:
        tsa.start()
        yield tsa
    finally:
        tsa.stop()


def main(argv: Sequence[str] | None = None) -> None:
    """Serve the TSA in ``--dir`` (made if missing) on ``--host``:``--port`` until SIGTERM or SIGINT."""
    parser = argparse.ArgumentParser(prog="python -m provledger.local.tsa", description=__doc__)
    parser.add_argument("--dir", type=Path, required=True, help="where the CA, key and config live")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, required=True)
    args = parser.parse_args(argv)
    files = make_tsa_pki(args.dir)
    web.run_app(make_app(files), host=args.host, port=args.port, print=None, access_log=None)


if __name__ == "__main__":
    main()
