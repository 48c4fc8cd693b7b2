"""``provledger up``: bring the all-in-one local stack up, show what it seals, stop it all on exit.

It starts (or connects to) Postgres and a Kafka-compatible broker, applies migrations, then
runs every built service as a child process of its own (its log in the data directory's
``logs/``), each stopped in reverse order on exit, Ctrl-C or SIGTERM, and killed by
the kernel if ``up`` itself is killed. ``PROVLEDGER_LOCAL_SERVERS`` chooses which kind of local
server it starts where no external one is named. It prints, every few seconds, what the sealer has sealed.

The anchorer gets a local RFC 3161 TSA (unless ``PROVLEDGER_TSA_URLS`` and roots are set) and two
witnesses, ``provledger witness`` processes played by the demo federation's participants
(:mod:`provledger.local.witnesses`; unless ``PROVLEDGER_WITNESSES`` names others); ``--demo``
then proves the demo model's evidence offline with both anchors required. Where anvil is installed
(Node.js, `make install`) it also starts a local chain, deploys the anchor contract and adds the
``evm`` kind (:mod:`provledger.local.anvil`; unless ``PROVLEDGER_EVM_*`` name a chain); its receipts
are final only 64 blocks (seconds) later, so the demo does not require them.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import sys
import threading
import time
import urllib.request
from collections.abc import Callable
from dataclasses import dataclass, replace
from pathlib import Path
from types import FrameType

from rich.console import Console
from rich.table import Table

from provledger import logs
from provledger.anchor.evm.settings import EvmSettings
from provledger.anchor.rfc3161.settings import Rfc3161Settings
from provledger.anchor.tlog_witness import WitnessClientSettings
from provledger.commands.keys import register_sealer_key
from provledger.commands.showcase import DemoShowcase, DemoTrust, TrustedKey
from provledger.commands.stack_env import StackAddresses, export_lines, write_env_file
from provledger.commands.stack_progress import SealedProgress
from provledger.config import (
    AnchorerSettings,
    KafkaSettings,
    LedgerIdentitySettings,
    SealerSettings,
    StackSettings,
    load,
    masked,
)
from provledger.errors import ServiceUnavailable
from provledger.kafka_security import client_options
from provledger.keyfiles import generate_key_file, load_signing_key
from provledger.local import LocalServers, LocalServersSettings, local_servers
from provledger.local.anvil import LocalChain, start_local_chain
from provledger.local.logins import service_logins
from provledger.local.probes import run_blocking
from provledger.local.process import ManagedProcess, free_port
from provledger.local.topics import ingest_partitions
from provledger.local.tsa import LocalTsa, local_tsa
from provledger.local.witnesses import (
    WITNESSES_DIR,
    LocalWitness,
    plan_witnesses,
    witnesses_variable,
    write_logs_file,
    write_policy_file,
)
from provledger.store.migrate import migrate_database

_console = Console()
_log = logs.get_logger(__name__)

#: Where, under the data directory, `up` keeps the development keys it generates.
DEVELOPMENT_KEY = Path("keys") / "development-sealer.pem"
DEVELOPMENT_ANCHORER_KEY = Path("keys") / "development-anchorer.pem"
#: The local stack anchors every this many seconds (PROVLEDGER_ANCHOR_INTERVAL_S overrides), so
#: the demo's events are timestamped while one watches; a deployment's default is 60. The API is
#: given the same value: it adds it to the newest statement's time to say when an unanchored
#: bundle's anchor is due.
LOCAL_ANCHOR_INTERVAL_S = 3.0
#: How long a service may take to report ready.
SERVICE_READY_TIMEOUT_S = 90.0
#: How often the sealed-so-far line is refreshed (printed only when it changed).
PROGRESS_INTERVAL_S = 5.0
#: The demo's steady inference traffic under `up --demo`: for an hour, at this rate per second.
DEMO_DURATION_S, DEMO_INFERENCE_RATE = 3600, 20


@dataclass(frozen=True)
class Service:
    """A provledger command `up` runs as a child, with its readiness probe (None: started is ready)."""

    name: str
    command: list[str]
    env: dict[str, str]
    ready: Callable[[], None] | None = None
    show: str = ""
    oneshot: bool = False  # a job that may finish (status 0) while the stack stays up

    def start(self, logs_dir: Path) -> ManagedProcess:
        argv = [sys.executable, "-m", "provledger", *self.command]
        return ManagedProcess(self.name, argv, logs_dir / f"{self.name}.log", env=os.environ | self.env)


def _stop_on_signals(stop: threading.Event) -> None:
    def handler(signum: int, frame: FrameType | None) -> None:
        stop.set()

    for sig in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP):
        signal.signal(sig, handler)


def _development_key(configured: Path | None, path: Path, name: str, what: str, variable: str) -> Path:
    """The configured key file, else ``path``, a development key of this data directory (made once)."""
    if configured is not None:
        return configured
    if path.exists():
        _console.print(f"Using the development {what} key {path} ({variable} is not set).")
    else:
        key = generate_key_file(path, name)
        _console.print(
            f"Generated a development {what} key at {path} ({variable} is not set); "
            f"it is reused by later runs. Verifier key: {key.verifier.verifier_key_string()}\n"
            f"For anything but local use, create a key with `provledger keys generate` and set {variable}."
        )
    return path.resolve()


@dataclass(frozen=True)
class Anchoring:
    """What the anchorer `up` starts is given: its key, its pace, and the TSAs it timestamps with."""

    key_file: Path
    key_name: str
    interval_s: float
    tsa_urls: str
    tsa_roots: Path
    local_tsa: LocalTsa | None = None
    #: The evm kind's chain: a local anvil `up` started, or None (configured by PROVLEDGER_EVM_*, or off).
    chain: LocalChain | None = None
    evm: bool = False

    @property
    def kinds(self) -> str:
        """PROVLEDGER_ANCHOR_KINDS of the anchorer."""
        return "rfc3161,evm" if self.evm else "rfc3161"


def _anchoring(data_dir: Path, children: contextlib.ExitStack) -> Anchoring:
    """The anchorer's key and TSAs: the configured ones, else a development key and a local TSA.

    The local TSA (``openssl ts`` behind HTTP, :mod:`provledger.local.tsa`) keeps its throwaway CA
    under the data directory, so tokens from earlier runs still verify against the same roots.
    """
    anchorer = load(AnchorerSettings, **_local_interval())
    key_file = _development_key(
        anchorer.anchorer_key_file, data_dir / DEVELOPMENT_ANCHORER_KEY, anchorer.anchorer_key_name,
        "anchorer", "PROVLEDGER_ANCHORER_KEY_FILE",
    )  # fmt: skip
    name, interval = anchorer.anchorer_key_name, anchorer.anchor_interval_s
    tsas = load(Rfc3161Settings)
    if tsas.tsa_urls and tsas.tsa_roots_file is not None:
        return Anchoring(key_file, name, interval, tsas.tsa_urls, tsas.tsa_roots_file)
    tsa = children.enter_context(local_tsa(data_dir / "tsa", data_dir / "logs" / "tsa.log"))
    return Anchoring(key_file, name, interval, tsa.url, tsa.roots_file, tsa)


def _with_chain(anchoring: Anchoring, data_dir: Path, children: contextlib.ExitStack) -> Anchoring:
    """The evm kind on the chain PROVLEDGER_EVM_* names, else on a local anvil, else (no Node) none."""
    evm = load(EvmSettings)
    if evm.evm_rpc_url and evm.evm_contract and evm.evm_key_file and evm.evm_chain_id:
        return replace(anchoring, evm=True)
    with _console.status("starting a local chain (anvil) and deploying the anchor contract..."):
        chain = start_local_chain(data_dir / "chain", data_dir / "logs" / "anvil.log", children)
    if chain is None:
        _console.print(
            "No local chain: anvil is not installed (it comes with Node.js and npm: `make install`), "
            "so the evm anchor kind is off.",
            style="yellow",
        )
        return anchoring
    return replace(anchoring, chain=chain, evm=True)


def _local_interval() -> dict[str, float]:
    """The local stack's anchoring interval unless PROVLEDGER_ANCHOR_INTERVAL_S names one."""
    return (
        {} if "PROVLEDGER_ANCHOR_INTERVAL_S" in os.environ else {"anchor_interval_s": LOCAL_ANCHOR_INTERVAL_S}
    )


