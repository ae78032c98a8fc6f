"""``scalelab report``: one page for the user's own run — what it will deliver (the fit, the
forecast with its intervals, how far it extrapolates, the backtest), what it will cost
(the plan), and whether it is on track (the live run against its forecast).

Every section is optional but the fit: the page holds what it is given. The verdict at the
top says it in one line, e.g. "forecast 1.94 (80%: 1.86–1.99); $2.2M ($2.0M–$2.9M), 27
days on 1,024 x H100; on track (inside the 95% interval) at 42% of training".
"""

from __future__ import annotations

import hashlib
import html
import math
import warnings
from dataclasses import dataclass, field
from pathlib import Path

import pandas as pd

from scalelab.errors import ExtrapolationWarning, InputError, recording_warnings
from scalelab.report.html import Report, compact
from scalelab.units import duration

BACKTEST_DIVISOR = 10.0  # the report's backtest fits the runs below a tenth of the largest compute


@dataclass
class RunReport:
    """What the page shows, computed once (:func:`build`), rendered by :meth:`html`."""

    fit: object
    fit_path: str
    runs: object | None = None
    runs_note: str = ""
    target: tuple[float, float] | None = None
    forecast: object | None = None
    backtest: object | None = None
    backtest_note: str = ""
    plan: object | None = None
    monitor: object | None = None
    log: str | None = None
    tasks: list = field(default_factory=list)
    """(name, link, its points or None, forecast) per task given (``--task LINK.json:STEP1.json``)."""
    notes: dict[str, list[str]] = field(default_factory=dict)
    """Warnings by the section they concern: fit, forecast, backtest, plan, run."""
    returns: list | None = None
    """With ``context``: the compute-optimal run at the target's compute and 3 decades beyond."""
    context: object | None = None
    """With ``context``: the target's place in the public record (:func:`scalelab.trends.context.run_context`)."""
    trend: object | None = None
    benchmark: object | None = None

    # ---------------------------------------------------------------- the verdict
    def verdict(self) -> str:
        parts = []
        f = self.forecast
        if f is not None:
            iv = f.interval(0.8)
            unit = getattr(self.fit, "unit", None)
            parts.append(f"forecast {f.loss:.3g}" + (f" {unit}" if unit else "")
                         + (f" (80%: {iv.lo:.3g}–{iv.hi:.3g})" if iv else ""))
        for name, _link, _pts, tf in self.tasks:
            iv = tf.intervals.get(0.8)
            parts.append(f"{name} {100 * tf.value:.1f}" + (f" ({100 * iv[0]:.1f}–{100 * iv[1]:.1f})" if iv else "")
                         + ("" if tf.forecastable else " (not forecastable)"))
        p = self.plan
        if p is not None:
            r = p.run
            cost = "" if r.cost_usd is None else _usd(r.cost_usd)
            rg = p.ranges()
            if cost and rg and rg.get("cost_usd"):
                cost += f" ({_usd(rg['cost_usd'][0])}–{_usd(rg['cost_usd'][1])})"
            parts.append(", ".join(x for x in (cost, f"{duration(r.days * 86400)} on {r.num_gpus:,.0f} x "
                                                      f"{r.accelerator.name.split()[0]}") if x))
        m = self.monitor
        if m is not None:
            st = m.status()
            proj = st.projection
            if st.loss is not None and not math.isfinite(st.loss):
                parts.append("the loss is not finite: the run has diverged")
            elif proj is not None and proj.band is not None:
                parts.append(proj.standing() + (f" at {proj.projected_final:.3g}" if proj.finished else ""))
            elif st.fraction_done is not None:
                parts.append(f"{100 * st.fraction_done:.0f}% of training")
            elif st.unjudged:
                parts.append(st.unjudged)
            if st.alerts:
                parts.append(f"{len(st.alerts)} alert{'s' if len(st.alerts) != 1 else ''}")
        return "; ".join(parts) if parts else f"{self.fit.law_.name} law fitted to {self.fit.n_runs_} runs"

    def to_dict(self) -> dict:
        return {
            "verdict": self.verdict(), "fit": self.fit_path, "target": None if self.target is None else list(self.target),
            "forecast": None if self.forecast is None else self.forecast.to_dict(),
            "backtest": None if self.backtest is None else self.backtest.summary(),
            "plan": None if self.plan is None else self.plan.to_dict(),
            "run": None if self.monitor is None else self.monitor.status().to_dict(), "notes": self.notes,
            "tasks": {name: tf.to_dict() for name, _link, _pts, tf in self.tasks},
            "returns": None if self.returns is None else [d.to_dict() for d in self.returns],
            "context": None if self.context is None else self.context.to_dict(),
        }

    # ---------------------------------------------------------------- the page
    def html(self) -> str:
        from scalelab.report.plots import plot_backtest, plot_fit

        rep = Report(f"scalelab report: {Path(self.fit_path).name}")
        rep.parts.append(f'<p class="verdict">{html.escape(self.verdict())}</p>')

        if self.forecast is not None:
            rep.heading("Forecast")
            f = self.forecast
            rows = [("parameters N", compact(f.params)), ("training tokens D", compact(f.tokens)),
                    ("compute C = 6·N·D", f"{f.flops:.3g} FLOPs"), ("loss", f"{f.loss:.4g}")]
            for iv in f.intervals:
                rows.append((f"{100 * iv.level:g}% interval", f"{iv.lo:.4g} – {iv.hi:.4g}"))
            rows += [(f"beyond the fitted runs ({k})", _factor(v)) for k, v in self._beyond().items()]
            rep.table(pd.DataFrame(rows, columns=["", "value"]))
            _notes(rep, self.notes.get("forecast"))

        rep.heading("Fit")
        fit = self.fit
        rep.figure(plot_fit(fit, self.runs, target=self.target,
                            title=f"{fit.law_.name} law fitted to {fit.n_runs_} runs"
                                  + ("; the target marked" if self.target else "")))
        if self.runs_note:
            rep.paragraph(self.runs_note, note=True)
        iv80, iv95 = fit.param_intervals(0.8), fit.param_intervals(0.95)
        rep.table(pd.DataFrame([(k + (" (fixed)" if k in fit.fixed_ else ""), f"{v:.4g}",
                                 f"{iv80[k][0]:.4g} – {iv80[k][1]:.4g}", f"{iv95[k][0]:.4g} – {iv95[k][1]:.4g}")
                                for k, v in fit.params_.items()],
                               columns=["parameter", "value", "80% interval", "95% interval"]))
        res = fit.to_dict()["residuals"]
        rep.paragraph(f"{fit.law_.formula}; residuals: median {_pct(res['median_abs_rel'])}, largest "
                      f"{_pct(res['max_abs_rel'])} (relative).")
        _notes(rep, self.notes.get("fit"))

        rep.heading("Backtest")
        cal = fit.calibration_
        if cal.per_decade is not None:
            rep.paragraph(f"Inside the runs (fits below {', '.join(f'{c:.2g}' for c in cal.cuts)} FLOPs predicting "
                          f"the larger ones, {cal.n_test} predictions): median error "
                          f"{_pct(cal.median_abs_rel_error)}; the error grows by {_pct(cal.per_decade)} per decade of "
                          "compute beyond the runs, which the intervals include.")
        else:
            rep.paragraph("Inside the runs: too few predictions to measure how the error grows beyond them "
                          f"({cal.n_test}); intervals far out are too narrow.")
        if self.backtest is not None:
            rep.figure(plot_backtest(self.backtest, unit=self.fit.unit))
            s = self.backtest.summary()
            rep.table(pd.DataFrame([
                ("fitted on", f"{s['n_train']} runs up to {s['train_max_flops']:.3g} FLOPs"),
                ("held out", f"{s['n_test']} runs up to {s['test_max_flops']:.3g} FLOPs "
                             f"({_factor(s['test_max_flops'] / s['train_max_flops'])} beyond)"),
                ("median |error|", _pct(s["median_abs_rel_error"])), ("largest |error|", _pct(s["max_abs_rel_error"])),
                ("inside the 80% interval", "-" if s["coverage80"] is None else _pct(s["coverage80"], 0)),
                ("inside the 95% interval", "-" if s["coverage95"] is None else _pct(s["coverage95"], 0)),
            ], columns=["", "value"]))
        elif self.backtest_note:
            rep.paragraph(self.backtest_note, note=True)
        _notes(rep, self.notes.get("backtest"))

        if self.tasks:
            rep.heading("Tasks")
            rep.table(pd.DataFrame([(name, f"{100 * tf.value:.1f}%",
                                     f"{100 * tf.intervals[0.8][0]:.1f} – {100 * tf.intervals[0.8][1]:.1f}",
                                     f"{100 * tf.intervals[0.95][0]:.1f} – {100 * tf.intervals[0.95][1]:.1f}",
                                     f"{tf.x:.4g}", "yes" if tf.forecastable else "NO")
                                    for name, _link, _pts, tf in self.tasks],
                                   columns=["task", "forecast", "80% interval", "95% interval", "task loss", "forecastable"]))
            for name, link, pts, tf in self.tasks:
                if pts is not None:
                    from scalelab.report.plots import plot_task

                    fig = plot_task(link, pts, title=f"{name}: the pilots, the link and the target's forecast")
                    ax = fig.axes[0]
                    lo, hi = tf.intervals[0.8]
                    ax.errorbar([tf.x], [tf.value], yerr=[[tf.value - lo], [hi - tf.value]],
                                xerr=None if tf.x_interval is None else [[tf.x - tf.x_interval[0]], [tf.x_interval[1] - tf.x]],
                                fmt="*", ms=12, color="#cb181d", capsize=3, label="target (80% intervals)")
                    ax.legend(fontsize=8)
                    rep.figure(fig)
                for m in link.reasons_:
                    _notes(rep, [f"{name}: {m}"])
            _notes(rep, self.notes.get("tasks"))

        if self.plan is not None:
            rep.heading("Plan")
            rep.table(pd.DataFrame(_plan_rows(self.plan), columns=["", "value"]))
            _notes(rep, self.notes.get("plan"))

        if self.returns is not None or self.context is not None:
            self._context_section(rep)

        if self.monitor is not None:
            from scalelab.report.watch import add_watch

            rep.heading(f"Run: {self.log}")
            add_watch(rep, self.monitor)
            _notes(rep, self.notes.get("run"))
        return rep.render()

    def _context_section(self, rep) -> None:
        """What more compute buys under the user's law, and where the run sits in the field."""
        from scalelab.report.plots import plot_benchmark, plot_compute_trend, plot_returns

        rep.heading("Returns and the public record")
        if self.returns is not None:
            d0 = self.returns[0]
            rep.paragraph(f"The compute-optimal run at the target's compute ({d0.flops:.3g} FLOPs) and at each tenfold "
                          "step beyond it, under this fit: each decade removes the same share of the reducible loss, "
                          "so the loss it buys shrinks while its cost grows tenfold.")
            rep.figure(plot_returns(self.returns, self.fit.params_.get("E"), unit=self.fit.unit))
            rep.table(pd.DataFrame([(f"{d.flops:.3g}", compact(d.params), compact(d.tokens), f"{d.loss:.4g}",
                                     f"{d.lo80:.4g} – {d.hi80:.4g}", "-" if d.removed is None else _pct(d.removed, 1),
                                     "-" if d.gain is None else f"{d.gain:.4f}",
                                     "-" if d.cost_usd is None else _usd(d.cost_usd)) for d in self.returns],
                                   columns=["FLOPs", "N", "D", "loss", "80% interval", "reducible removed",
                                            "loss bought", "cost"]))
            _notes(rep, self.notes.get("returns"))
        c = self.context
        if c is not None:
            rows = [("frontier trend", c.frontier_text()),
                    ("at or above", f"{100 * c.share_below:.1f}% of notable models' compute"
                     + (f" (the largest at or below: {c.largest_below})" if c.largest_below else ""))]
            rows += [(f"the field's {name} at this compute",
                      f"{100 * b['value']:.1f}% (80%: {100 * b['lo80']:.1f}–{100 * b['hi80']:.1f}; {b['n_models']} models)")
                     for name, b in c.benchmarks.items()]
            rep.table(pd.DataFrame(rows, columns=["", "value"]))
            if self.trend is not None:
                rep.figure(plot_compute_trend(self.trend, mark=c.flops))
            if self.benchmark is not None:
                fig = plot_benchmark(self.benchmark)
                fig.axes[0].axvline(c.flops, color="#d62728", ls="--", lw=1, label="this run")
                fig.axes[0].legend(fontsize=8, loc="upper left")
                rep.figure(fig)
            rep.paragraph(f"{c.attribution}.", note=True)

    def _beyond(self) -> dict[str, float]:
        """How far the target lies beyond the fitted runs, input by input (1x: inside)."""
        f, rng = self.forecast, self.fit.data_range_
        out = {}
        for k, v in (("params", f.params), ("tokens", f.tokens), ("flops", f.flops)):
            if v is not None and k in rng:
                out[k] = max(1.0, v / rng[k][1], rng[k][0] / v)
        return out


