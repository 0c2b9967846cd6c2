"""The ``qformat`` command line (also ``python -m qformat``).

Each command lives in a module of this package and is added to :data:`main`
below, by name: a missing module is an ImportError, never a silently
missing command. User mistakes end as one line on stderr with exit status 2
and bugs as a traceback with exit status 70 (``cli.errors``).
"""

from __future__ import annotations

import sys
import traceback

import click

from . import explain, quantize, verify
from .errors import INTERNAL_ERROR, USER_ERROR, fail, user_error_line

__all__ = ["main", "run", "fail", "user_error_line", "INTERNAL_ERROR"]


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(package_name="qformat")
def main() -> None:
    """Bit-exact number formats for machine learning: explain, decode, list,
    size, quantize and verify."""


for _command in (explain.explain_cmd, explain.decode_cmd, explain.formats_cmd,
                 explain.memory_cmd, quantize.quantize_cmd, quantize.dequantize_cmd,
                 verify.verify_cmd):
    main.add_command(_command)
del _command


def run() -> None:
    """Entry point: click's usage errors become one line on stderr and exit 2."""
    try:
        code = main(prog_name="qformat", standalone_mode=False)
    except click.exceptions.Exit as e:
        sys.exit(e.exit_code)
    except click.UsageError as e:
        hint = f" (see '{e.ctx.command_path} --help')" if e.ctx else ""
        click.echo(f"qformat: error: {e.format_message()}{hint}", err=True)
        sys.exit(USER_ERROR)
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
