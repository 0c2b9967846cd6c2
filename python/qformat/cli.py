"""The ``qformat`` command line (also ``python -m qformat``).

Each command lives in its own module (``_cli_*.py``) and registers itself on
the :data:`main` group; this file only assembles them and turns user
mistakes into one line on stderr with exit status 2 (never a traceback).
"""

from __future__ import annotations

import importlib
import sys
import traceback

import click

# Modules that define commands on `main`; each owns its command(s).
_COMMAND_MODULES = ("_cli_explain", "_cli_verify", "_cli_quantize")


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(package_name="qformat")
def main() -> None:
    """Bit-exact number formats for machine learning: explain, decode, list,
    size, quantize and verify."""


def fail(message: str) -> click.exceptions.Exit:
    """Print one clear line on stderr and exit with status 2."""
    click.echo(f"qformat: error: {message}", err=True)
    raise click.exceptions.Exit(2)


def user_error_line(e: BaseException) -> str:
    """The first line of an exception's message (its type name when empty)."""
    text = str(e)
    return text.splitlines()[0] if text.strip() else type(e).__name__


# Exit status of an internal error (a bug in qformat, not a user mistake):
# sysexits.h's EX_SOFTWARE, distinct from 1 (verify's mismatches) and 2 (usage).
INTERNAL_ERROR = 70


for _name in _COMMAND_MODULES:
    try:
        importlib.import_module(f"qformat.{_name}")
    except ModuleNotFoundError as e:  # a command module not written yet
        if e.name != f"qformat.{_name}":
            raise


def run() -> None:
    """Entry point: click's usage errors become one line on stderr and exit 2."""
    try:
        code = main(prog_name="qformat", standalone_mode=False)
    except click.exceptions.Exit as e:
        sys.exit(e.exit_code)
    except click.UsageError as e:
        hint = f" (see '{e.ctx.command_path} --help')" if e.ctx else ""
        click.echo(f"qformat: error: {e.format_message()}{hint}", err=True)
        sys.exit(2)
    except click.ClickException as e:
        click.echo(f"qformat: error: {e.format_message()}", err=True)
        sys.exit(e.exit_code)
    except click.Abort:
        click.echo("qformat: aborted", err=True)
        sys.exit(130)
    except KeyboardInterrupt:
        click.echo("qformat: interrupted", err=True)
        sys.exit(130)
    except Exception:  # noqa: BLE001 - a bug: show it whole and ask for a report
        traceback.print_exc()
        click.echo("qformat: internal error; this is a bug in qformat, please report it with "
                   "the traceback above and the command line", err=True)
        sys.exit(INTERNAL_ERROR)
    sys.exit(code if isinstance(code, int) else 0)


if __name__ == "__main__":
    run()