@dataclass(frozen=True)
class Witnessing:
    """The witnesses `up` starts for the anchorer: the demo federation's participants, and their policy."""

    witnesses: tuple[LocalWitness, ...]
    logs_file: Path
    policy_file: Path

    @property
    def variable(self) -> str:
        """``PROVLEDGER_WITNESSES`` for the anchorer."""
        return witnesses_variable(self.witnesses)


def _witnessing(
    data_dir: Path, servers: LocalServers, sealer_key: Path, sealer_key_name: str
) -> Witnessing | None:
    """Two local witnesses for the shards of the ingest topics, unless PROVLEDGER_WITNESSES names some.

    The topics are made first (:mod:`provledger.local.topics`) so that the logs file lists every
    shard the sealer can number; the policy (2 of 2) is what the demo's check requires.
    """
    if configured := load(WitnessClientSettings).endpoints():  # a malformed entry stops `up`, named
        names = ", ".join(endpoint.name for endpoint in configured)
        _console.print(f"Using the witnesses of PROVLEDGER_WITNESSES ({names}); no local witness is started.")
        return None
    kafka = load(KafkaSettings, kafka_bootstrap=servers.kafka_bootstrap)
    topics = (kafka.topic_events, kafka.topic_openlineage)
    shards = run_blocking(lambda: ingest_partitions(servers.kafka_bootstrap, topics, client_options(kafka)))
    directory = data_dir / WITNESSES_DIR
    sealer = load_signing_key(sealer_key, sealer_key_name).verifier
    logs_file = write_logs_file(
        directory / "logs.txt", load(LedgerIdentitySettings).log_origin, shards, sealer
    )
    witnesses = plan_witnesses(data_dir)
    return Witnessing(
        witnesses, logs_file.resolve(), write_policy_file(directory / "policy.txt", witnesses).resolve()
    )


