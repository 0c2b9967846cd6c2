"""The ``explain``, ``decode``, ``formats`` and ``memory`` commands.

They answer the lecture's questions from the shell: can FORMAT hold VALUE
exactly, what does this bit pattern mean, what are the limits of every
format, and how much memory do N parameters take. User mistakes end with one
line on stderr and exit status 2 (``cli.fail``).
"""

from __future__ import annotations

import json
import math
import re
from fractions import Fraction
from functools import partial
from typing import Any, Callable, Optional

import click
from rich.console import Console
from rich.measure import Measurement
from rich.table import Table
from rich.text import Text

from .._args import ROUNDINGS
from .._explain import (
    EXP_COLOUR,
    FRAC_COLOUR,
    SIGN_COLOUR,
    Explanation,
    _approx,
    _clip,
    explain,
    explain_bits,
)
from .._formats import FloatFormat, IntFormat, format, formats
from ..io.checkpoint import MX_ALIASES
from .errors import fail, guard


def _console() -> Console:
    return Console(highlight=False, soft_wrap=False)


def _bits_text(e: Explanation) -> Text:
    """The binary fields coloured like the textbook diagram."""
    t = Text()
    for bits, colour in zip(e.fields_of_bits(), (SIGN_COLOUR, EXP_COLOUR, FRAC_COLOUR)):
        if bits:
            if t:
                t.append(" ")
            t.append(bits, style=f"bold {colour}")
    return t


def _report(explanations: list[Explanation], errors: bool) -> Table:
    """One column per format, one row per fact."""
    table = Table(show_header=True, header_style="bold")
    table.add_column("", no_wrap=True)
    for e in explanations:
        table.add_column(e.format, no_wrap=True)
    rows: list[tuple[str, Callable[[Explanation], Any]]] = []
    if errors:
        rows.append(("exact?", lambda e: Text("yes", style="green") if e.exact else Text(
            "no" + (" (overflow)" if e.overflow else " (underflow)" if e.underflow else ""),
            style="red")))
    rows += [
        ("stored value", lambda e: _clip(e.decimal, 100)),
        ("shortest", lambda e: e.shortest),
    ]
    if errors:
        rows += [("abs error", lambda e: _approx(e.abs_error)),
                 ("rel error", lambda e: _approx(e.rel_error))]
    rows += [
        ("category", lambda e: e.category),
        ("sign / exp / signif.", lambda e: "-" if e.exponent is None else
         f"{'-' if e.sign else '+'} 2^{e.exponent} x {_approx(e.significand)}"),
        ("ulp", lambda e: _approx(e.ulp)),
        ("next down / up", lambda e: f"{_approx(e.next_down)} / {_approx(e.next_up)}"),
        ("hex", lambda e: e.hex),
        ("bits", _bits_text),
    ]
    if any(e.scale is not None for e in explanations):
        rows += [("block scale", lambda e: "-" if e.scale is None else
                  f"{_approx(e.scale)} ({e.scale_format} {e.scale_bits:#04x})"),
                 ("element", lambda e: "-" if e.element is None else
                  f"{_approx(e.element)} in {e.element_format}")]
    for label, get in rows:
        table.add_row(label, *[get(e) for e in explanations])
    return table


@click.command("explain", context_settings={"ignore_unknown_options": True})
@click.argument("value")
@click.argument("fmts", metavar="FORMAT...", nargs=-1, required=True)
@click.option("--rounding", default="nearest_even", show_default=True,
              help="One of " + ", ".join(ROUNDINGS) + ".")
@click.option("--seed", type=int, default=None, help="Seed for --rounding stochastic.")
@click.option("--scale", default=None,
              help="Block formats (mxfp4, mxfp8, nvfp4, ...): the block's scale, e.g. 0.125.")
@click.option("--tensor-scale", default=None, help="nvfp4: the float32 per-tensor scale.")
@click.option("--profile", default=None, metavar="NAME",
              help="A hardware profile such as x86-sse (its instruction's FTZ/DAZ rule).")
