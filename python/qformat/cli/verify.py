"""The ``verify`` command: bit-for-bit comparison of qformat's casts with
torch (CPU or CUDA), NumPy or ml_dtypes. Exit status 0 when every compared
bit agrees, 1 on any mismatch, 2 on a usage error (``cli.fail``).

The work is in ``qformat.verify``; this module parses options, shows a progress bar
on stderr and prints the report (a table, or JSON with ``--json``).
"""

from __future__ import annotations

import json
import os
import sys
import time
from typing import Any, Optional

import click
from rich.console import Console
from rich.progress import (
    BarColumn,
    Progress,
    TaskProgressColumn,
    TextColumn,
    TimeElapsedColumn,
    TimeRemainingColumn,
)
from rich.table import Table

from .. import verify as _verify
from .errors import fail, user_error_line

_OPTION_KEYS = ("rounding", "subnormals", "overflow", "nan")


def _parse_option(text: str) -> tuple:
    """``KEY=VALUE`` of ``--option`` as an encode keyword argument."""
    key, sep, value = text.partition("=")
    key = key.strip().replace("-", "_")
    if not sep or key not in _OPTION_KEYS:
        fail(f"--option wants KEY=VALUE with KEY one of {', '.join(_OPTION_KEYS)}; got {text!r}")
    if key == "subnormals":
        if value.lower() not in ("true", "false", "1", "0"):
            fail(f"--option subnormals= wants true or false, not {value!r}")
        return key, value.lower() in ("true", "1")
    if key == "nan" and (value.lower().startswith(("0x", "0b")) or value.isdigit()):
        try:
            return key, int(value, 0)
        except ValueError:
            fail(f"--option nan= wants a policy name or an integer bit pattern, not {value!r}")
    return key, value


class _Bar:
    """Progress for ``verify``: a rich bar per case on a terminal, one line
    per finished case otherwise (logs of long sweeps stay readable)."""

    def __init__(self, console: Console, enabled: bool) -> None:
        self.console = console
        self.live = enabled and console.is_terminal
        self.log = enabled and not self.live
        self.task: Optional[Any] = None
        self.progress = Progress(
            TextColumn("{task.description:<28}"), BarColumn(), TaskProgressColumn(),
            TextColumn("{task.fields[rate]:>10}"), TimeElapsedColumn(), TimeRemainingColumn(),
            console=console, disable=not self.live)

    def __enter__(self) -> _Bar:
        self.progress.__enter__()
        return self

    def __exit__(self, *exc: Any) -> None:
        self.progress.__exit__(*exc)

    def start(self, label: str, total: int) -> None:
        self.t0 = time.perf_counter()
        self.done = 0
        self.task = self.progress.add_task(label, total=total, rate="")

    def advance(self, n: int) -> None:
        self.done += n
        rate = self.done / max(time.perf_counter() - self.t0, 1e-9)
        if self.task is not None:
            self.progress.update(self.task, advance=n, rate=f"{rate / 1e6:.1f} M/s")

    def finish(self, result: dict) -> None:
        if self.log:
            r = result
            self.console.print(f"{r['direction']:<26} {r['inputs']:>13,} inputs "
                               f"{r['mismatches']:>11,} mismatches {r['seconds']:>7.1f} s",
                               soft_wrap=True)


def _table(report: dict) -> Table:
    """One row per case: inputs, mismatches and their classes."""
    t = Table(title=f"qformat vs {report['backend']} ({report['device']}), profile "
                    f"{report['profile']}, {report['mode']}", title_justify="left")
    for col, justify in (("case", "left"), ("inputs", "right"), ("mismatches", "right"),
                         ("classes", "left"), ("s", "right")):
        t.add_column(col, justify=justify)  # type: ignore[arg-type]
    for c in report["cases"]:
        classes = ", ".join(f"{k} {v['count']:,}" for k, v in c["classes"].items())
        tol = ", ".join(f"{k} {v['count']:,}" for k, v in c["tolerated"].items())
        if tol:
            classes = (classes + "; " if classes else "") + f"tolerated: {tol}"
        style = "red" if c["mismatches"] else None
        t.add_row(c["direction"], f"{c['inputs']:,}", f"{c['mismatches']:,}", classes,
                  f"{c['seconds']:.1f}", style=style)
    return t


def _print_examples(console: Console, report: dict) -> None:
    """The first examples of every mismatch class (input bits, ours, theirs)."""
    for c in report["cases"]:
        for name, cls in c["classes"].items():
            console.print(f"[bold]{c['direction']}[/bold] {name} ({cls['count']:,}):")
            for e in cls["examples"]:
                extra = (f" ({e['ours_value']} vs {e['theirs_value']})"
                         if "ours_value" in e else "")
                console.print(f"  input {e['input']} = {e['value']}: ours {e['ours']}, "
                              f"theirs {e['theirs']}{extra}")


def _summary(report: dict) -> str:
    v = report["versions"]
    lib = ", ".join(f"{k} {v[k]}" for k in ("torch", "ml_dtypes", "numpy", "cuda", "gpu",
                                            "cpu_capability", "cpu") if k in v)
    verdict = ("bit-for-bit identical" if report["clean"]
               else f"{report['mismatches']:,} mismatches")
    return (f"{report['inputs']:,} inputs, {verdict} (profile {report['profile']}, rules of "
            f"{report['profile_rules']}; {lib}; "
            f"qformat {v['qformat']}) in {report['seconds']:.1f} s")


