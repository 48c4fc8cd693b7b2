"""``python -m provledger`` runs the CLI, for environments without the console script on PATH."""

from provledger.cli import main

main()