@click.option("--ftz/--no-ftz", default=None,
              help="x86 MXCSR.FTZ: flush results that are tiny after rounding to 0.")
@click.option("--daz/--no-daz", default=None,
              help="x86 MXCSR.DAZ: read subnormal (float64) inputs as 0.")
@click.option("--json", "as_json", is_flag=True, help="Print JSON instead of a table.")
def explain_cmd(value: str, fmts: tuple[str, ...], rounding: str, seed: Optional[int],
                scale: Optional[str], tensor_scale: Optional[str], profile: Optional[str],
                ftz: Optional[bool], daz: Optional[bool], as_json: bool) -> None:
    """Can FORMAT represent VALUE exactly? VALUE is read exactly (decimal of
    any length, 1.1e-20, 0x1.8p3, inf, nan); one report per FORMAT. Integer
    formats (int4, uint8, ...) are explained too, and block formats with
    the block's --scale.

    Example: qformat explain 3.14159265358979 fp32 bf16 fp8_e4m3fn;
    qformat explain 0.3 mxfp4 --scale 0.125
    """
    if rounding not in ROUNDINGS:
        fail(f"unknown rounding {rounding!r}; choose one of {', '.join(ROUNDINGS)}")
    found: list[Explanation] = []
    for name in fmts:
        found.append(guard(partial(explain, value, name, rounding=rounding, seed=seed,
                                   scale=scale, tensor_scale=tensor_scale,
                                   profile=profile, ftz=ftz, daz=daz)))
    if as_json:
        click.echo(json.dumps([e.to_dict() for e in found], indent=2))
        return
    console = _console()
    console.print(Text(f"{_clip(value)} (rounding {rounding})", style="bold"))
    _print_report(console, found, errors=True)
    for e in found:
        if e.note:
            console.print(Text(f"{e.format}: {e.note}"))


def _print_report(console: Console, found: list[Explanation], errors: bool) -> None:
    """The side-by-side table when it fits the console; otherwise one record
    per format, label and value on a line, so that no number is ever split
    across lines (a pipe is 80 columns wide to rich)."""
    table = _report(found, errors)
    natural = Measurement.get(console, console.options.update(max_width=10**6), table)
    if natural.maximum <= console.width:
        console.print(table)
        return
    for e in found:
        console.print(Text(e.format, style="bold"), soft_wrap=True)
        for label, cell in _records(table, found.index(e) + 1):
            if label == "stored value":  # the long one: clip it to the line
                cell = _clip(e.decimal, max(30, console.width - 24))
            line = Text(f"  {label:<21} ")
            line.append(cell if isinstance(cell, Text) else Text(str(cell)))
            console.print(line, soft_wrap=True)


def _records(table: Table, column: int) -> list:
    """(label, cell) pairs of one format's column of the report table."""
    labels = list(table.columns[0].cells)
    return list(zip(labels, table.columns[column].cells))


def _parse_bits(text: str) -> int:
    """'0x40490fdb' or '0b0_10000000_…' (underscores allowed) → int."""
    s = text.strip().lower().replace("_", "")
    try:
        if s.startswith("0x") and len(s) > 2:
            return int(s[2:], 16)
        if s.startswith("0b") and len(s) > 2:
            return int(s[2:], 2)
    except ValueError:
        pass
    raise ValueError(f"cannot read bits {text!r}: write them as hex (0x3f80) or binary (0b0011…)")


@click.command("decode")
@click.argument("bits")
@click.argument("fmt", metavar="FORMAT")
@click.option("--json", "as_json", is_flag=True, help="Print JSON instead of a table.")
def decode_cmd(bits: str, fmt: str, as_json: bool) -> None:
    """What the bit pattern BITS (hex 0x.. or binary 0b..) means in FORMAT."""
    e = guard(lambda: explain_bits(_parse_bits(bits), fmt))
    if as_json:
        click.echo(json.dumps(e.to_dict(), indent=2))
        return
    console = _console()
    console.print(Text(f"{bits} in {e.format}", style="bold"))
    _print_report(console, [e], errors=False)
    console.print("\n".join(e.layout_lines()), markup=False)


