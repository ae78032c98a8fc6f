"""Figures: a fit with its forecast band, and a backtest. matplotlib with the Agg backend."""

from __future__ import annotations

import warnings

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
from matplotlib.colors import LogNorm  # noqa: E402

from scalelab.errors import ExtrapolationWarning  # noqa: E402
from scalelab.fitting import Fit  # noqa: E402
from scalelab.fitting.backtest import Backtest  # noqa: E402
from scalelab.laws.base import FLOPS_PER_PARAM_TOKEN  # noqa: E402
from scalelab.report.html import compact  # noqa: E402
from scalelab.runs import Runs  # noqa: E402

BAND = {0.95: "#c6dbef", 0.8: "#6baed6"}


def plot_fit(fit: Fit, runs: Runs | None, budgets=None, title: str | None = None, target: tuple | None = None,
             marks=None):
    """Loss against compute: the runs, the law's compute-optimal frontier (or L(C)) with its
    80% and 95% bands, extended to the forecast budgets, which are marked with intervals,
    and to ``target`` (params, tokens), marked with its forecast and intervals. ``marks``
    (a table with ``flops``, ``loss``, ``lo80``, ``hi80``, ``lo95`` and ``hi95``: what
    ``scalelab predict`` prints) are drawn as forecasts too. Without ``runs`` (a fit whose
    data is not at hand) the law is drawn over its fitted range."""
    fig, ax = plt.subplots(figsize=(7.5, 4.8), dpi=110)
    if runs is not None:
        flops, loss = runs.column("flops"), runs.column("loss")
    else:
        flops, loss = np.asarray(fit.data_range_["flops"], float), None
    t_flops = None if target is None else FLOPS_PER_PARAM_TOKEN * target[0] * target[1]
    lo_c = flops.min()
    ends = [flops.max(), *(np.atleast_1d(budgets) if budgets is not None else []), *([t_flops] if t_flops else []),
            *(marks["flops"] if marks is not None else [])]
    hi_c = max(ends) * 1.5
    grid = np.geomspace(lo_c, hi_c, 120)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ExtrapolationWarning)
        if "params" in fit.law_.inputs:
            curve = fit.optimal_allocation(grid).loss
            label = "compute-optimal frontier of the fit"
        else:
            curve = fit.predict(flops=grid)
            label = "fitted L(C)"
    for lv in (0.95, 0.8):
        lo, hi = curve.intervals[lv]
        if np.isfinite(lo).all():
            ax.fill_between(grid, lo, hi, color=BAND[lv], alpha=0.7, lw=0, label=f"{100 * lv:g}% interval")
    ax.plot(grid, curve.loss, color="#08306b", lw=1.6, label=label)
    shown = [np.asarray(curve.loss, float), *([] if loss is None else [np.asarray(loss, float)])]  # what the view holds
    if runs is None:
        pass
    elif "params" in runs.frame:
        sc = ax.scatter(flops, loss, c=runs.column("params"), norm=LogNorm(), cmap="viridis", s=14, zorder=3,
                        edgecolors="none", label="runs")
        fig.colorbar(sc, ax=ax, label="parameters N")
    else:
        ax.scatter(flops, loss, s=14, color="#444", zorder=3, label="runs")
    ax.axvline(flops.max(), color="#999", ls=":", lw=1)
    ax.text(flops.max(), 0.99, " largest run", va="top", fontsize=8, color="#666", transform=ax.get_xaxis_transform())
    if budgets is not None and "params" in fit.law_.inputs:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", ExtrapolationWarning)
            f = fit.optimal_allocation(np.atleast_1d(budgets)).loss
        lo, hi = f.intervals[0.8]
        shown += [np.atleast_1d(f.loss), *map(np.atleast_1d, f.intervals.get(0.95, (lo, hi)))]
        yerr = np.vstack([f.loss - lo, hi - f.loss]) if np.isfinite(lo).all() else None
        ax.errorbar(np.atleast_1d(budgets), f.loss, yerr=yerr, fmt="D", color="#cb181d", ms=5, capsize=3,
                    label="forecast (80% interval)", zorder=4)
    if target is not None and "params" in fit.law_.inputs:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", ExtrapolationWarning)
            f = fit.forecast(params=target[0], tokens=target[1])
        for lv, cap in ((0.95, 2), (0.8, 5)):
            iv = f.interval(lv)
            if iv is not None:
                shown.append(np.array([iv.lo, iv.hi]))
                ax.errorbar([t_flops], [f.loss], yerr=[[f.loss - iv.lo], [iv.hi - f.loss]], fmt="none", ecolor="#cb181d",
                            capsize=cap, lw=1.0 if lv == 0.95 else 2.0, zorder=4)
        shown.append(np.array([f.loss]))
        ax.scatter([t_flops], [f.loss], marker="*", s=160, color="#cb181d", zorder=5,
                   label=f"target N={target[0]:.3g}, D={target[1]:.3g}: {f.loss:.3f} (80%/95% interval)")
    if marks is not None:
        shown += [np.asarray(marks[c], float) for c in ("loss", "lo95", "hi95")]
        for lv, cap, lw in ((95, 2, 1.0), (80, 5, 2.0)):
            ax.errorbar(marks["flops"], marks["loss"], fmt="none", ecolor="#cb181d", capsize=cap, lw=lw, zorder=4,
                        yerr=[marks["loss"] - marks[f"lo{lv}"], marks[f"hi{lv}"] - marks["loss"]])
        ax.scatter(marks["flops"], marks["loss"], marker="*", s=120, color="#cb181d", zorder=5,
                   label="forecast (80%/95% interval)")
        if "params" in marks and "tokens" in marks:
            for c, y, n, d in zip(marks["flops"], marks["loss"], marks["params"], marks["tokens"]):
                ax.annotate(f"N={compact(n)}\nD={compact(d)}", (c, y), textcoords="offset points", xytext=(6, 4), fontsize=7)
    ax.set_xscale("log")
    ax.set_xlabel("training compute C (FLOPs)")
    ax.set_ylabel(loss_label(fit))
    # the view holds the runs, the law and the forecasts with their intervals; a band that
    # widens without bound below the runs (a loosely determined exponent) is cut at its edge
    ys = np.concatenate([y[np.isfinite(y)] for y in shown])
    if ys.size:
        lo, hi = float(ys.min()), float(ys.max())
        pad = 0.08 * (hi - lo or abs(hi) or 1.0)
        ax.set_ylim(lo - pad, hi + pad)
    ax.set_title(title or f"{fit.law_.name} law fitted to {fit.n_runs_} runs")
    ax.grid(True, which="major", alpha=0.3)
    ax.legend(fontsize=8, loc="lower left")
    fig.tight_layout()
    return fig