def _witness_services(witnessing: Witnessing | None) -> list[Service]:
    """One `provledger witness` child per participant, each ready once its state file answers."""
    if witnessing is None:
        return []
    return [
        Service(
            f"witness-{w.participant}",
            ["witness"],
            w.env(witnessing.logs_file),
            ready=_readyz(w.port),
            show=f"{w.participant}'s witness at {w.url}, key {w.verifier_key}",
        )
        for w in witnessing.witnesses
    ]


def _readyz(port: int) -> Callable[[], None]:
    def probe() -> None:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/readyz", timeout=2):
            pass  # urlopen raises on any status but 2xx

    return probe


def _services(
    servers: LocalServers,
    stack: StackSettings,
    sealer: SealerSettings,
    key_file: Path,
    anchoring: Anchoring,
    witnessing: Witnessing | None,
    demo: bool,
    logins: dict[str, dict[str, str]],
) -> list[Service]:
    """The built services, in start order, configured for these servers, each with its own database login."""
    metrics_port = free_port() if "PROVLEDGER_METRICS_PORT" not in os.environ else sealer.metrics_port
    api_port = stack.api_port or free_port()
    anchorer_port = free_port()
    servers_env = {
        "PROVLEDGER_DATABASE_URL": servers.database_url,
        "PROVLEDGER_KAFKA_BOOTSTRAP": servers.kafka_bootstrap,
    }
    # The API and the anchorer MUST agree on the interval (AnchorScheduleSettings).
    interval = {"PROVLEDGER_ANCHOR_INTERVAL_S": str(anchoring.interval_s)}
    api_env = (
        servers_env
        | logins["api"]
        | interval
        | {"PROVLEDGER_API_HOST": stack.api_host, "PROVLEDGER_API_PORT": str(api_port)}
    )
    if "PROVLEDGER_PUBLIC_READS" not in os.environ:
        api_env["PROVLEDGER_PUBLIC_READS"] = "true"  # a local stack: reads need no token
    sealer_service = Service(
        "sealer",
        ["sealer"],
        servers_env
        | logins["sealer"]
        | {"PROVLEDGER_SIGNING_KEY_FILE": str(key_file), "PROVLEDGER_METRICS_PORT": str(metrics_port)},
        ready=_readyz(metrics_port),
        show=f"metrics http://127.0.0.1:{metrics_port}/metrics",
    )
    witnessed = f" and cosignatures from {len(witnessing.witnesses)} witnesses" if witnessing else ""
    services = [
        sealer_service,
        *_witness_services(witnessing),  # up before the anchorer asks them
        Service(
            "anchorer",
            ["anchorer"],
            servers_env
            | logins["anchorer"]
            | interval
            | {
                "PROVLEDGER_ANCHORER_KEY_FILE": str(anchoring.key_file),
                "PROVLEDGER_ANCHOR_KINDS": anchoring.kinds,
                "PROVLEDGER_TSA_URLS": anchoring.tsa_urls,
                "PROVLEDGER_TSA_ROOTS_FILE": str(anchoring.tsa_roots),
                "PROVLEDGER_METRICS_PORT": str(anchorer_port),
            }
            | ({"PROVLEDGER_WITNESSES": witnessing.variable} if witnessing else {})
            | ({} if anchoring.chain is None else anchoring.chain.env()),
            ready=_readyz(anchorer_port),
            show=f"RFC 3161 timestamps from {anchoring.tsa_urls}{witnessed}"
            f"{', anchors on chain' if anchoring.evm else ''}, "
            f"metrics http://127.0.0.1:{anchorer_port}/metrics",
        ),
        Service(
            "api",
            ["api"],
            api_env,
            ready=_readyz(api_port),
            show=f"http://{stack.api_host}:{api_port}  (OpenAPI at /docs)",
        ),
    ]
    if demo:
        duration = ["--duration", str(DEMO_DURATION_S), "--inference-rate", str(DEMO_INFERENCE_RATE)]
        demo_env = servers_env | logins["api"]  # it needs only Kafka: never more than the reader's login
        services.append(Service("demo", ["demo", *duration], demo_env, show="demo workload", oneshot=True))
    return services


