"""``python -m synthera`` runs the command-line interface."""

from synthera.cli import main

main()