def loss_label(fit: Fit | None = None, unit: str | None = None) -> str:
    """The loss axis's name: in ``unit``, or the unit the fit was made in (a ladder's fit:
    bits per byte), else nats per token, the unit of the published runs."""
    unit = unit or getattr(fit, "unit", None) or "nats/token"
    return f"loss ({unit})"


def plot_backtest(bt: Backtest, title: str | None = None, unit: str | None = None):
    """Held-out runs: actual loss against the forecast with its 80% interval, by compute
    (the loss in ``unit``, default nats per token)."""
    fig, ax = plt.subplots(figsize=(7.5, 4.8), dpi=110)
    t = bt.table
    ax.scatter(bt.train.column("flops"), bt.train.column("loss"), s=10, color="#bbb", label="fitted on", zorder=2)
    if "lo80" in t and np.isfinite(t["lo80"]).all():
        inside = t["in80"].astype(bool).to_numpy()
        for mask, color, name in ((inside, "#238b45", "inside"), (~inside, "#cb181d", "outside")):
            if mask.any():
                s = t[mask]
                ax.errorbar(s["flops"], s["predicted"], yerr=np.vstack([s["predicted"] - s["lo80"], s["hi80"] - s["predicted"]]),
                            fmt="none", ecolor=color, alpha=0.6, capsize=2, zorder=3)
                ax.scatter(s["flops"], s["actual"], s=16, color=color, zorder=4,
                           label=f"held out, actual {name} the 80% interval")
    else:
        ax.scatter(t["flops"], t["actual"], s=16, color="#222", zorder=4, label="held out, actual")
    ax.scatter(t["flops"], t["predicted"], s=16, marker="_", color="#08306b", zorder=5, label="forecast")
    ax.axvline(bt.split.train_max_flops, color="#999", ls=":", lw=1)
    ax.set_xscale("log")
    ax.set_xlabel("training compute C (FLOPs)")
    ax.set_ylabel(loss_label(bt.fit, unit))
    s = bt.summary()
    ax.set_title(title or f"backtest: median |error| {100 * s['median_abs_rel_error']:.2f}%, "
                 f"80% coverage {s['coverage80'] if s['coverage80'] is None else round(100 * s['coverage80'])}%")
    ax.grid(True, which="major", alpha=0.3)
    ax.legend(fontsize=8)
    fig.tight_layout()
    return fig


