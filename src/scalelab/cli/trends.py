"""``scalelab trends compute | benchmark``: public trends (Epoch AI's data, dated snapshots)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Optional

import typer
from rich.table import Table

from scalelab.cli.common import Json, all_of, app, count, out, print_json, run
from scalelab.errors import ScalelabError

trends_app = typer.Typer(add_completion=False, rich_markup_mode=None, no_args_is_help=True,
                         help="Public trends from Epoch AI's database (a dated snapshot shipped with the package).",
                         epilog="""\b
Examples:
  scalelab trends compute
  scalelab trends compute --frontier --since 2018 --json
  scalelab trends benchmark --benchmark MMLU --fit-max-flops 1e24
  scalelab trends lag --benchmark MMLU
""")
app.add_typer(trends_app, name="trends")


def _year(text: str) -> float:
    """A year as a number (2018, 2018.5) or a date (2019-06, 2019-06-01), as a decimal year
    the way the snapshot dates its models."""
    try:
        return float(text)
    except ValueError:
        pass
    import pandas as pd

    try:
        when = pd.Timestamp(text)
    except (ValueError, TypeError):
        raise ScalelabError(f"--since {text!r}: give a year (2018) or a date (2019-06-01)") from None
    return when.year + (when.day_of_year - 1) / 365.25


@trends_app.command("compute", epilog="""\b
Examples:
  scalelab trends compute
  scalelab trends compute --frontier --since 2018 --json
  scalelab trends compute --domain Language
  scalelab trends compute --domain Language --where "access.str.startswith('open weights')"
  scalelab trends compute --frontier --since 2018 --plot trend.png --mark 3.8e25
""")
def trends_compute(
    frontier: Annotated[bool, typer.Option("--frontier", help="Epoch's frontier models instead of all notable ones.")] = False,
    since: Annotated[str, typer.Option("--since", help="Models published from this year (2018, 2018.5) or date (2019-06-01).")] = "2010",
    domain: Annotated[Optional[str], typer.Option("--domain", help="Only models of this domain (e.g. Language, Vision).")] = None,
    where: Annotated[Optional[list[str]], typer.Option("--where", help="Keep the models matching this pandas query (repeated: all of them) over system, organization, domain, access ('unreleased', 'api access', 'open weights (unrestricted)' ...), year, compute, params.")] = None,
    plot: Annotated[Optional[Path], typer.Option("--plot", help="Save a figure of the models and the trend line (.png, .svg, .pdf).")] = None,
    mark: Annotated[Optional[float], typer.Option("--mark", parser=count, help="With --plot: mark a planned run of this many FLOPs on the trend.")] = None,
    as_json: Json = False,
) -> None:
    """How fast the training compute of notable (or frontier) models grows per year, with an
    interval from a bootstrap over models, and its doubling time."""

    def go():
        from scalelab.trends import compute_trend

        from scalelab.report.plots import check_figure_path

        check_figure_path(plot)
        if mark is not None and plot is None:
            raise ScalelabError("--mark puts a run on the --plot figure: give --plot FILE")
        t = compute_trend(frontier=frontier, since=_year(since), domain=domain, where=all_of(where))
        if plot is not None:
            from scalelab.report.plots import plot_compute_trend, save

            save(plot_compute_trend(t, mark), plot)
        return t

    t = run(go)
    if as_json:
        print_json(t.to_dict())
        return
    out.print(f"{t.selection} ({t.n_models} with a compute estimate, {t.first_year:.0f}–{t.last_year:.1f}): training "
              f"compute grows {t.growth_per_year:.2f}x per year (80%: {t.interval80[0]:.2f}–{t.interval80[1]:.2f}x, "
              f"95%: {t.interval95[0]:.2f}–{t.interval95[1]:.2f}x), doubling every {t.doubling_months:.1f} months. "
              f"Data: {t.attribution}.", markup=False)
    if plot is not None:
        out.print(f"wrote {plot}")


@trends_app.command("benchmark", epilog="""\b
Examples:
  scalelab trends benchmark --benchmark MMLU --fit-max-flops 1e24
  scalelab trends benchmark --benchmark MMLU --fit-before 2024-01-01
  scalelab trends benchmark --benchmark BBH --min-trust -1 --json
  scalelab trends benchmark --benchmark MMLU --where "access == 'open'"
  scalelab trends benchmark --benchmark MMLU --plot mmlu.png
  scalelab trends benchmark --benchmark MMLU --ceiling 1