def _check_report_path(path: str) -> None:
    """Refuse a --report path that cannot be written before the (long) sweep."""
    folder = os.path.dirname(os.path.abspath(path))
    if not os.path.isdir(folder):
        fail(f"--report {path}: directory {folder} does not exist")
    if not os.access(folder, os.W_OK):
        fail(f"--report {path}: directory {folder} is not writable")


def _write_report(path: str, text: str) -> None:
    """Write the JSON report; an unwritable path is one line, exit 2."""
    try:
        with open(path, "w") as f:
            f.write(text + "\n")
    except OSError as e:
        fail(f"--report {path}: cannot write it ({e.strerror or e})")


@click.command("verify")
@click.option("--against", "against", required=True,
              type=click.Choice(list(_verify.BACKENDS) + ["cpu"]),
              help="The library to compare with; 'cpu': this processor's own conversion "
                   "instructions (x86 F16C, SSE, AVX512_BF16, AVX512_FP16).")
@click.option("--instruction", "instructions", multiple=True, metavar="NAME",
              help="--against cpu: an instruction (repeatable), e.g. vcvtps2ph, "
                   "vcvtps2ph/imm3, cvtsd2ss, vcvtneps2bf16; default: all.")
@click.option("--mode", "modes", multiple=True, metavar="rc=..,ftz=0|1,daz=0|1",
              help="--against cpu: an MXCSR state (repeatable), rc one of nearest_even, down, "
                   "up, toward_zero; default: all 16.")
@click.option("--device", default="cpu", show_default=True, type=click.Choice(["cpu", "cuda"]),
              help="torch device.")
@click.option("--format", "formats", multiple=True, metavar="F",
              help="A target format (repeatable); default: every format the backend casts to.")
@click.option("--profile", default=None,
              help="qformat profile; default: the backend's own (torch-cpu, torch-cuda, numpy, "
                   "ml_dtypes). 'ieee' lists how the backend departs from IEEE 754.")
@click.option("--exhaustive", is_flag=True,
              help="Every one of the 2^32 float32 inputs (f64 sources stay sampled).")
@click.option("--samples", default=100_000, show_default=True, type=click.IntRange(64, 1 << 30),
              help="Sampled inputs per case (every class of input is drawn).")
@click.option("--source", "sources", multiple=True,
              type=click.Choice(list(_verify.SOURCES)),
              help="Only casts from these source types (repeatable); default: all.")
@click.option("--no-decode", is_flag=True, help="Skip the X -> float32 direction.")
@click.option("--option", "options", multiple=True, metavar="KEY=VALUE",
              help="An encode option that overrides the profile (rounding, subnormals, "
                   "overflow, nan), e.g. to see what a different rule would change.")
@click.option("--seed", default=0, show_default=True, type=int, help="Seed of the sampled inputs.")
@click.option("--json", "as_json", is_flag=True, help="Print the report as JSON.")
@click.option("--report", "report_file", type=click.Path(dir_okay=False, writable=True),
              help="Also write the JSON report to this file.")
@click.option("--quiet", is_flag=True, help="No progress output.")
@click.pass_context
def verify_cmd(ctx: click.Context, against: str, instructions: tuple, modes: tuple,
               device: str, formats: tuple,
               profile: Optional[str], exhaustive: bool, samples: int, sources: tuple,
               no_decode: bool, options: tuple, seed: int, as_json: bool,
               report_file: Optional[str], quiet: bool) -> None:
    """Compare qformat's casts with torch / NumPy / ml_dtypes bit for bit.

    Directions: f32 -> F (every float32 with --exhaustive), f64 -> F
    (sampled), f16/bf16 -> F (every pattern) and F -> f32. Every mismatch is
    classified (NaN bits, signed zero, subnormal flush, rounding direction,
    overflow rule, int out-of-range, other) with its first examples.
    Exit status: 0 identical, 1 mismatches, 2 usage error.
    """
    src = ctx.get_parameter_source("samples")
    if exhaustive and src is not None and src.name == "COMMANDLINE":
        fail("--exhaustive and --samples exclude each other (f64 sources use the default "
             "sample count)")
    opts = dict(_parse_option(o) for o in options)
    if report_file:
        _check_report_path(report_file)
    err = Console(stderr=True, highlight=False)
    try:
        with _Bar(err, not quiet) as bar:
            if against == "cpu":
                if formats or profile or sources or options or device != "cpu":
                    fail("--against cpu takes --instruction and --mode (not --format, "
                         "--profile, --source, --option or --device)")
                report = _verify.verify_cpu(
                    list(instructions) or None, list(modes) or None, exhaustive=exhaustive,
                    samples=samples, seed=seed, progress=bar)
            elif instructions or modes:
                fail("--instruction and --mode apply to --against cpu only")
            else:
                report = _verify.verify(
                    against, device=device, formats=list(formats) or None, profile=profile,
                    exhaustive=exhaustive, samples=samples, sources=list(sources) or None,
                    decode_check=not no_decode, options=opts, seed=seed, progress=bar)
    except _verify.VerifyError as e:
        fail(str(e))
    except ValueError as e:        # an unknown format name, a bad option value
        fail(user_error_line(e))
    report["command"] = "qformat verify " + " ".join(sys.argv[2:]) if sys.argv[1:2] == [
        "verify"] else None
    text = json.dumps(report, indent=1)
    if report_file:
        _write_report(report_file, text)
    if as_json:
        click.echo(text)
    else:
        out = Console(highlight=False)
        out.print(_table(report))
        _print_examples(out, report)
        out.print(_summary(report))
    for w in report["warnings"]:
        click.echo(f"warning: {w}", err=True)
    if against == "cpu" and not report["ran"]:
        click.echo("no instruction ran: nothing was verified", err=True)
    ctx.exit(0 if report["clean"] else 1)