def plot_ladder(result):
    """A ladder (``scalelab.ladder.fit.LadderForecast``): the rungs (bits per byte against
    compute, coloured by size), the law's curve for each size and for the target's size,
    the forecast with its 80% interval, and the target itself when it was trained."""
    fig, ax = plt.subplots(figsize=(7.5, 4.8), dpi=110)
    fit, forecast = result.fit, result.forecast
    from scalelab.ladder.fit import fit_params

    rungs = [r for r in result.rungs if r.role == "rung"]
    N = np.array([fit_params(r, result.count) for r in rungs], float)
    D = np.array([r.tokens for r in rungs], float)
    L = np.array([r.bits_per_byte for r in rungs], float)
    C = FLOPS_PER_PARAM_TOKEN * N * D
    sc = ax.scatter(C, L, c=N, norm=LogNorm(), cmap="viridis", s=28, zorder=3, label="rungs")
    fig.colorbar(sc, ax=ax, label=f"parameters N ({result.count.replace('_', '-')})")
    sizes = sorted(set(N))
    hi = max(C.max(), forecast.flops if forecast else C.max()) * 1.3
    for n in sizes + ([forecast.params] if forecast else []):
        d = np.geomspace(D.min() / 2, hi / (FLOPS_PER_PARAM_TOKEN * n), 60)
        ax.plot(FLOPS_PER_PARAM_TOKEN * n * d, fit.law_.predict(params=n, tokens=d), lw=0.8,
                color="#999" if n in sizes else "#cb181d")
    if forecast:
        band = forecast.interval(0.8)
        yerr = None if band is None else [[forecast.loss - band.lo], [band.hi - forecast.loss]]
        ax.errorbar([forecast.flops], [forecast.loss], yerr=yerr, fmt="D", color="#cb181d", capsize=4,
                    label="forecast (80% interval)", zorder=4)
        if result.actual is not None:
            ax.scatter([forecast.flops], [result.actual], marker="*", s=140, color="#000", zorder=5,
                       label="target, trained")
    ax.set_xscale("log")
    ax.set_xlabel("training compute C = 6ND (FLOPs)")
    ax.set_ylabel("validation bits per byte")
    ax.grid(True, alpha=0.3)
    ax.legend(fontsize=8)
    ax.set_title("ladder, fitted law and forecast")
    fig.tight_layout()
    return fig


def plot_task(task, points, title: str | None = None):
    """A task link: the points (coloured by run size where known), the fitted link and its
    80% band from the bootstrap, chance marked."""
    fig, ax = plt.subplots(figsize=(7.5, 4.6), dpi=110)
    f = points.frame
    if "params" in f and f["params"].notna().all():
        sc = ax.scatter(f["x"], f["y"], c=f["params"], norm=LogNorm(), cmap="viridis", s=10, zorder=3, label="runs")
        fig.colorbar(sc, ax=ax, label="parameters N")
    else:
        ax.scatter(f["x"], f["y"], s=10, color="#444", zorder=3, label="runs")
    lo_x, hi_x = float(f["x"].min()), float(f["x"].max())
    grid = np.linspace(lo_x - 0.3 * (hi_x - lo_x), hi_x, 200)
    ax.plot(grid, task._eval(grid, task.params_), color="#08306b", lw=1.6, label=f"{task.link_} link")
    B = next(iter(task.ensemble_.values())).size if task.ensemble_ else 0
    if B:
        curves = np.array([task._eval(grid, {k: v[i] for k, v in task.ensemble_.items()}) for i in range(B)])
        lo, hi = np.quantile(curves, [0.1, 0.9], axis=0)
        ax.fill_between(grid, lo, hi, color=BAND[0.8], alpha=0.7, lw=0, label="80% band (bootstrap)")
    if task.chance is not None:
        ax.axhline(task.chance, color="#999", ls=":", lw=1, label="chance")
    ax.set_xlabel(points.x_col)
    ax.set_ylabel(points.y_col)
    ax.set_title(title or f"{points.y_col} against {points.x_col}" + ("" if task.forecastable_ else " (NOT forecastable)"))
    ax.grid(True, alpha=0.3)
    ax.legend(fontsize=8)
    fig.tight_layout()
    return fig


