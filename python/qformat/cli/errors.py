"""How the command line ends: a user mistake is one line on stderr and exit
status 2 (:func:`fail`); a bug in qformat is a whole traceback and exit
status 70 (:data:`INTERNAL_ERROR`, printed by ``cli.run``). Every command
uses these, so the two cases cannot be confused."""

from __future__ import annotations

from typing import Any, Callable, NoReturn

import click

# Exit status of a user mistake (click's usage errors use it too).
USER_ERROR = 2
# Exit status of an internal error (a bug in qformat, not a user mistake):
# sysexits.h's EX_SOFTWARE, distinct from 1 (verify's mismatches) and 2 (usage).
INTERNAL_ERROR = 70


def fail(message: str) -> NoReturn:
    """Print one clear line on stderr and exit with status 2."""
    click.echo(f"qformat: error: {message}", err=True)
    raise click.exceptions.Exit(USER_ERROR)


def user_error_line(e: BaseException) -> str:
    """The first line of an exception's message (its type name when empty)."""
    text = str(e)
    return text.splitlines()[0] if text.strip() else type(e).__name__


def guard(fn: Callable[[], Any]) -> Any:
    """Run ``fn``; user mistakes (``ValueError``: a bad option, a malformed
    file) and unreadable/unwritable files become :func:`fail`. Anything else
    is a bug and reaches ``cli.run``, which prints it whole (exit 70)."""
    try:
        return fn()
    except ValueError as e:
        fail(user_error_line(e))
    except OSError as e:
        fail(f"{e.filename or ''}: {e.strerror or e}".lstrip(": "))
