"""The ``quantize`` and ``dequantize`` commands: whole checkpoint files.

``qformat quantize model.safetensors -o model-int8.safetensors --to int8``
shows a progress bar over tensors and bytes, then a table of what each
tensor became and what it lost. User mistakes (missing file, not a tensor
file, bad option, existing output) end with one line and exit status 2;
nothing half-written is left behind.
"""

from __future__ import annotations

import json
import math
from typing import Any, Callable, Optional

import click
from rich.console import Console
from rich.progress import (
    BarColumn,
    DownloadColumn,
    Progress,
    TextColumn,
    TimeRemainingColumn,
    TransferSpeedColumn,
)
from rich.table import Table

from ..io.checkpoint import dequantize_file, quantize_file
from .errors import fail, guard


def _axis(value: Optional[str]) -> Any:
    if value is None or value == "auto":
        return "auto"
    if value.lower() in ("none", "tensor"):
        return None
    try:
        return int(value)
    except ValueError:
        fail(f"--axis takes an integer, 'auto' or 'none' (per tensor), not {value!r}")


def _clip(value: Optional[str]) -> Any:
    if value is None:
        return None
    try:
        parts = [float(p) for p in value.split(",")]
    except ValueError:
        fail(f"--clip takes a number C or a pair LO,HI, not {value!r}")
    if len(parts) not in (1, 2):
        fail(f"--clip takes a number C or a pair LO,HI, not {value!r}")
    return parts[0] if len(parts) == 1 else tuple(parts)


def _progress_bar(enabled: bool) -> Progress:
    """A transient bar on stderr, only when stderr is a terminal (in a pipe or
    a log it would only add noise)."""
    err = Console(stderr=True)
    return Progress(TextColumn("{task.description}", style="cyan"), BarColumn(),
                    DownloadColumn(), TransferSpeedColumn(), TimeRemainingColumn(),
                    console=err, transient=True, disable=not (enabled and err.is_terminal))


def _with_progress(enabled: bool, work: Callable[[Any], dict]) -> dict:
    """Run ``work(progress_callback)`` under a bar of input bytes that names
    the tensor being converted."""
    with _progress_bar(enabled) as bar:
        task = bar.add_task("reading", total=None)

        def tick(name: str, done: int, total: int) -> None:
            short = name if len(name) <= 40 else "…" + name[-39:]
            bar.update(task, completed=done, total=total, description=short)
        return work(tick)


def _num(v: Optional[float], fmt: str = "{:.3g}") -> str:
    if v is None:
        return "—"
    if math.isinf(v):
        return "∞" if v > 0 else "-∞"
    return fmt.format(v)


def _size(n: float) -> str:
    for unit in ("B", "kB", "MB", "GB"):
        if n < 1000 or unit == "GB":
            return f"{n:.0f} {unit}" if unit == "B" else f"{n:.1f} {unit}"
        n /= 1000
    return str(n)


def _nonfinite(r: dict) -> str:
    """'2 NaN, 1 inf → 3 NaN' for a row or the totals ('—' when all finite)."""
    def side(prefix: str) -> str:
        parts = [f"{r.get(f'{k}_{prefix}', 0):,} {label}" for k, label in (("nan", "NaN"),
                                                                            ("inf", "inf"))
                 if r.get(f"{k}_{prefix}", 0)]
        return ", ".join(parts) or "0"
    if not any(r.get(k) for k in ("nan_in", "inf_in", "nan_out", "inf_out")):
        return "—"
    return f"{side('in')} → {side('out')}"


def _range_losses(r: dict) -> str:
    """'12 over max, 3 flushed' for a row or the totals ('—' when neither)."""
    parts = [f"{r[k]:,} {label}" for k, label in (("overflow", "over max"),
                                                  ("flushed", "flushed to 0")) if r.get(k)]
    return ", ".join(parts) or "—"


def _has_stats(report: dict) -> bool:
    return "max_abs" in report["totals"]


def _table(report: dict) -> Table:
    """The per-tensor report; error columns (and the largest |input|) only
    when statistics were taken, a NaN/inf column whenever any input or
    result is not finite, a range column whenever an input was beyond the
    target's largest value or a nonzero input became zero."""
    t = Table(title=f"{report['input']} → {report['output']}", title_justify="left")
    stats = _has_stats(report)
    tot = report["totals"]
    cols = ["tensor", "shape", "format", "before", "after"]
    if stats:
        cols += ["max |x|", "max |err|", "mean |err|", "SQNR dB"]
    show_nf = stats and _nonfinite(tot) != "—"
    if show_nf:
        cols.append("NaN/inf in → out")
    show_range = stats and _range_losses(tot) != "—"
    if show_range:
        cols.append("range")
    for col in cols:
        t.add_column(col, justify="left" if col in ("tensor", "format") else "right")
    for r in report["tensors"]:
        fmt = r["format"] + (f" [dim]{r['note']}[/]" if r.get("note") else "")
        t.add_row(r["name"], "×".join(map(str, r["shape"])) or "scalar", fmt,
                  _size(r["bytes_before"]), _size(r["bytes_after"]),
                  *_stat_cells(r, show_nf, show_range))
    ratio = tot["bytes_before"] / tot["bytes_after"] if tot["bytes_after"] else math.inf
    t.add_section()
    t.add_row(f"[bold]total[/] ({tot['converted']} of {tot['tensors']} converted)", "",
              f"×{ratio:.2f} smaller, {tot['seconds']:.2f} s", _size(tot["bytes_before"]),
              _size(tot["bytes_after"]), *_stat_cells(tot, show_nf, show_range))
    return t