def _describe(
    servers: LocalServers,
    anchoring: Anchoring,
    witnessing: Witnessing | None,
    data_dir: Path,
    running: dict[str, tuple[Service, ManagedProcess]],
) -> Table:
    table = Table(title="provledger is up", show_header=False, title_justify="left")
    table.add_column(style="bold")
    table.add_column(overflow="fold")  # keys and paths are long words: fold them, never cut them
    postgres_pid = (
        f" (pid {servers.postgres.process.pid})" if servers.postgres and servers.postgres.process else ""
    )
    kafka_pid = f" (pid {servers.kafka.process.pid})" if servers.kafka and servers.kafka.process else ""
    table.add_row("Postgres", f"{servers.database_url}  [{servers.database_source}]{postgres_pid}")
    table.add_row("Kafka", f"{servers.kafka_bootstrap}  [{servers.kafka_source}]{kafka_pid}")
    if anchoring.local_tsa is not None and anchoring.local_tsa.process is not None:
        table.add_row(
            "TSA",
            f"{anchoring.local_tsa.url}  [local openssl ts, roots {anchoring.tsa_roots}] "
            f"(pid {anchoring.local_tsa.process.pid})",
        )
    if anchoring.chain is not None and anchoring.chain.node.process is not None:
        chain = anchoring.chain
        table.add_row(
            "Chain",
            f"{chain.node.url}  (local anvil, chain {chain.node.chain_id}, contract {chain.contract}, "
            f"submitter key {chain.key_file}) (pid {chain.node.process.pid})",
        )
    for name, (service, process) in running.items():
        table.add_row(
            name.capitalize(), f"running (pid {process.pid}), {service.show}, log {process.log_path}"
        )
    if witnessing is not None:
        quorum = f"{len(witnessing.witnesses)} of {len(witnessing.witnesses)} must cosign"
        table.add_row(
            "Witnessing", f"logs file {witnessing.logs_file}, policy {witnessing.policy_file} ({quorum})"
        )
    table.add_row("Data directory", str(data_dir.resolve()))
    table.add_row("Logs", str((data_dir / "logs").resolve()))
    table.add_row("Stop", "press Ctrl-C (or send SIGTERM); every process started here is stopped")
    return table


def _demo_trust(
    sealer_key: Path, sealer_key_name: str, anchoring: Anchoring, witnessing: Witnessing | None
) -> DemoTrust:
    """What the demo's check trusts (the public halves of `up`'s keys, the TSA roots) and requires.

    With the local witnesses it requires their cosignatures too, under the 2-of-2 policy `up` wrote;
    witnesses named by PROVLEDGER_WITNESSES come with no policy here, so only the timestamp is required.
    """
    keys = (
        TrustedKey("sealer", load_signing_key(sealer_key, sealer_key_name).verifier, sealer_key),
        TrustedKey(
            "anchorer", load_signing_key(anchoring.key_file, anchoring.key_name).verifier, anchoring.key_file
        ),
    )
    if witnessing is None:
        return DemoTrust(keys, anchoring.tsa_roots, anchoring.interval_s, required=("rfc3161",))
    return DemoTrust(
        keys,
        anchoring.tsa_roots,
        anchoring.interval_s,
        required=("rfc3161", "witness"),
        witness_policy=witnessing.policy_file,
        cosigners=tuple(w.key_name for w in witnessing.witnesses),
    )


def _start(service: Service, logs_dir: Path, stack: contextlib.ExitStack) -> ManagedProcess:
    process = service.start(logs_dir)
    stack.callback(process.stop)
    if service.ready is not None:
        process.wait_ready(service.ready, SERVICE_READY_TIMEOUT_S, f"{service.name} readiness")
    return process


