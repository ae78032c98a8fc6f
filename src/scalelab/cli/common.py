"""What every command shares: the root app, consoles, error and warning handling, JSON,
number formatting, and option groups declared once.

User errors (:class:`~scalelab.errors.ScalelabError`) print one line and exit 2;
``scalelab --debug ...`` shows the traceback instead. Warnings (named
:class:`~scalelab.errors.ScalelabWarning` subclasses) print once each on stderr.
"""

from __future__ import annotations

import dataclasses
import functools
import inspect
import json
import math
import sys
import typing
import warnings
from pathlib import Path
from typing import Annotated, Optional

import numpy as np
import typer
from rich.console import Console
from rich.markup import escape

from scalelab.errors import ScalelabError
from scalelab.units import duration  # noqa: F401  (the commands import it from here)
from scalelab.version import __version__

app = typer.Typer(
    add_completion=False,
    no_args_is_help=True,
    rich_markup_mode=None,
    help="Forecast a large training run from pilot runs: robust scaling-law fits, honest intervals, backtests.",
)
# tables are wider than 80 columns: use the terminal's width, or 140 when writing to a pipe or file.
# Text is printed as it is (markup=False: a run named "x [y]" stays so); styled lines ask for
# markup=True and escape what they interpolate.
out = Console(highlight=False, markup=False, width=None if sys.stdout.isatty() else 140)
err = Console(stderr=True, highlight=False, markup=False, soft_wrap=True)
STATE = {"debug": False}

Json = Annotated[bool, typer.Option("--json", help="Print JSON instead of tables.")]
Seed = Annotated[int, typer.Option("--seed", help="Seed of the bootstrap.")]
Bootstrap = Annotated[int, typer.Option("--bootstrap", help="Bootstrap resamples over runs (0: no intervals).")]
Tie = Annotated[Optional[list[str]], typer.Option("--tie", help="Force two parameters equal, e.g. --tie alpha=beta (repeatable); --tie auto ties alpha to beta when that predicts the largest runs better from the smaller ones.")]
Fix = Annotated[Optional[list[str]], typer.Option("--fix", help="Hold a parameter at a value, e.g. --fix E=1.69 (repeatable, or comma-separated: --fix E=1.69,alpha=0.34).")]
# the cost side of a run, as plan and returns take it
Gpu = Annotated[str, typer.Option("--gpu", help="Accelerator: h100-sxm, h100-pcie, h200, h800, a100-80gb, a100-40gb, v100, b200, gb200, mi300x, mi250x, tpu-v4, tpu-v5e, tpu-v5p, tpu-v6e, l40s, rtx4090.")]
Mfu = Annotated[Optional[float], typer.Option("--mfu", help="Model FLOPs utilisation [default: the accelerator's, from documented runs].")]
Goodput = Annotated[Optional[float], typer.Option("--goodput", help="Share of wall-clock time spent training [default: 0.9, Llama 3].")]
Price = Annotated[Optional[float], typer.Option("--price", help="USD per accelerator-hour [default: the catalogue's typical cloud price].")]
StorePath = Annotated[Optional[Path], typer.Option("--store", help="The run store file [default: $SCALELAB_DB or ./scalelab.db].")]


def _version(value: bool) -> None:
    if value:
        print(f"scalelab {__version__}")
        raise typer.Exit()


@app.callback()
def main(
    debug: Annotated[bool, typer.Option("--debug", help="Show tracebacks of errors.")] = False,
    version: Annotated[bool, typer.Option("--version", help="Print the version and exit.", is_eager=True, callback=_version)] = False,
) -> None:
    """Forecast a large training run from pilot runs: robust scaling-law fits, honest intervals, backtests."""
    STATE["debug"] = debug


# ------------------------------------------------------------- errors, warnings
def run(fn):
    """Call ``fn()``: a ScalelabError becomes one ``error:`` line on stderr and exit code 2;
    each distinct warning raised is printed once, on stderr, after ``fn`` returns."""
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        try:
            result = fn()
        except ScalelabError as exc:
            if STATE["debug"]:
                raise
            print_warnings(caught)
            err.print(f"[red]error:[/red] {escape(str(exc))}", markup=True)
            raise typer.Exit(2) from None
    print_warnings(caught)
    return result


def print_warnings(caught) -> None:
    seen = set()
    for w in caught:
        message = str(w.message)
        if message in seen or not issubclass(w.category, UserWarning):
            continue
        seen.add(message)
        err.print(f"[yellow]warning:[/yellow] {escape(message)}", markup=True)


# ------------------------------------------------------------------- printing
def print_json(data) -> None:
    """``data`` as JSON that every parser reads: NaN and infinities (not JSON) become null."""
    print(json_text(data))


def json_text(data) -> str:
    return json.dumps(_finite(data), indent=1, default=_json_default, allow_nan=False)


def _finite(o):
    if isinstance(o, dict):
        return {k: _finite(v) for k, v in o.items()}
    if isinstance(o, (list, tuple)):
        return [_finite(v) for v in o]
    if isinstance(o, np.ndarray):
        return _finite(o.tolist())
    if isinstance(o, (float, np.floating)):
        return float(o) if np.isfinite(o) else None
    return o


