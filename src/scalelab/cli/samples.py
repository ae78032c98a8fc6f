"""``scalelab samples fit``: pass@k, and coverage laws that forecast it for many more samples."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Optional

import typer
from rich.markup import escape
from rich.table import Table

from scalelab.cli.common import Json, Seed, app, count, out, parse_numbers, print_json, run
from scalelab.errors import ScalelabError

samples_app = typer.Typer(add_completion=False, rich_markup_mode=None, no_args_is_help=True,
                          help="Test-time compute: pass@k and its forecast for many samples per problem.",
                          epilog="""\b
Examples:
  scalelab samples fit counts.csv --model-col model --predict-k 1000,10000
  scalelab samples fit samples.jsonl --problem-col task --correct-col passed --law beta --json
""")
app.add_typer(samples_app, name="samples")


@samples_app.command("fit", epilog="""\b
Examples:
  scalelab samples fit counts.csv --model-col model --predict-k 1000,10000
  scalelab samples fit counts.csv --model-col model --max-samples 100 --predict-k 10000 --plot coverage.png
  scalelab samples fit samples.jsonl --problem-col task --correct-col passed --answer-col answer --score-col reward
""")
def samples_fit(
    path: Annotated[Path, typer.Argument(help="Counts: one row per (model, problem) with n and c, or one row per sample (problem, correct 0/1).", show_default=False, metavar="COUNTS")],
    problem_col: Annotated[str, typer.Option("--problem-col", help="Column naming the problem.")] = "problem",
    n_col: Annotated[str, typer.Option("--n-col", help="Column of samples drawn per problem (absent: one row per sample).")] = "n",
    correct_col: Annotated[str, typer.Option("--correct-col", help="Column of correct samples (counts), or 0/1 per sample.")] = "correct",
    model_col: Annotated[Optional[str], typer.Option("--model-col", help="Column naming the model (one fit per model).")] = None,
    answer_col: Annotated[Optional[str], typer.Option("--answer-col", help="Per-sample answers: majority-vote accuracy at k (ties are not a majority; a blank answer abstains).")] = None,
    score_col: Annotated[Optional[str], typer.Option("--score-col", help="Per-sample verifier scores: best-of-k accuracy (a blank score ranks below every scored sample).")] = None,
    law: Annotated[str, typer.Option("--law", help="power (Brown et al.: coverage = exp(-a k^-b)), beta (per-problem success ~ Beta), or auto (the one that backtests better inside the data; on the bundled counts power forecasts best).")] = "power",
    max_samples: Annotated[Optional[int], typer.Option("--max-samples", help="Use only the first m samples of each problem (a backtest: the rest give the actual pass@k).")] = None,
    predict_k: Annotated[str, typer.Option("--predict-k", help="k to forecast pass@k at, comma-separated.")] = "1000,10000",
    params: Annotated[Optional[str], typer.Option("--params", help="Active parameters per model, NAME=N comma-separated (e.g. Pythia-70M=70M,Pythia-12B=12B): FLOPs per sample and the exchange rate against the largest.")] = None,
    tokens_per_sample: Annotated[Optional[float], typer.Option("--tokens-per-sample", parser=count, help="Tokens generated per sample (with --params).")] = None,
    prompt_tokens: Annotated[float, typer.Option("--prompt-tokens", parser=count, help="Prompt tokens read per sample.")] = 0.0,
    train_tokens: Annotated[Optional[float], typer.Option("--train-tokens", parser=count, help="Training tokens of every model: adds the number of problems after which the larger training run is cheaper.")] = None,
    exchange_k: Annotated[int, typer.Option("--exchange-k", help="Compare at the coverage the largest model reaches with this many samples.")] = 1,
    bootstrap: Annotated[int, typer.Option("--bootstrap", help="Bootstrap resamples over problems (0: no intervals).")] = 200,
    seed: Seed = 0,
    plot: Annotated[Optional[Path], typer.Option("--plot", help="Save a figure of pass@k against k, observed and forecast.")] = None,
    as_json: Json = False,
) -> None:
    """Unbiased pass@k for every k up to the samples drawn (bootstrap intervals over problems),
    and a coverage law that forecasts pass@k for more samples, with 80% and 95% intervals.
    With --max-samples, the samples left out check the forecast."""

    def go():
        from scalelab.report.plots import check_figure_path
        from scalelab.samples.data import read_counts
        from scalelab.samples.forecast import forecast_coverage

        check_figure_path(plot)
        ks = parse_numbers(predict_k, "--predict-k")
        if any(k != int(k) for k in ks):
            raise ScalelabError(f"--predict-k {predict_k}: give whole numbers of samples")
        if max(ks) > 1e12:
            raise ScalelabError(f"--predict-k {predict_k}: give at most 1e12 samples")
        if max_samples is not None and max_samples < 1:
            raise ScalelabError(f"--max-samples {max_samples}: give a number of samples >= 1")
        models = read_counts(path, problem_col=problem_col, n_col=n_col, correct_col=correct_col, model_col=model_col,
                             answer_col=answer_col, score_col=score_col)
        sizes = _parse_params(params, [m.model for m in models])
        if sizes and tokens_per_sample is None:
            raise ScalelabError("--params needs --tokens-per-sample (tokens generated per sample) to count FLOPs")
        results = [forecast_coverage(m, [int(k) for k in ks], law=law, max_samples=max_samples,
                                     num_bootstrap=bootstrap, seed=seed) for m in models]
        if all(r.fit.law == "none" for r in results):
            raise ScalelabError(f"no problem was solved in these samples{' by any model' if len(results) > 1 else ''}: "
                                "coverage cannot be extrapolated from nothing; draw more samples")
        if sizes:
            from scalelab.samples.compute import add_compute

            add_compute(results, sizes, tokens_per_sample=tokens_per_sample, prompt_tokens=prompt_tokens,
                        train_tokens=train_tokens, k_b=exchange_k)
        if plot is not None:
            from scalelab.report.plots import plot_coverage, save

            save(plot_coverage(results), plot)
        return results

    results = run(go)
    if as_json:
        print_json([r.to_dict() for r in results])
        return
    for r in results:
        f = r.fit
        out.print(f"[bold]{escape(r.model)}[/bold]: {r.problems} problems, "
                  + (f"{r.samples_used:,} samples each" if r.samples_most <= r.samples_used else
                     f"{r.samples_used:,} to {r.samples_most:,} samples a problem (pass@k observed to the fewest)")
                  + f"{f' (of {r.samples_available:,})' if r.samples_used < r.samples_available else ''}; "
                  f"pass@1 {100 * r.observed['value'][0]:.2f}%"
                  + (f", pass@{r.samples_used:,} {100 * r.observed['value'][-1]:.2f}%" if r.samples_used > 1 else "") + "; "
                  + (f"{f.law} law {', '.join(f'{k} {v:.3g}' for k, v in f.params().items())}" if f.params() else "no law")
                  + (f" ({escape(f.chosen_by)})" if f.chosen_by else ""), markup=True)
        t = Table("k", "forecast", "80% interval", "95% interval", "actual")
        fc = r.forecast
        for i, k in enumerate(fc["k"]):
            act = fc["actual"][i]
            iv = lambda lv: (f"{100 * fc[f'lo{lv}'][i]:.1f} .. {100 * fc[f'hi{lv}'][i]:.1f}"  # noqa: E731
                             if f"lo{lv}" in fc else "-")
            v = fc["value"][i]
            t.add_row(f"{int(k):,}", "-" if v != v else f"{100 * v:.1f}%", iv(80) if v == v else "-", iv(95) if v == v else "-",
                      "-" if act != act else f"{100 * act:.1f}%")
        out.print(t)
        for w in r.warnings:
            out.print(f"warning: {escape(w)}")
        if r.selection:
            sel = r.selection
            st = Table("k", "pass@k", *(["majority@k"] if "majority" in sel else []), *(["best-of-k"] if "best" in sel else []),
                       title="selecting one answer from k samples")
            for i, k in enumerate(sel["k"]):
                st.add_row(f"{int(k):,}", f"{100 * sel['pass'][i]:.1f}%",
                           *([f"{100 * sel['majority'][i]:.1f}%"] if "majority" in sel else []),
                           *([f"{100 * sel['best'][i]:.1f}%"] if "best" in sel else []))
            out.print(st)
        if r.compute:
            c = r.compute
            line = f"{c['flops_per_sample']:.3g} FLOPs per sample"
            e = c.get("exchange")
            if e:
                if e["k_a"] is None:
                    line += (f"; never reaches {100 * e['coverage']:.1f}%, what {escape(c['against'])} reaches with "
                             f"{e['k_b']:g} sample(s)")
                else:
                    line += (f"; {e['k_a']:,.0f} samples ({e['flops_a']:.3g} FLOPs) match {escape(c['against'])}'s "
                             f"{e['k_b']:g} ({e['flops_b']:.3g} FLOPs) at {100 * e['coverage']:.1f}%")
                    if e["break_even_queries"] is not None:
                        line += (f"; past {e['break_even_queries']:,.0f} problems {escape(c['against'])}'s larger "
                                 "training run is the cheaper way there")
            out.print(line)
    if plot is not None:
        out.print(f"wrote {plot}")


def _parse_params(text: str | None, models: list[str]) -> dict[str, float]:
    if text is None:
        return {}
    out = {}
    for item in text.split(","):
        name, sep, value = item.partition("=")
        if not sep:
            raise ScalelabError(f"--params {item!r}: give NAME=N, e.g. --params {models[0]}=70M")
        name = name.strip()
        if name not in models:
            raise ScalelabError(f"--params {name!r}: no such model; models are {', '.join(models)}")
        try:
            out[name] = count(value.strip())
        except typer.BadParameter:
            raise ScalelabError(f"--params {item!r}: {value!r} is not a parameter count (e.g. 70M, 1.2e10)") from None
    return out