def build(fit_path: str | Path, *, runs_path: str | Path | None = None, params: float | None = None,
          tokens: float | None = None, plan_path: str | Path | None = None, log: str | None = None,
          log_format: str = "auto", backtest: bool = True, tasks: list[str] | None = None,
          context: bool = False, tokens_per_step: float | None = None) -> RunReport:
    """Everything the page shows. The fit's runs are read from ``runs_path``, or from the
    file the fit was made from when it is still there unchanged; the target is ``params``
    and ``tokens``, or the plan's; ``log`` is watched against the forecast and the plan
    (``tokens_per_step`` counts the tokens of a log that does not);
    each of ``tasks`` (``LINK.json:STEP1.json``) is forecast for the target; ``context``
    adds the returns of the next decades of compute and the target's place in the public
    record (compute trend, benchmark curves)."""
    from scalelab.io import load_fit, load_plan

    fit = load_fit(fit_path)
    plan = None if plan_path is None else load_plan(plan_path)
    if (params is None) != (tokens is None):
        raise InputError("give both --params and --tokens for the target (or --plan)")
    if params is None and plan is not None:
        params, tokens = plan.params.active, plan.tokens
    own = None
    if params is None and log is not None:  # a ladder rung's log: the law at the rung's own size
        from scalelab.ladder.fit import own_size

        own = own_size(log, fit)
        if own is not None:
            params, tokens = own[0]["params"], own[0]["final_tokens"]
    if params is None:  # the target a ladder's fit was made for
        from scalelab.watch.monitor import fit_facts

        facts = fit_facts(fit)
        params, tokens = facts.get("params"), facts.get("final_tokens")
    rep = RunReport(fit=fit, fit_path=str(fit_path), plan=plan, log=log)
    rep.runs, rep.runs_note = _runs_of(fit, fit_path, runs_path)
    if params is not None:
        if "tokens" not in fit.law_.inputs:
            raise InputError(f"a target of N and D needs a law of N and D; this fit is a {fit.law_.name} law")
        rep.target = (float(params), float(tokens))
        with recording_warnings() as seen:
            rep.forecast = fit.forecast(params=params, tokens=tokens, law=f"fit {fit_path}")
        rep.notes["forecast"] = ([own[1]] if own else []) + list(dict.fromkeys(seen))
    rep.notes["fit"] = [w["message"] for w in fit.warnings_]
    if plan is not None:
        rep.notes["plan"] = list(plan.warnings)
    if backtest and rep.runs is not None:
        rep.backtest, rep.backtest_note, rep.notes["backtest"] = _backtest(fit, rep.runs)
    elif rep.runs is None:
        rep.backtest_note = "No held-out backtest: the fit's runs are not at hand (give --runs FILE)."
    for spec in tasks or ():
        rep.tasks.append(_task(spec, rep.target))
    if context:
        if rep.forecast is None:
            raise InputError("--context places the target run: give --params and --tokens, or --plan")
        from scalelab.planning.returns import returns
        from scalelab.trends.benchmark import benchmark_backtest
        from scalelab.trends.compute import compute_trend
        from scalelab.trends.context import run_context

        flops = plan.flops.model if plan is not None else rep.forecast.flops
        if "tokens" in fit.law_.inputs and hasattr(fit.law_, "optimal_allocation"):
            acc = plan.run.accelerator if plan is not None else None
            with recording_warnings() as seen:
                rep.returns = returns(fit, rep.forecast.flops, decades=3, accelerator=acc,
                                      mfu=None if plan is None else plan.run.mfu,
                                      goodput=None if plan is None else plan.run.goodput)
            rep.notes["returns"] = list(dict.fromkeys(seen))
        rep.context = run_context(flops)
        rep.trend = compute_trend(frontier=True, since=2018)
        rep.benchmark = benchmark_backtest("MMLU")
    if log is not None:
        from scalelab.watch import WatchSettings
        from scalelab.watch.session import watch_once

        settings = WatchSettings.from_plan(plan, fit=fit, params=params, final_tokens=tokens)
        with recording_warnings() as seen:
            outcomes = watch_once(log, settings, fmt=log_format, roles={"tokens_per_step": tokens_per_step})
        rep.monitor = outcomes[0].monitor
        rep.notes["run"] = list(dict.fromkeys(seen)) + (
            [f"{len(outcomes) - 1} more runs in {log} are not shown (the first is)"] if len(outcomes) > 1 else [])
    return rep


