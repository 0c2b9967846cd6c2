"""``python -m qformat`` runs the command line."""

from qformat.cli import run

run()