def plot_task_backtest(table, y_col: str, title: str | None = None):
    """Each held-out run's task metric: the chained forecast with its 80% interval against
    the actual value (on the diagonal when exact)."""
    fig, ax = plt.subplots(figsize=(5.6, 5.2))
    act, pred = 100 * table["actual"].to_numpy(), 100 * table["predicted"].to_numpy()
    err = np.vstack([pred - 100 * table["lo80"].to_numpy(), 100 * table["hi80"].to_numpy() - pred])
    inside = table["in80"].to_numpy(bool)
    for mask, color, name in ((inside, "#4c78a8", "inside its 80% interval"), (~inside, "#d62728", "outside")):
        if mask.any():
            ax.errorbar(act[mask], pred[mask], yerr=err[:, mask], fmt="o", ms=5, color=color, capsize=3,
                        label=f"{name} ({int(mask.sum())})")
    for x, y, name in zip(act, pred, table["run_id"]):
        ax.annotate(str(name), (x, y), fontsize=6, xytext=(4, 2), textcoords="offset points")
    lo = min(act.min(), (pred - err[0]).min()) - 2
    hi = max(act.max(), (pred + err[1]).max()) + 2
    ax.plot([lo, hi], [lo, hi], color="#777777", lw=0.8)
    ax.set(xlim=(lo, hi), ylim=(lo, hi), xlabel=f"{y_col} actual (%)", ylabel="forecast (%)",
           title=title or f"{y_col}: held-out runs, mean |error| {np.mean(np.abs(pred - act)):.1f} points")
    ax.legend(fontsize=8, loc="upper left")
    fig.tight_layout()
    return fig


def plot_coverage(results, title: str | None = None):
    """pass@k against k (log axis) per model: the observed curve, the forecast with its 80%
    band out to the largest k asked, and the actual values where a backtest has them."""
    fig, ax = plt.subplots(figsize=(7, 4.2))
    colors = plt.cm.viridis(np.linspace(0, 0.9, max(len(results), 1)))
    for r, color in zip(results, colors):
        fit, obs = r.fit, r.observed
        ax.plot(obs["k"], 100 * obs["value"], color=color, lw=1.8, label=f"{r.model} ({fit.law})")
        kmax = max(int(r.forecast["k"].max()), int(obs["k"].max()))
        k = np.unique(np.geomspace(max(int(obs["k"].max()), 1), kmax, 60).round())
        if k.size > 1:
            pred = fit.predict(k)
            ax.plot(k, 100 * pred["value"], color=color, ls="--", lw=1.2)
            if "lo80" in pred:
                ax.fill_between(k, 100 * pred["lo80"], 100 * pred["hi80"], color=color, alpha=0.15, lw=0)
        act = r.forecast["actual"]
        ok = np.isfinite(act)
        if ok.any():
            ax.scatter(r.forecast["k"][ok], 100 * act[ok], color=color, marker="x", zorder=5)
    ax.set(xscale="log", xlabel="samples per problem k", ylabel="pass@k (%)", ylim=(0, 100),
           title=title or "coverage: observed (solid), forecast with 80% band (dashed), actual (x)")
    ax.legend(fontsize=8, loc="upper left")
    fig.tight_layout()
    return fig