def _short(f: FloatFormat, bits: int) -> str:
    """The exact decimal when it is short (448, 65504), else the shortest one."""
    e = explain_bits(bits, f)
    return e.decimal if len(e.decimal) <= 12 else e.shortest


def _float_row(f: FloatFormat) -> dict[str, Any]:
    """Limits of a float format, exact values shown shortest."""
    m = f.man_bits
    min_normal_code = (1 if f.has_zero else 0) << m
    sub = _short(f, 1) if f.has_zero and m > 0 else "-"
    nan = {"ieee": "IEEE (exp all 1s)", "fn": "S.1…1 only", "fnuz": "0x80 (-0) only",
           "none": "none"}[f.nan]
    if f.nan == "fn" and not f.signed:
        nan = f"0x{(1 << f.bits) - 1:x} only"
    return {
        "format": f.name, "kind": "float", "bits": f.bits, "exp_bits": f.exp_bits, "man_bits": m,
        "bias": f.bias, "max": _short(f, f.max_code),
        "smallest_normal": _short(f, min_normal_code),
        "smallest_subnormal": sub, "eps": _approx(Fraction(1, 2**m)),
        "decimal_digits": round((m + 1) * math.log10(2), 2),
        "inf": "yes" if f.has_inf else "no", "nan": nan,
        "negative_zero": bool(f.signed and f.has_zero and f.nan != "fnuz"),
    }


def _int_row(f: IntFormat) -> dict[str, Any]:
    return {
        "format": f.name, "kind": "int", "bits": f.bits, "exp_bits": None, "man_bits": None,
        "bias": None, "max": str(f.max), "smallest_normal": "-", "smallest_subnormal": "-",
        "eps": "1", "decimal_digits": round(f.bits * math.log10(2), 2), "inf": "no",
        "nan": "none", "negative_zero": False, "min": str(f.min),
    }


@click.command("formats")
@click.option("--json", "as_json", is_flag=True, help="Print JSON instead of a table.")
def formats_cmd(as_json: bool) -> None:
    """Table of every built-in format: bits, range, precision, inf/NaN rules."""
    rows = []
    for name in formats():
        f = format(name)
        if isinstance(f, FloatFormat):
            rows.append(_float_row(f))
        elif isinstance(f, IntFormat):
            rows.append(_int_row(f))
    if as_json:
        click.echo(json.dumps(rows, indent=2))
        return
    cols = [("format", "format"), ("bits", "bits"), ("exp_bits", "e"), ("man_bits", "m"),
            ("bias", "bias"), ("max", "max"), ("smallest_normal", "min normal"),
            ("smallest_subnormal", "min subnormal"), ("eps", "eps"),
            ("decimal_digits", "digits"), ("inf", "inf"), ("nan", "NaN")]
    table = Table(header_style="bold")
    for _, title in cols:
        table.add_column(title, overflow="fold")
    for r in rows:
        table.add_row(*["-" if r[k] is None else str(r[k]) for k, _ in cols])
    console = _console()
    console.width = max(console.width, 150)
    console.print(table)


_SUFFIX = {"": 1, "k": 10**3, "m": 10**6, "b": 10**9, "g": 10**9, "t": 10**12}
_DEFAULT_MEMORY_FORMATS = ("fp32", "bf16", "fp16", "fp8_e4m3fn", "int8", "int4")


