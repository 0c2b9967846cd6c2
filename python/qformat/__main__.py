"""``python -m qformat``: the command line."""

from qformat.cli import run

if __name__ == "__main__":
    run()