def _task(spec: str, target) -> tuple:
    """One ``LINK.json:STEP1.json`` task: its link, the pilots' points (when their table is at
    hand) and the target's forecast through both steps."""
    from scalelab.io import load_fit
    from scalelab.tasks.data import chain_check, load_task, read_task_points

    link_path, sep, step1_path = spec.partition(":")
    if not sep or not link_path or not step1_path:
        raise InputError(f"--task {spec!r}: give LINK.json:STEP1.json (a scalelab tasks fit link and the fit of its "
                         "task loss)")
    if target is None:
        raise InputError("--task forecasts the target run: give --params and --tokens, or --plan")
    link, step1 = load_task(link_path), load_fit(step1_path)
    chain_check(link, step1)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ExtrapolationWarning)  # the forecast section says how far out the target is
        forecast = link.chain(step1, params=target[0], tokens=target[1])
    cols, pts = link.columns_, None
    src = cols.get("source")
    if src and Path(src).is_file():
        try:
            pts = read_task_points(src, x_col=cols["x"], y_col=cols["y"], where=cols.get("where"), all_steps=True)
        except InputError:
            pts = None
    name = cols.get("y") or Path(link_path).stem
    return name, link, pts, forecast


def _runs_of(fit, fit_path, runs_path) -> tuple[object | None, str]:
    """The runs to draw: the given file (read as the fit read its own), or the fit's own
    source when it is still there with the same content."""
    from scalelab.runs import read_runs

    prov = getattr(fit, "provenance_", {}) or {}
    sel = dict(prov.get("selection") or {})
    if sel.get("flops_col") == "6*params*tokens":
        sel["flops_col"] = None
    if runs_path is not None:
        return read_runs(runs_path, **sel), ""
    src = prov.get("source")
    if not src:
        return None, "The fit does not name the file it was made from; give --runs FILE to draw its runs."
    if prov.get("metric") == "val_bpb" and str(src).endswith(".toml"):  # a ladder's fit: its rungs' results
        from scalelab.ladder.fit import ladder_runs

        for cand in (Path(src), Path(fit_path).parent / src):
            if cand.is_file():
                return ladder_runs(cand, prov.get("params_count", "total")), ""
        return None, f"The fit's ladder ({src}) is not at hand; give --runs FILE to draw its rungs."
    for cand in (Path(src), Path(fit_path).parent / src):
        if cand.is_file():
            if prov.get("sha256") and hashlib.sha256(cand.read_bytes()).hexdigest() != prov["sha256"]:
                return None, (f"{cand} has changed since the fit was made; its runs are not drawn (give --runs FILE, "
                              "or refit)")
            return read_runs(cand, **sel), ""
    return None, f"The fit's runs ({src}) are not at hand; give --runs FILE to draw them."