def plot_compute_trend(trend, mark: float | None = None):
    """Training compute against publication date with the fitted growth line; ``mark`` puts
    a planned run's FLOPs on the line (at the year the trend reaches it), or, for a run below
    every model of the trend, which the line cannot date, a level across the figure."""
    years, logc, _names = trend.points
    slope = np.log10(trend.growth_per_year)
    fig, ax = plt.subplots(figsize=(7, 4.2))
    ax.scatter(years, 10 ** logc, s=10, color="#4c78a8", alpha=0.6, label=f"{trend.selection} ({trend.n_models})")
    xs = np.linspace(years.min(), max(years.max(), 2025.0), 50)
    ax.plot(xs, 10 ** (trend.intercept + slope * xs), color="#08306b",
            label=f"{trend.growth_per_year:.2f}x per year (80%: {trend.interval80[0]:.2f}–{trend.interval80[1]:.2f}x)")
    if mark is not None and np.log10(mark) < logc.min():
        ax.axhline(mark, color="#d62728", ls="--", lw=1.2,
                   label=f"planned run, {mark:.2g} FLOPs: below every model here, not dated")
    elif mark is not None:
        year = (np.log10(mark) - trend.intercept) / slope
        ax.scatter([year], [mark], marker="*", s=160, color="#d62728", zorder=5, label=f"planned run, {mark:.2g} FLOPs")
    ax.set(yscale="log", xlabel="publication date", ylabel="training compute (FLOPs)",
           title="training compute of the field (Epoch AI, CC BY, 2024-11)")
    ax.legend(fontsize=8, loc="upper left")
    fig.tight_layout()
    return fig


def plot_benchmark(b):
    """A benchmark's score against training compute: the models fitted, the sigmoid, and the
    held-out models with their 80% intervals."""
    from scalelab.trends.benchmark import curve

    fig, ax = plt.subplots(figsize=(7, 4.2))
    lx, y = b.fit_points
    ax.scatter(10 ** lx, 100 * y, s=14, color="#4c78a8", label=f"fitted ({b.split}, {b.n_fit})")
    if b.table:
        c = np.array([r["compute"] for r in b.table])
        act = np.array([r["actual"] for r in b.table])
        lo = np.array([r["lo80"] for r in b.table])
        hi = np.array([r["hi80"] for r in b.table])
        pred = np.array([r["predicted"] for r in b.table])
        ax.errorbar(c, 100 * pred, yerr=100 * np.vstack([pred - lo, hi - pred]), fmt="none", ecolor="#999", lw=1,
                    label="forecast, 80% interval")
        ax.scatter(c, 100 * act, s=18, color="#d62728", zorder=4,
                   label=f"held out ({b.n_test}): mean error {b.mae:.1f} points")
    grid = np.linspace(min(lx.min(), np.log10(min(r["compute"] for r in b.table)) if b.table else lx.min()) - 0.3,
                       max(lx.max(), np.log10(max(r["compute"] for r in b.table)) if b.table else lx.max()) + 0.3, 100)
    ax.plot(10 ** grid, 100 * curve(grid, b.k, b.c0, b.chance, b.ceiling), color="#08306b")
    if b.ceiling < 1:
        ax.axhline(100 * b.ceiling, color="#999", ls=":", lw=1, label=f"ceiling {100 * b.ceiling:.1f}% (flawed answer key)")
    ax.set(xscale="log", xlabel="training compute (FLOPs)", ylabel=f"{b.benchmark} (%)", ylim=(0, 100),
           title=f"{b.benchmark} against compute across the field (Epoch AI, CC BY, 2024-11)")
    ax.legend(fontsize=8, loc="upper left")
    fig.tight_layout()
    return fig


