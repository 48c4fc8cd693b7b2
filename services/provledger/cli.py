"""``provledger``: the one command-line entry point; the only place that reads flags.

Each command parses its options and calls its implementation in :mod:`provledger.commands`,
imported when the command runs, so ``--help`` stays fast. :func:`main` turns provledger errors
into one line and an exit code.
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Annotated

import click
import typer
from rich.console import Console
from rich.text import Text

from provledger.errors import ConfigurationError, ProvledgerError, ServiceUnavailable

app = typer.Typer(
    name="provledger",
    help="A provenance ledger for machine-learning systems: events from Kafka sealed into signed "
    "Merkle blocks in Postgres, anchored externally, queried with verifiable evidence.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)
keys_app = typer.Typer(help="Manage Ed25519 signing keys.", no_args_is_help=True)
app.add_typer(keys_app, name="keys")
tokens_app = typer.Typer(
    help="Manage API bearer tokens (stored hashed in PROVLEDGER_TOKENS_FILE).", no_args_is_help=True
)
app.add_typer(tokens_app, name="tokens")
witness_app = typer.Typer(
    help="Run a C2SP tlog-witness (PROVLEDGER_WITNESS_*): cosign the checkpoints of the logs in "
    "PROVLEDGER_WITNESS_LOGS_FILE, only ever forward. `provledger witness keys` prints its verifier key.",
    invoke_without_command=True,
)
app.add_typer(witness_app, name="witness")
anchors_app = typer.Typer(
    help="Set up the evm anchor kind on a chain: a submitter key, the anchor contract.", no_args_is_help=True
)
app.add_typer(anchors_app, name="anchors")

#: Errors stay one line however narrow the terminal (logs and scripts grep them), and their text is
#: never read as markup: a ``[/]`` inside an exception message must not crash or restyle the report.
_stderr = Console(stderr=True, soft_wrap=True, highlight=False)

#: Exit codes: 1 a check failed or work failed, 2 bad usage or configuration, 3 a server did not answer.
EXIT_FAILED, EXIT_CONFIG, EXIT_UNAVAILABLE = 1, 2, 3


@app.command()
def up(
    data_dir: Annotated[
        Path | None, typer.Option(help="Data directory (default: PROVLEDGER_DATA_DIR or .provledger).")
    ] = None,
    demo: Annotated[
        bool, typer.Option(help="Also run the demo workload, then prove and show its model's lineage.")
    ] = False,
    exit_after: Annotated[
        float | None, typer.Option(help="Stop by itself after this many seconds (for scripts and tests).")
    ] = None,
) -> int:
    """Start the all-in-one local stack: Postgres, a Kafka-compatible broker, and every built service."""
    from provledger.commands.up import run_stack

    return run_stack(data_dir=data_dir, demo=demo, exit_after=exit_after)


@app.command()
def migrate() -> int:
    """Apply pending database migrations to PROVLEDGER_DATABASE_URL (safe to run twice or concurrently)."""
    from provledger.commands.migrate import migrate_command

    return migrate_command()


@app.command()
def sealer() -> int:
    """Run the sealer: Kafka events into signed Merkle blocks in Postgres (PROVLEDGER_SIGNING_KEY_FILE)."""
    from provledger.commands.sealer import sealer_command

    return sealer_command()


@app.command()
def anchorer() -> int:
    """Run the anchorer: check every shard only grew, sign shard-heads statements, anchor them.

    Signs with PROVLEDGER_ANCHORER_KEY_FILE (never the sealer's key), every PROVLEDGER_ANCHOR_INTERVAL_S,
    and submits to PROVLEDGER_ANCHOR_KINDS; one replica is active, the others stand by.
    """
    from provledger.commands.anchorer import anchorer_command

    return anchorer_command()


@witness_app.callback()
def witness(ctx: typer.Context) -> int | None:
    """Serve C2SP tlog-witness add-checkpoint on PROVLEDGER_WITNESS_HOST:PROVLEDGER_WITNESS_PORT."""
    if ctx.invoked_subcommand is not None:
        return None
    from provledger.commands.witness import witness_command

    return witness_command()


@witness_app.command("keys")
def witness_keys() -> int:
    """Print the witness's cosignature verifier key (a C2SP vkey of type 0x04) from its key file."""
    from provledger.commands.witness import keys_command

    return keys_command()


@app.command()
def api() -> int:
    """Run the HTTP API: lineage queries, evidence bundles, tlog endpoints, OpenLineage ingest.

    Listens on PROVLEDGER_API_HOST:PROVLEDGER_API_PORT; tokens from PROVLEDGER_TOKENS_FILE.
    """
    from provledger.commands.api import api_command

    return api_command()


@app.command()
def emit(
    sources: Annotated[list[Path], typer.Argument(help="JSON or JSON-lines files; - reads standard input.")],
    source_format: Annotated[
        str | None,
        typer.Option(
            "--format",
            help="Read every event as native (provledger events) or openlineage (RunEvents). "
            "Without it, each JSON line, or a JSON file as a whole, is read as an OpenLineage RunEvent "
            "when it has more of schemaURL, eventTime, eventType, run.runId than of event_id, "
            "event_time, event_type, run.run_id, else as a native event.",
        ),
    ] = None,
) -> int:
    """Send events from files or standard input to Kafka, with a progress bar and a summary.

    A JSON-lines file may mix native events and OpenLineage RunEvents: each line is read in the
    format its keys show. A bad line is listed with the format it was read in, then what to do.
    """
    from provledger.commands.emit import emit_command

    return emit_command(sources, source_format)


@app.command()
def demo(
    duration: Annotated[
        float, typer.Option(help="Seconds of inference traffic after the training story.")
    ] = 10.0,
    inference_rate: Annotated[float, typer.Option(help="Inference events per second.")] = 50.0,
) -> int:
    """Simulate an ML platform (datasets, training, deployment, inference, a federated round)."""
    from provledger.commands.demo import demo_command

    return demo_command(duration, inference_rate)


def _anchor_kinds(value: str | None) -> str | None:
    """Refuse an unknown ``--require`` kind as a usage error, naming the known ones."""
    from provledger.commands.verify import required_kinds

    try:
        required_kinds(value)
    except ConfigurationError as exc:
        raise typer.BadParameter(str(exc)) from exc
    return value


@app.command()
def verify(
    bundle: Annotated[Path, typer.Argument(help="Evidence bundle (JSON) to check offline.")],
    trusted_keys: Annotated[
        Path,
        typer.Option(help="Trusted keys: C2SP verifier keys one a line (# comments), or a JSON key set."),
    ],
    as_json: Annotated[bool, typer.Option("--json", help="Print the checks as JSON for machines.")] = False,
    log_origin: Annotated[
        str | None,
        typer.Option(
            help="The log the bundle must come from (the ledger's PROVLEDGER_LOG_ORIGIN): the header's "
            "log_id and the checkpoint's origin must be its. Required unless every trusted key has this name."
        ),
    ] = None,
    event_id: Annotated[
        str | None, typer.Option(help="The event you expect: fails unless the bundle is about it.")
    ] = None,
    tsa_roots: Annotated[
        Path | None,
        typer.Option(help="PEM roots of the timestamp authorities you trust: checks rfc3161 receipts."),
    ] = None,
    witness_policy: Annotated[
        Path | None,
        typer.Option(
            help="Witness policy (Sigsum format, C2SP vkeys: witness/group/quorum lines): checks "
            "tlog-witness receipts, a quorum of cosignatures on the shard checkpoint."
        ),
    ] = None,
    require: Annotated[
        str | None,
        typer.Option(
            help="Comma list of anchor kinds (rfc3161, witness, evm) that must have a verified receipt; "
            "fails closed when one is missing, unchecked or failed.",
            callback=_anchor_kinds,
        ),
    ] = None,
    evm_rpc: Annotated[
        str | None,
        typer.Option(
            help="JSON-RPC URL of an Ethereum node you choose: an evm receipt's block must be the chain's "
            "block at that height, and final. Without it or --evm-trusted-block evm receipts are unchecked."
        ),
    ] = None,
    evm_trusted_block: Annotated[
        list[str] | None,
        typer.Option(
            help="N:HASH of a block you trust (repeatable): an evm receipt's block must be one of them. "
            "Checks offline, instead of --evm-rpc."
        ),
    ] = None,
) -> int:
    """Check an evidence bundle offline: exit 0 if no check failed, 1 if one did, 2 if unreadable."""
    from provledger.commands.verify import required_kinds, verify_command

    return verify_command(
        bundle,
        trusted_keys,
        as_json=as_json,
        log_origin=log_origin,
        tsa_roots=tsa_roots,
        require=required_kinds(require),
        witness_policy=witness_policy,
        event_id=event_id,
        evm_rpc=evm_rpc,
        evm_trusted_blocks=tuple(evm_trusted_block or ()),
    )


@app.command()
def audit(
    json_output: Annotated[
        bool, typer.Option("--json", help="Print the report as one JSON document.")
    ] = False,
    max_listed: Annotated[
        int, typer.Option(min=1, help="Mismatches listed in full per shard (all are counted).")
    ] = 1000,
    trusted_keys: Annotated[
        Path | None,
        typer.Option(
            help="Keys to check blocks, checkpoint notes and anchor statements against instead of the "
            "database's: C2SP verifier keys one a line, or a JSON key set (the sealer's and the anchorer's). "
            "Every database key not among them is a key_untrusted mismatch (exit 1); without this option "
            "the report says the database's own keys were trusted."
        ),
    ] = None,
    tsa_roots: Annotated[
        Path | None,
        typer.Option(help="PEM roots of the timestamp authorities you trust: checks rfc3161 receipts."),
    ] = None,
    witness_policy: Annotated[
        Path | None,
        typer.Option(
            help="The witness policy verify reads: stored cosignatures by a key it does not list are "
            "reported as untrusted (every cosignature is checked under the key its row names either way)."
        ),
    ] = None,
) -> int:
    """Recheck every event, block, signature, tile, checkpoint, statement and receipt; exit 1 on a mismatch.

    With PROVLEDGER_KAFKA_BOOTSTRAP set it also compares the checkpoints topic with the database.
    """
    from provledger.commands.audit import audit_command

    return audit_command(json_output, max_listed, trusted_keys, tsa_roots, witness_policy)


@app.command()
def bench(
    events: Annotated[int, typer.Option(help="Events in the pre-filled topic.")] = 300_000,
    rate: Annotated[int, typer.Option(help="Offered load of the latency phase, events/s.")] = 5_000,
) -> int:
    """Run the standard end-to-end benchmark (benchmarks/bench_seal.py) and print its figures."""
    from provledger.commands.bench import bench_command

    return bench_command(events, rate)


@app.command()
def monitor(
    submitter: Annotated[
        str, typer.Option(help="The ledger's submitter account (0x...), whose anchors to list.")
    ],
    rpc_url: Annotated[
        str, typer.Option(envvar="PROVLEDGER_EVM_RPC_URL", help="JSON-RPC URL of a node of the chain.")
    ],
    contract: Annotated[
        str, typer.Option(envvar="PROVLEDGER_EVM_CONTRACT", help="The anchor contract's address (0x...).")
    ],
    api: Annotated[
        str | None, typer.Option(help="The ledger's API URL: its GET /v1/anchors statements are compared.")
    ] = None,
    api_token_file: Annotated[
        Path | None, typer.Option(help="File holding a read token for the API (unless its reads are public).")
    ] = None,
    statements: Annotated[
        Path | None,
        typer.Option(
            help="Statements you hold (JSON list of notes, an API page, or JSON lines): checked too."
        ),
    ] = None,
    from_block: Annotated[int, typer.Option(min=0, help="First block to read (the contract's).")] = 0,
    as_json: Annotated[bool, typer.Option("--json", help="Print anchors and alarms as JSON.")] = False,
) -> int:
    """List every anchor the submitter made on chain; exit 1 on an unserved or conflicting statement."""
    from provledger.commands.monitor import monitor_command

    return monitor_command(
        rpc_url,
        contract,
        submitter,
        api=api,
        token_file=api_token_file,
        statements=statements,
        from_block=from_block,
        as_json=as_json,
    )


@anchors_app.command("new-key")
def anchors_new_key(
    out: Annotated[Path, typer.Option(help="Where to write the submitter's private key (mode 0600).")],
) -> int:
    """Write a new secp256k1 submitter key for the evm anchor kind and print its account to fund."""
    from provledger.commands.anchors import new_key_command

    return new_key_command(out)


@anchors_app.command("deploy-contract")
def anchors_deploy_contract(
    rpc_url: Annotated[
        str, typer.Option(envvar="PROVLEDGER_EVM_RPC_URL", help="JSON-RPC URL of a node of the chain.")
    ],
    key_file: Annotated[
        Path,
        typer.Option(envvar="PROVLEDGER_EVM_KEY_FILE", help="The funded submitter key file that deploys."),
    ],
    max_fee_gwei: Annotated[float, typer.Option(min=0.0, help="Fee cap per unit of gas, in gwei.")] = 100.0,
) -> int:
    """Deploy the anchor contract (the bytecode shipped in the package) and print the anchorer's settings."""
    from provledger.commands.anchors import deploy_command

    return deploy_command(rpc_url, key_file, max_fee_gwei)


@keys_app.command("generate")
def keys_generate(
    out: Annotated[Path, typer.Option(help="Where to write the PEM private key (mode 0600).")],
    name: Annotated[str, typer.Option(help="Key name, as in C2SP verifier keys.")] = "provledger",
) -> int:
    """Generate an Ed25519 signing key file (mode 0600) and print its public verifier key."""
    from provledger.commands.keys import generate_command

    return generate_command(out, name)


@keys_app.command("rotate")
def keys_rotate(
    key_file: Annotated[Path, typer.Option(help="PEM file of the new key (`provledger keys generate`).")],
    name: Annotated[
        str | None, typer.Option(help="Its key name (default: PROVLEDGER_SIGNING_KEY_NAME, as the sealer).")
    ] = None,
    from_height: Annotated[
        int | None,
        typer.Option(min=1, help="The new key signs this block of --shard (the next one) and all after it."),
    ] = None,
    shard: Annotated[int | None, typer.Option(min=0, help="Shard of --from-height, if several.")] = None,
    now: Annotated[
        bool, typer.Option("--now", help="The new key signs every block sealed from now.")
    ] = False,
) -> int:
    """Register a signing key, or hand signing over to a new one from a given block on.

    The one way a key becomes valid: a sealer refuses to start with a key not registered and
    valid now. Old blocks stay verifiable; a sealer still running with the old key stops by
    itself at the rotation point. Also registers a new ledger's first key (`--now`).
    """
    from provledger.commands.keys import rotate_command

    return rotate_command(key_file, name, from_height, shard, now)


_TOKEN_NAME_HELP = "Who the token is for, unique in the file: sealed as provledger.submitter with its events."
_TOKEN_NAMESPACES_HELP = (
    "Comma-separated job namespaces an emit token may emit to (exact names); without it, any namespace."
)


@tokens_app.command("create")
def tokens_create(
    scopes: Annotated[str, typer.Option(help="Comma-separated scopes: read, emit, admin.")],
    name: Annotated[str, typer.Option(help=_TOKEN_NAME_HELP)] = "token",
    namespaces: Annotated[str | None, typer.Option(help=_TOKEN_NAMESPACES_HELP)] = None,
    tokens_file: Annotated[
        Path | None, typer.Option(help="Tokens file (default: PROVLEDGER_TOKENS_FILE).")
    ] = None,
) -> int:
    """Create an API token: print it once, append only its SHA-256 hash to the tokens file."""
    from provledger.commands.tokens import create_command

    return create_command(scopes, name, tokens_file, namespaces)


def main(argv: list[str] | None = None) -> None:
    """Run the CLI; a provledger error becomes a one-line message and a meaningful exit code."""
    try:
        result = app(args=argv, prog_name="provledger", standalone_mode=False)
    except (click.exceptions.Abort, typer.Abort):
        sys.exit(130)
    except (click.ClickException, typer.TyperException) as exc:
        # typer >= 0.22 raises its own copy of click's usage errors: both print a usage line.
        show = getattr(exc, "show", None)
        if callable(show):
            show()
        else:
            _stderr.print(Text(f"error: {exc}"))
        sys.exit(exc.exit_code)
    except ProvledgerError as exc:
        _stderr.print(Text.assemble(("error:", "bold red"), f" {exc}"))
        code = {
            ConfigurationError: EXIT_CONFIG,
            ServiceUnavailable: EXIT_UNAVAILABLE,
        }
        sys.exit(next((c for cls, c in code.items() if isinstance(exc, cls)), EXIT_FAILED))
    sys.exit(result if isinstance(result, int) else 0)