def _json_default(o):
    if isinstance(o, np.ndarray):
        return o.tolist()
    if isinstance(o, (np.floating, np.integer)):
        return o.item()
    if isinstance(o, np.bool_):
        return bool(o)
    raise TypeError(type(o).__name__)


def num(v) -> str:
    if v is None or (isinstance(v, float) and math.isnan(v)):
        return "-"
    a = abs(v)
    return f"{v:.4g}" if 1e-3 <= a < 1e5 or a == 0 else f"{v:.3e}"


def pct(v) -> str:
    return "-" if v is None or math.isnan(v) else f"{100 * v:.2f}%"


def factor(x: float) -> str:
    """A factor as a person reads it.

    >>> factor(1.04), factor(38.5), factor(1234), factor(3.9e14)
    ('1.0x', '38.5x', '1,234x', '3.9e+14x')
    """
    if not math.isfinite(x):
        return "-"
    return f"{x:.1f}x" if x < 100 else f"{x:,.0f}x" if x < 1e6 else f"{x:.2g}x"


def big(v: float) -> str:
    for div, suffix in ((1e12, "T"), (1e9, "B"), (1e6, "M"), (1e3, "k")):
        if abs(v) >= div:
            return f"{v / div:.3g}{suffix}"
    return f"{v:.3g}"


def amount(v: float) -> str:
    """An amount (hours, dollars, kWh) with thousands separators, or three significant
    digits below 100, so that a small run's figures do not read as 0."""
    return f"{v:,.0f}" if abs(v) >= 100 else f"{v:.3g}"


def yes(v) -> str:
    return "-" if v is None or (isinstance(v, float) and math.isnan(v)) else ("yes" if v else "no")


def interval(iv) -> str:
    """An :class:`~scalelab.fitting.Interval` as ``lo .. hi``."""
    return "-" if iv is None else f"{num(iv.lo)} .. {num(iv.hi)}"


def count(text: str | float) -> float:
    """A count as people write it: ``70B``, ``2T``, ``1.4e12``, ``500M``, ``8k``, ``70_000``
    (k, M, B or G, T, P: thousand, million, billion, trillion, quadrillion; any case).

    >>> count("70B"), count("2t"), count("1.4e12"), count("500M"), count("8k"), count("70_000")
    (70000000000.0, 2000000000000.0, 1400000000000.0, 500000000.0, 8000.0, 70000.0)
    """
    from scalelab.units import parse_count

    try:
        return parse_count(text)
    except ValueError:
        raise typer.BadParameter(f"{text!r}: give a number such as 7e10, 70B, 2T or 500M") from None


def whole_count(text: str | float) -> int:
    """A whole count as people write it: ``4096``, ``16k``, ``1e6`` (see :func:`count`).

    >>> whole_count("16k"), whole_count("1e6"), whole_count(8)
    (16000, 1000000, 8)
    """
    n = count(text)
    if not (n == n and n != float("inf") and n == int(n)):
        raise typer.BadParameter(f"{text!r}: give a whole number such as 4096, 16k or 1e6")
    return int(n)


EXAMPLES = {"--params": "7e10,70B", "--tokens": "1.4e12,2T", "--compute": "1e23,1e24", "--sizes": "2e4,4e4,8e4",
            "--multiples": "1,2,5"}  # what a valid value of each option looks like


def parse_numbers(text: str | None, option: str) -> list[float] | None:
    """``"1e23,1e24"`` -> ``[1e23, 1e24]`` (``"70B,2T"`` too, see :func:`count`); every value
    a finite number > 0."""
    if text is None:
        return None
    try:
        values = [count(t) for t in text.split(",") if t.strip()]
    except typer.BadParameter:
        example = EXAMPLES.get(option, "1e23,1e24")
        raise ScalelabError(f"{option} {text!r}: give numbers, comma-separated for several, e.g. {option} {example}") from None
    if not values or not all(math.isfinite(v) and v > 0 for v in values):
        raise ScalelabError(f"{option} {text!r}: every value must be a finite number > 0")
    return values


# --------------------------------------------------------------- option groups
def option_group(**groups):
    """Declare a group of options once and give it to several commands.

    A group is a dataclass whose fields are annotated with ``typer.Option``; the command
    names a parameter for each group (``def fit(..., read: RunsOptions, ...)``) and this
    decorator puts the group's options in its place, then hands the command one instance.
    """
    def wrap(fn):
        own = inspect.signature(fn, eval_str=True)
        params = []
        for p in own.parameters.values():
            if p.name not in groups:
                params.append(p)
                continue
            hints = typing.get_type_hints(groups[p.name], include_extras=True)
            params += [inspect.Parameter(f.name, p.kind, default=f.default, annotation=hints[f.name])
                       for f in dataclasses.fields(groups[p.name])]

        @functools.wraps(fn)
        def command(**kwargs):
            for name, cls in groups.items():
                kwargs[name] = cls(**{f.name: kwargs.pop(f.name) for f in dataclasses.fields(cls)})
            return fn(**kwargs)

        command.__signature__ = own.replace(parameters=params)
        return command

    return wrap


def all_of(where: list[str] | str | None) -> str | None:
    """The pandas query of a repeated ``--where``: every condition at once."""
    if where is None or isinstance(where, str):
        return where
    where = [w for w in where if w and w.strip()]
    if not where:
        return None
    return where[0] if len(where) == 1 else " and ".join(f"({w})" for w in where)