def plot_lag(lag):
    """Open and closed models against their release date, each group's frontier (the best
    reached so far), and the lag at each level both reach as a horizontal segment."""
    do, vo, dc, vc = lag.points
    dates = lambda d: np.asarray(d, float).astype(np.int64).astype("datetime64[D]")  # noqa: E731
    log = lag.measure.startswith("log10")
    y = (lambda v: 10 ** np.asarray(v)) if log else (lambda v: 100 * np.asarray(v))
    fig, ax = plt.subplots(figsize=(7, 4.2))
    for d, v, color, name in ((dc, vc, "#d62728", "closed"), (do, vo, "#4c78a8", "open")):
        order = np.argsort(d, kind="stable")
        ax.scatter(dates(d), y(v), s=12, color=color, alpha=0.5, label=f"{name} models ({v.size})")
        ax.step(dates(d[order]), y(np.maximum.accumulate(v[order])), where="post", color=color, lw=1.5)
    for row in lag.levels:
        if row["closed_date"] and row["open_date"]:
            ax.plot(np.array([row["closed_date"], row["open_date"]], "datetime64[D]"), y([row["level"]] * 2),
                    color="#555555", lw=0.8, alpha=0.6)
    ax.plot([], [], color="#555555", lw=0.8, label=f"lag at each level: median {lag.months:.1f} months "
                                                      f"(80%: {lag.lo80:.1f}–{lag.hi80:.1f})")
    ax.set(xlabel="release date", ylabel="training compute (FLOPs)" if log else f"{lag.measure} (%)",
           title=f"open and closed models: {'compute' if log else lag.measure} (Epoch AI, CC BY, 2024-11)")
    if log:
        ax.set_yscale("log")
    ax.legend(fontsize=8, loc="upper left")
    fig.autofmt_xdate()
    fig.tight_layout()
    return fig


def plot_validate(steps, hours, band: float = 0.25):
    """The speed model against what was measured: each published step's MFU, measured and
    predicted (left), and documented runs' accelerator-hours, reported and predicted, beside
    a flat 40% MFU (right); the diagonal is a perfect prediction, the band +-``band``."""
    fig, (a, b) = plt.subplots(1, 2, figsize=(10, 4.4))
    meas = np.array([c.mfu_measured for c in steps])
    pred = np.array([c.mfu_predicted for c in steps])
    lim = np.array([0.9 * min(meas.min(), pred.min()), 1.1 * max(meas.max(), pred.max())])
    a.fill_between(lim, lim * (1 - band), lim * (1 + band), color="#dddddd", label=f"within {100 * band:.0f}%")
    a.plot(lim, lim, color="#777777", lw=0.8)
    for hw in sorted({c.hardware for c in steps}):
        pick = [i for i, c in enumerate(steps) if c.hardware == hw]
        a.scatter(meas[pick], pred[pick], s=22, label=hw, zorder=3)
    a.set(xlim=lim, ylim=lim, xlabel="MFU measured", ylabel="MFU predicted",
          title=f"published step times ({len(steps)})")
    a.legend(fontsize=7, loc="upper left")
    rep = np.array([c.hours_reported for c in hours])
    both = [np.array([c.hours_predicted for c in hours]), np.array([c.hours_flat for c in hours])]
    for vals, name, marker in ((both[0], "speed model", "o"), (both[1], "flat 40% MFU", "x")):
        b.scatter(rep, vals, s=26, marker=marker, label=name, zorder=3)
    lo, hi = 0.5 * min(rep.min(), *(v.min() for v in both)), 2 * max(rep.max(), *(v.max() for v in both))
    grid = np.array([lo, hi])
    b.fill_between(grid, grid * (1 - band), grid * (1 + band), color="#dddddd")
    b.plot(grid, grid, color="#777777", lw=0.8)
    for c in hours:
        b.annotate(c.model, (c.hours_reported, c.hours_predicted), fontsize=6, xytext=(3, 2), textcoords="offset points")
    b.set(xscale="log", yscale="log", xlim=(lo, hi), ylim=(lo, hi), xlabel="accelerator-hours reported",
          ylabel="predicted", title=f"documented runs ({len(hours)})")
    b.legend(fontsize=7, loc="upper left")
    fig.tight_layout()
    return fig