def _backtest(fit, runs) -> tuple[object | None, str, list[str]]:
    from scalelab.fitting import Fit
    from scalelab.fitting.backtest import backtest

    flops = runs.column("flops")
    cut = float(flops.max() / BACKTEST_DIVISOR)
    n_train = int((flops <= cut).sum())
    settings = fit.get_params() | {"num_bootstrap": min(fit.get_params().get("num_bootstrap", 100), 100)}
    if n_train < len(fit.params_) + 2 or n_train == len(flops):
        return None, (f"No held-out backtest: {n_train} of {len(flops)} runs lie below a tenth of the largest compute; "
                      "a backtest needs enough runs on both sides of the cut."), []
    with recording_warnings() as seen, warnings.catch_warnings():
        warnings.simplefilter("ignore", ExtrapolationWarning)
        bt = backtest(runs, Fit(**settings), train_max_flops=cut)
    return bt, "", list(dict.fromkeys(seen))


def _plan_rows(p) -> list[tuple[str, str]]:
    r, rg = p.run, p.ranges()

    def span(key, fmt):
        return "" if not rg or not rg.get(key) else f" ({fmt(rg[key][0])} – {fmt(rg[key][1])})"

    a = r.accelerator
    sp = p.speed or {}
    predicted = sp.get("mfu_source") == "performance model"
    rows = [("model", f"{compact(p.params.total)} parameters ({p.model.name})"),
            ("tokens", compact(p.tokens)), ("compute", f"{p.flops.model:.3g} FLOPs"),
            ("hardware", f"{r.num_gpus:,.0f} x {a.name} at MFU {r.mfu:.0%}, goodput {r.goodput:.0%}"
                         + (" (predicted: step-time and failure models)" if predicted else "")),
            ("time", f"{r.days:,.1f} days{span('days', lambda v: f'{v:,.1f}')}"),
            ("GPU-hours", f"{r.gpu_hours:,.0f}{span('gpu_hours', lambda v: f'{v:,.0f}')}")]
    if r.cost_usd is not None:
        rows.append(("cost", f"{_usd(r.cost_usd)}{span('cost_usd', _usd)} at ${a.price_usd_per_hour:g}/GPU-hour"))
    if r.energy_kwh is not None:
        rows.append(("energy", f"{r.energy_kwh / 1000:,.0f} MWh"))
    if rg:
        whose = "the speed and failure models' prediction" if predicted else "the default"
        rows.append(("ranges", f"the effective MFU {rg['runs']} documented runs reached: "
                               f"{rg['effective_mfu_ratio'][0]:.2f}–{rg['effective_mfu_ratio'][1]:.2f}x {whose}"))
    if predicted:
        ch = sp["chosen"]
        rows.append(("step", f"{ch['step']['step_s']:.2f} s for {compact(ch['step']['tokens_per_step'])} tokens; "
                             f"{ch['why']}"))
    lay = p.layout
    if lay.parallel is not None:
        par, g = lay.parallel, lay.memory.gib()
        rows.append(("layout", f"dp {par.dp}, tp {par.tp}, pp {par.pp}, cp {par.cp}, ep {par.ep}, ZeRO {par.zero}, "
                               f"recompute {lay.recompute}, micro-batch {lay.micro_batch}, {lay.precision}"))
        rows.append(("memory per GPU", f"{g['total']:.1f} of {g['device']:.0f} GiB "
                                       f"({'fits' if lay.memory.fits else 'does NOT fit'})"))
    else:
        rows.append(("layout", "none found that fits"))
    d = p.data
    if d is not None:
        rows.append(("data", f"{d.epochs:.2f} epochs of {compact(d.unique_tokens)} unique tokens, worth "
                             f"{compact(d.effective_tokens)} fresh ones: loss {d.loss:.4g} against {d.loss_fresh:.4g} with "
                             f"fresh data (penalty {d.penalty:+.4f}); 10x the compute would gain {d.more['gain']:.4f} "
                             f"(fresh data: {d.more['gain_fresh']:.4f}){'; the data is exhausted' if d.exhausted else ''}"))
    return rows


def _notes(rep: Report, messages) -> None:
    for m in messages or ():
        rep.parts.append(f'<p class="warn">warning: {html.escape(str(m))}</p>')


def _pct(x: float, digits: int = 2) -> str:
    return "-" if x is None or not math.isfinite(x) else f"{100 * x:.{digits}f}%"


def _factor(x: float) -> str:
    return "inside" if x <= 1.0 + 1e-9 else f"{x:.1f}x" if x < 100 else f"{x:,.0f}x"


def _usd(x: float) -> str:
    for div, suffix in ((1e9, "B"), (1e6, "M"), (1e3, "k")):
        if abs(x) >= div:
            return f"${x / div:.3g}{suffix}"
    return f"${x:,.0f}" if abs(x) >= 100 else f"${x:.3g}"  # a pilot's cents, not $0


__all__ = ["RunReport", "build"]