def parse_params(text: str) -> Fraction:
    """'7B' → 7·10⁹; suffixes K, M, B (or G), T; plain numbers and 1.5e9 too."""
    m = re.fullmatch(r"\s*((?:\d+\.?\d*|\.\d+)(?:e[+-]?\d+)?)\s*([kmbgt]?)\s*", text,
                     re.IGNORECASE)
    if not m:
        raise ValueError(f"cannot read parameter count {text!r}: write e.g. 7B, 70B, 125M, "
                         "1.5T or 7000000000")
    mant = m.group(1)
    if "e" in mant.lower() and abs(int(mant.lower().split("e")[1])) > 30:
        raise ValueError(f"parameter count {text!r} is out of range")
    n = Fraction(mant) * _SUFFIX[m.group(2).lower()]
    if n <= 0:
        raise ValueError(f"parameter count must be positive, got {text!r}")
    if n.denominator != 1:
        raise ValueError(f"parameter count {text!r} is not a whole number of parameters "
                         "(did you mean a suffix, e.g. 0.5B?)")
    return n


def _bits_per_param(name: str) -> tuple:
    """(label, bits per parameter): a format's bits, or an MX block format's
    element bits plus its shared scale's bits spread over the block."""
    mx = MX_ALIASES.get(name.strip().lower())
    if mx is not None:
        elem, block, scale = mx
        return name.strip().lower(), Fraction(format(elem).bits) + Fraction(
            format(scale).bits, block)
    f = format(name)
    return f.name, Fraction(f.bits)


def memory_rows(params: Fraction, names: tuple[str, ...], training: bool) -> list[dict]:
    """Bytes for the weights (and, with ``training``, weights + gradients in
    the same format + Adam's two fp32 moments) per format; MX block formats
    (mxfp8, mxfp6, mxfp4, mxint8) count their e8m0 scale, one per 32 values."""
    rows = []
    for name in names:
        label, bits = _bits_per_param(name)
        per = bits / 8
        row: dict[str, Any] = {"format": label, "bits": int(bits) if bits.denominator == 1
                               else float(bits), "bytes_per_param": float(per)}
        row.update(_sizes("weights", params * per))
        if training:
            row.update(_sizes("training", params * (2 * per + 8)))
        rows.append(row)
    return rows


def _sizes(prefix: str, nbytes: Fraction) -> dict[str, float]:
    return {f"{prefix}_bytes": float(nbytes), f"{prefix}_GB": float(nbytes / 10**9),
            f"{prefix}_GiB": float(nbytes / 2**30)}


def _num(x: float) -> str:
    return f"{x:,.2f}".rstrip("0").rstrip(".") if x < 1e15 else f"{x:.4g}"


@click.command("memory")
@click.argument("params")
@click.option("--format", "-f", "fmts", multiple=True, metavar="F",
              help="Format(s) to size (default: fp32 bf16 fp16 fp8_e4m3fn int8 int4).")
@click.option("--training", is_flag=True,
              help="Add gradients (same format) and Adam's two fp32 moment estimates.")
@click.option("--json", "as_json", is_flag=True, help="Print JSON instead of a table.")
def memory_cmd(params: str, fmts: tuple[str, ...], training: bool, as_json: bool) -> None:
    """Memory for PARAMS parameters (7B, 125M, 1.5T, 7e9): weights in each
    format, in decimal GB (10^9 bytes) and binary GiB (2^30 bytes)."""
    n = guard(lambda: parse_params(params))
    rows = guard(lambda: memory_rows(n, fmts or _DEFAULT_MEMORY_FORMATS, training))
    if as_json:
        click.echo(json.dumps({"params": float(n), "training": training, "formats": rows},
                              indent=2))
        return
    table = Table(title=f"{_num(float(n))} parameters", header_style="bold")
    for title in ("format", "bits", "weights GB", "weights GiB"):
        table.add_column(title, justify="right")
    if training:
        table.add_column("training GB", justify="right")
        table.add_column("training GiB", justify="right")
    for r in rows:
        cells = [r["format"], str(r["bits"]), _num(r["weights_GB"]), _num(r["weights_GiB"])]
        if training:
            cells += [_num(r["training_GB"]), _num(r["training_GiB"])]
        table.add_row(*cells)
    console = _console()
    console.print(table)
    if training:
        console.print("training = weights + gradients (same format) + Adam's two fp32 moments; "
                      "activations and an fp32 master copy are not included.")