def _stat_cells(r: dict, show_nf: bool, show_range: bool) -> list:
    if "max_abs" not in r:
        return []
    cells = [_num(r.get("amax")), _num(r.get("max_abs")), _num(r.get("mean_abs")),
             _num(r.get("sqnr_db"), "{:.1f}")]
    return cells + [_nonfinite(r)] * show_nf + [_range_losses(r)] * show_range


def _jsonable(obj: Any) -> Any:
    """inf/NaN have no JSON spelling: exact conversions report sqnr_db null."""
    if isinstance(obj, float) and not math.isfinite(obj):
        return None
    if isinstance(obj, dict):
        return {k: _jsonable(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [_jsonable(v) for v in obj]
    return obj


@click.command("quantize")
@click.argument("src", metavar="IN")
@click.option("-o", "--output", "dst", required=True, metavar="OUT",
              help="Output file (.safetensors, .npz, or .gguf for the GGUF block types).")
@click.option("--to", "to", required=True, metavar="FORMAT",
              help="Target: a float format (bf16, fp8_e4m3fn, ...), an integer format "
                   "(int8, int4, ...), mxfp8/mxfp6/mxfp4/mxint8, or with a .gguf output "
                   "q8_0/q4_0/q4_1/q5_0/q5_1/mxfp4/tq1_0/tq2_0/q4_k/q5_k/q6_k.")
@click.option("--scheme", type=click.Choice(["symmetric", "asymmetric"]), default="symmetric",
              show_default=True, help="Integer zero point: 0, or fitted to [min, max].")
@click.option("--axis", default=None, metavar="K|none",
              help="Axis of the scales: default per output channel (0), or the last axis with "
                   "--group-size; 'none' for one scale per tensor.")
@click.option("--group-size", type=int, default=None, metavar="G",
              help="One scale per G consecutive elements along the axis (int4 GPTQ style; "
                   "float formats become block-scaled).")
@click.option("--scale-format", default=None, metavar="FORMAT",
              help="Round scales to this format (fp8_e8m0fnu for OCP MX).")
@click.option("--clip", default=None, metavar="C|LO,HI", help="Fixed range instead of min/max.")
@click.option("--percentile", type=float, default=None, metavar="P",
              help="Range from the P-th percentile of |x| instead of the extremes.")
@click.option("--rounding", default="nearest_even", show_default=True)
@click.option("--overflow", default=None,
              help="Float targets: saturate (default here), inf or nan.")
@click.option("--skip", multiple=True, metavar="PATTERN",
              help="Keep tensors whose name matches this glob (repeatable).")
@click.option("--keep-1d/--no-keep-1d", default=True, show_default=True,
              help="Keep 1-D tensors (biases, norms) in their original precision.")
@click.option("--nan", "nan", default="error", show_default=True, metavar="error|CODE",
              help="What NaN inputs become: an error naming the tensor, or this code.")
@click.option("--force", is_flag=True,
              help="Overwrite an existing output; also allow casts to formats without a sign "
                   "or a zero (e8m0), which turn weights into NaN.")
@click.option("--report/--no-report", default=True, show_default=True,
              help="Compute the per-tensor error statistics (--no-report is faster).")
@click.option("--json", "as_json", is_flag=True, help="Print the report as JSON.")
def quantize_cmd(src: str, dst: str, to: str, scheme: str, axis: Optional[str],
                 group_size: Optional[int], scale_format: Optional[str], clip: Optional[str],
                 percentile: Optional[float], rounding: str, overflow: Optional[str],
                 skip: tuple, keep_1d: bool, nan: str, force: bool, report: bool,
                 as_json: bool) -> None:
    """Convert or quantize every float tensor of IN (.safetensors, .npz, .npy)
    and report the error of each (over finite values; NaN and inf are
    counted, in the inputs and in the results)."""
    opts = dict(scheme=scheme, axis=_axis(axis), group_size=group_size, clip=_clip(clip),
                percentile=percentile, scale_format=scale_format, rounding=rounding,
                overflow=overflow, skip=skip, keep_1d=keep_1d, force=force, nan=nan,
                report=report)
    report = guard(lambda: _with_progress(
        not as_json, lambda tick: quantize_file(src, dst, to, progress=tick, **opts)))
    if as_json:
        click.echo(json.dumps(_jsonable(report), indent=1))
    else:
        out = Console(highlight=False)
        if not out.is_terminal:  # a pipe or file: room for the whole table
            out.width = max(out.width, 140)
        out.print(_table(report))
    _warn_nonfinite(report)


def _warn_nonfinite(report: dict) -> None:
    """One line on stderr when the conversion produced NaN or inf."""
    tot = report["totals"]
    made = tot.get("nan_out", 0) - tot.get("nan_in", 0), tot.get("inf_out", 0) - tot.get(
        "inf_in", 0)
    if any(n > 0 for n in made):
        click.echo(f"qformat: warning: the output holds {tot['nan_out']:,} NaN and "
                   f"{tot['inf_out']:,} inf (the input had {tot['nan_in']:,} and "
                   f"{tot['inf_in']:,})", err=True)


@click.command("dequantize")
@click.argument("src", metavar="IN")
@click.option("-o", "--output", "dst", required=True, metavar="OUT",
              help="Output file of float32 tensors (.safetensors or .npz).")
@click.option("--force", is_flag=True, help="Overwrite an existing output.")
@click.option("--json", "as_json", is_flag=True, help="Print a JSON summary.")
def dequantize_cmd(src: str, dst: str, force: bool, as_json: bool) -> None:
    """Turn a file written by `qformat quantize` back into float32 tensors."""
    report = guard(lambda: _with_progress(
        not as_json, lambda tick: dequantize_file(src, dst, force=force, progress=tick)))
    if as_json:
        click.echo(json.dumps(report))
    else:
        click.echo(f"{report['output']}: {report['tensors']} tensors, "
                   f"{_size(report['bytes'])} of float32")