def _reachable(host: str) -> str:
    """The address a local client uses for a server listening on ``host`` (every address: loopback)."""
    if host in ("", "0.0.0.0", "::"):
        return "127.0.0.1"
    return f"[{host}]" if ":" in host else host


def _print_environment(addresses: StackAddresses, data_dir: Path) -> None:
    """Print the addresses as ``export`` lines and write them where another terminal can ``source`` them."""
    lines = export_lines(addresses)
    path = write_env_file(data_dir, lines)
    _console.print(f"To reach this stack from another terminal: source {path}", highlight=False)
    _console.print("\n".join(lines), markup=False, highlight=False, soft_wrap=True)


def run_stack(*, data_dir: Path | None, demo: bool, exit_after: float | None) -> int:
    """Start servers, migrate, start what is built, wait for Ctrl-C or ``exit_after``; stop everything."""
    settings = load(StackSettings, **({"data_dir": data_dir} if data_dir else {}))
    mode = load(LocalServersSettings).local_servers
    logs.configure(settings.log_level, "console")
    _log.info("starting local stack", settings=masked(settings), local_servers=mode)
    settings.data_dir.mkdir(parents=True, exist_ok=True)
    stop = threading.Event()
    _stop_on_signals(stop)
    database_url = settings.require_database_url() if settings.database_url else None
    failed: str | None = None
    with (
        _console.status("starting Postgres and Kafka..."),
        local_servers(
            data_dir=settings.data_dir,
            database_url=database_url,
            kafka_bootstrap=settings.kafka_bootstrap,
            mode=mode,
        ) as servers,
        contextlib.ExitStack() as children,  # exits first: services stop before the servers
    ):
        applied = asyncio.run(migrate_database(servers.database_url))
        _log.info("migrations applied", applied=[f"{m.version:04d}_{m.name}" for m in applied])
        _console.status("").stop()
        sealer = load(SealerSettings)
        key_file = _development_key(
            sealer.signing_key_file, settings.data_dir / DEVELOPMENT_KEY, sealer.signing_key_name,
            "signing", "PROVLEDGER_SIGNING_KEY_FILE",
        )  # fmt: skip
        # The sealer never registers its key: a new ledger's first key is registered here.
        register_sealer_key(servers.database_url, key_file, sealer.signing_key_name)
        anchoring = _with_chain(_anchoring(settings.data_dir, children), settings.data_dir, children)
        witnessing = _witnessing(settings.data_dir, servers, key_file, sealer.signing_key_name)
        # Migrations and key registration ran as the superuser; each service gets its own login.
        logins = asyncio.run(service_logins(settings.data_dir, servers.database_url))
        services = _services(servers, settings, sealer, key_file, anchoring, witnessing, demo, logins)
        running = {
            service.name: (service, _start(service, settings.data_dir / "logs", children))
            for service in services
        }
        api = next(s for s in services if s.name == "api")
        api_url = f"http://{_reachable(settings.api_host)}:{api.env['PROVLEDGER_API_PORT']}"
        _console.print(f"Explorer page: {api_url}/", style="bold", highlight=False)
        _console.print(_describe(servers, anchoring, witnessing, settings.data_dir, running))
        _print_environment(
            StackAddresses(servers.kafka_bootstrap, servers.database_url, api_url, sealer.log_origin),
            settings.data_dir,
        )
        _console.print("ready", style="bold green")
        progress = SealedProgress(servers.database_url, _console, PROGRESS_INTERVAL_S)
        showcase = None
        if demo:
            trust = _demo_trust(key_file, sealer.signing_key_name, anchoring, witnessing)
            showcase = DemoShowcase(api_url, settings.data_dir, trust, _console)
            children.callback(showcase.close)
        deadline = None if exit_after is None else time.monotonic() + exit_after
        while not stop.is_set() and (deadline is None or time.monotonic() < deadline):
            exited = [
                (n, p)
                for n, (service, p) in running.items()
                if p.exit_code() is not None and not (service.oneshot and p.exit_code() == 0)
            ]
            if exited:
                name, process = exited[0]
                failed = f"{name} exited with status {process.exit_code()}; last lines of {process.log_path}:"
                _console.print(f"[bold red]{failed}[/]\n{process.log_tail()}", highlight=False)
                break
            progress.tick()
            if showcase is not None and showcase.tick():
                _console.print(f"\nThe API is at {api_url}; press Ctrl-C to stop everything.")
            stop.wait(0.2)
        _console.print("stopping...")
    _console.print("stopped: every process started by this command has exited.")
    if failed is not None:
        raise ServiceUnavailable(failed.rstrip(":"))
    return 0