""")
def trends_benchmark(
    benchmark: Annotated[str, typer.Option("--benchmark", help="MMLU, BBH or GPQA.")] = "MMLU",
    fit_max_flops: Annotated[float, typer.Option("--fit-max-flops", parser=count, help="Fit on the models below this training compute; judge on those above.")] = 1e24,
    fit_before: Annotated[Optional[str], typer.Option("--fit-before", help="Split by date instead: fit the models released before this date (e.g. 2024-01-01), judge those after.")] = None,
    min_trust: Annotated[int, typer.Option("--min-trust", help="Keep models whose results Epoch trusts at least this much (-1 keeps doubtful self-reports).")] = 0,
    ceiling: Annotated[Optional[float], typer.Option("--ceiling", help="The best score the curve reaches (default: MMLU 0.951, its answer key's 6.49% flawed questions guessed; BBH and GPQA 1).")] = None,
    where: Annotated[Optional[list[str]], typer.Option("--where", help="Keep the models matching this pandas query (repeated: all of them) over system, date, access ('open' or 'closed'), trust, compute.")] = None,
    plot: Annotated[Optional[Path], typer.Option("--plot", help="Save a figure of the curve, the fitted and the held-out models.")] = None,
    as_json: Json = False,
) -> None:
    """A benchmark's score against log training compute across the field (Owen's sigmoid,
    floor at chance, ceiling at the best score the answer key allows), fitted below a
    compute cut and backtested above it."""

    def go():
        from scalelab.trends.benchmark import benchmark_backtest

        from scalelab.report.plots import check_figure_path

        check_figure_path(plot)
        b = benchmark_backtest(benchmark, fit_max_flops=fit_max_flops, fit_before=fit_before, min_trust=min_trust,
                               ceiling=ceiling, where=all_of(where))
        if plot is not None:
            from scalelab.report.plots import plot_benchmark, save

            save(plot_benchmark(b), plot)
        return b

    b = run(go)
    if as_json:
        print_json(b.to_dict())
        return
    out.print(f"{b.benchmark}: sigmoid in log10 compute fitted to {b.n_fit} models with {b.split} "
              f"(k {b.k:.2f} per decade, midpoint 10^{b.c0:.2f} FLOPs, ceiling {100 * b.ceiling:.1f}%)", markup=False)
    if b.table:
        t = Table("model", "compute", "actual", "forecast", "80% interval")
        for r in b.table:
            t.add_row(r["system"], f"{r['compute']:.2g}", f"{100 * r['actual']:.1f}", f"{100 * r['predicted']:.1f}",
                      f"{100 * r['lo80']:.1f}–{100 * r['hi80']:.1f}")
        out.print(t)
        out.print(f"held out: {b.n_test} models, mean |error| {b.mae:.2f} points, {100 * b.coverage80:.0f}% inside "
                  "their 80% interval", markup=False)
    else:
        out.print("no models above the cut to judge the fit on", markup=False)
    if plot is not None:
        out.print(f"wrote {plot}")


@trends_app.command("lag", epilog="""\b
Examples:
  scalelab trends lag --benchmark MMLU
  scalelab trends lag --benchmark compute --json
  scalelab trends lag --benchmark MMLU --where "date >= '2023-01-01'"
  scalelab trends lag --benchmark GPQA --plot lag.png
""")
def trends_lag(
    benchmark: Annotated[str, typer.Option("--benchmark", help="MMLU, BBH, GPQA, or compute (log10 training FLOPs).")] = "MMLU",
    min_trust: Annotated[int, typer.Option("--min-trust", help="Keep benchmark results with Epoch's trust flag >= this (-1 marks doubtful self-reports).")] = 0,
    where: Annotated[Optional[list[str]], typer.Option("--where", help="Keep the models matching this pandas query (repeated: all of them) over system, date, access ('open' or 'closed'), trust, compute.")] = None,
    plot: Annotated[Optional[Path], typer.Option("--plot", help="Save a figure of both groups' models, their frontiers and the lag at each level.")] = None,
    as_json: Json = False,
) -> None:
    """How many months open models trail closed ones: the distance in time between the two
    groups' frontiers (best score, or largest compute, reached by each date), the median
    over levels both reach, with an interval from resampling the models."""

    def go():
        from scalelab.report.plots import check_figure_path
        from scalelab.trends import open_closed_lag

        check_figure_path(plot)
        lag = open_closed_lag(benchmark, min_trust=min_trust, where=all_of(where))
        if plot is not None:
            from scalelab.report.plots import plot_lag, save

            save(plot_lag(lag), plot)
        return lag

    lag = run(go)
    if as_json:
        print_json(lag.to_dict())
        return
    out.print(f"open models trail closed ones by {lag.months:.1f} months on {lag.measure} "
              f"(80%: {lag.lo80:.1f} .. {lag.hi80:.1f}, 95%: {lag.lo95:.1f} .. {lag.hi95:.1f}); "
              f"{lag.n_open} open and {lag.n_closed} closed models, median over {len(lag.levels)} levels both "
              "frontiers reach (Epoch AI snapshot 2024-11, CC BY)")
    if plot is not None:
        out.print(f"wrote {plot}")
