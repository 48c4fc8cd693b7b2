"""What each ``provledger`` command does: load its settings, run the libraries, print, return an exit code.

:mod:`provledger.cli` parses the options and calls one function here per command; everything
that prints, draws a progress bar or chooses an exit code lives here, so the libraries
(``ledger``, ``store``, ``sealer``, ``emit``, ``anchor``, ...) only return values and raise
errors. Each module is one command or one family of them::

    from provledger.commands.verify import verify_command
    exit_code = verify_command(Path("evidence.json"), Path("keys.txt"), as_json=False, log_origin=None)

A new command is a function in a module here (its own module when it needs more than a few
lines) and a thin typer wrapper in :mod:`provledger.cli` that imports it when run, so ``--help``
stays fast.
"""