def plot_returns(decades, floor: float | None = None, unit: str | None = None):
    """Diminishing returns: the loss of the compute-optimal run per decade of compute with
    its 80% interval (and the law's floor), and what each decade's 0.01 of loss costs."""
    c = np.array([d.flops for d in decades])
    loss = np.array([d.loss for d in decades])
    fig, (ax1, ax2) = plt.subplots(1, 2, figsize=(9, 3.8), constrained_layout=True)
    ax1.fill_between(c, [d.lo80 for d in decades], [d.hi80 for d in decades], color="#4c78a8", alpha=0.2, lw=0,
                     label="80% interval")
    ax1.plot(c, loss, "o-", color="#08306b", label="compute-optimal run")
    if floor is not None:
        ax1.axhline(floor, color="#999", ls=":", label=f"floor E = {floor:.3g}")
    for d in decades[1:]:
        ax1.annotate(f"-{100 * d.removed:.0f}%", (d.flops, d.loss), textcoords="offset points", xytext=(4, 6), fontsize=8)
    ax1.set(xscale="log", xlabel="training FLOPs", ylabel=loss_label(unit=unit), title="loss per decade (label: share of the reducible loss removed)")
    ax1.title.set_fontsize(9)
    ax1.legend(fontsize=8)
    per = [(d.flops, d.usd_per_centinat) for d in decades[1:] if d.usd_per_centinat is not None]
    if per:
        ax2.bar(range(len(per)), [v for _, v in per], color="#4c78a8")
        ax2.set_xticks(range(len(per)), [f"{f:.0e}" for f, _ in per])
        ax2.set(yscale="log", xlabel="decade ending at (FLOPs)", ylabel="USD per 0.01 of loss",
                title="what a hundredth of loss costs")
    else:
        ax2.set_axis_off()
    return fig


def plot_curves(frame, title: str, loss_name: str | None = None, max_panels: int = 6):
    """A run's curves against its step, one panel per metric (the loss first; at most
    ``max_panels``), on a log scale where a metric is positive and spans a decade or more."""
    names = [c for c in frame.columns if c not in ("step", "tokens", "wall_time")]
    names = sorted(names, key=lambda n: (n != loss_name, "loss" not in n.lower(), n))[:max_panels]
    cols = min(3, len(names))
    rows = -(-len(names) // cols)
    fig, axes = plt.subplots(rows, cols, figsize=(4.2 * cols, 3.2 * rows), squeeze=False, constrained_layout=True)
    step = frame["step"].to_numpy(float)
    for ax, name in zip(axes.flat, names):
        y = frame[name].to_numpy(float)
        seen = ~np.isnan(y)
        finite = seen & np.isfinite(y)
        ax.plot(step[finite], y[finite], lw=0.8, color="#08306b")
        bad = seen & ~np.isfinite(y)
        for x in step[bad][:20]:
            ax.axvline(x, color="#d62728", lw=0.8, alpha=0.6)  # a NaN or infinity the run logged
        vals = y[finite]
        if vals.size and vals.min() > 0 and vals.max() / vals.min() >= 10:
            ax.set_yscale("log")
        ax.set(xlabel="step", title=name + (f" ({int(bad.sum())} non-finite)" if bad.any() else ""))
        ax.title.set_fontsize(9)
    for ax in list(axes.flat)[len(names):]:
        ax.set_axis_off()
    fig.suptitle(title, fontsize=10)
    return fig


def check_figure_path(path) -> None:
    """Refuse at once a figure file that :func:`save` could not write."""
    from pathlib import Path

    from scalelab.errors import InputError
    from scalelab.io import check_writable

    if path is None:
        return
    kind = Path(path).suffix.lower().lstrip(".") or "png"
    if kind not in plt.figure().canvas.get_supported_filetypes():
        plt.close("all")
        raise InputError(f"cannot save a figure as {str(path)!r}: use .png, .svg or .pdf")
    plt.close("all")
    check_writable(path)


def save(fig, path) -> None:
    """Write a figure (its format from the file's extension: .png, .svg, .pdf), atomically."""
    from pathlib import Path

    from scalelab.errors import InputError
    from scalelab.io import atomic_path

    path = Path(path)
    kind = path.suffix.lower().lstrip(".") or "png"
    if kind not in fig.canvas.get_supported_filetypes():
        plt.close(fig)
        raise InputError(f"cannot save a figure as {str(path)!r}: use .png, .svg or .pdf")
    try:
        with atomic_path(path) as tmp:
            fig.savefig(tmp, format=kind)
    finally:
        plt.close(fig)
