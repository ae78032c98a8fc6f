"""A watched run on a page: where it stands (a verdict and a table), its loss against the
forecast of its final loss with the projection and the alerts marked, and its throughput
against the plan on the same x-axis. ``snapshot_html`` is ``scalelab watch --html``;
``add_watch`` puts the same section into a larger report (``scalelab report``)."""

from __future__ import annotations

import html as _html
import math

import numpy as np

from scalelab.report.html import Report, compact

COLORS = {"spike": "#e6550d", "nonfinite": "#000000", "divergence": "#cb181d", "stall": "#756bb1",
          "throughput_drop": "#3182bd", "grad_norm_spike": "#fd8d3c", "behind_forecast": "#a50f15",
          "over_budget": "#31a354"}
SKIP_FRACTION = 0.2  # the loss axis is scaled to the run after its first fifth (the fall from the initial loss)


def snapshot_html(monitor, title: str | None = None) -> str:
    rep = Report(title or f"scalelab watch: {monitor.name}")
    add_watch(rep, monitor)
    return rep.render()


def verdict(monitor) -> str:
    """One line: where the run stands against its forecast, its progress and its alerts."""
    st = monitor.status()
    parts = [f"step {st.step:,}" if st.step is not None else "no steps yet"]
    p = st.projection
    if st.loss is not None and not math.isfinite(st.loss):
        parts.append("the loss is not finite: the run has diverged")
    elif p is not None and p.band is not None:
        spread = f" ± {p.projected_spread:.2g}" if p.projected_spread > 0 else ""
        parts.append(f"{'final' if p.finished else 'projected final'} loss {p.projected_final:.4g}{spread} against the "
                     f"forecast {p.forecast.loss:.4g} ({100 * p.level:g}%: {p.band.lo:.4g}–{p.band.hi:.4g}): "
                     f"{p.standing()}")
    elif st.fraction_done is not None:
        parts.append(f"{100 * st.fraction_done:.0f}% of training")
    if st.eta() is not None:
        parts.append(f"ETA {st.eta()}")
    parts.append("no alerts" if not st.alerts else f"{len(st.alerts)} alert{'s' if len(st.alerts) != 1 else ''}")
    return "; ".join(parts)


def add_watch(rep: Report, monitor) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    import pandas as pd

    s = monitor.settings
    st = monitor.status()
    rep.parts.append(f'<p class="verdict">{_html.escape(verdict(monitor))}</p>')
    rows = [("step", st.step), (s.loss_name or "loss", st.loss), *([(st.forecast_metric, st.forecast_value)]
                                                                  if st.forecast_metric else []),
            ("tokens", None if st.tokens is None else compact(st.tokens)),
            ("tokens/s (recent median)", st.tokens_per_s), ("planned tokens/s", st.planned_tokens_per_s),
            ("training done", None if st.fraction_done is None else f"{100 * st.fraction_done:.1f}%"),
            ("ETA", st.eta()),
            ("spent", _usd(st.spent_usd)), ("projected cost", _usd(st.projected_cost_usd)),
            ("budget", _usd(st.budget_usd)), ("repeated steps replaced", st.replaced_steps or None),
            ("restarts (step went back)", st.rewinds or None)]
    proj = st.projection
    band = None if proj is None else proj.band
    if proj:
        rows += [("projected final loss", proj.projected_final), ("forecast final loss", proj.forecast.loss)]
        if band is not None:
            rows.append((f"forecast {100 * proj.level:g}% interval", f"{_num(band.lo)} – {_num(band.hi)}"))
    rep.table(pd.DataFrame([(k, _num(v)) for k, v in rows if v is not None], columns=["", "value"]))

    steps = np.asarray(monitor.steps)
    toks = np.asarray(monitor.tokens, float)
    on_tokens = len(toks) > 0 and bool(np.isfinite(toks).all())
    x = toks if on_tokens else steps.astype(float)
    loss = np.asarray(monitor.loss, float)
    rate = monitor._rates()
    has_rate = bool(np.isfinite(rate).any())
    # the forecast's own metric gets the top panel when it is not the watched loss (a
    # ladder's val_bpb at evaluations); the loss, with the alerts, the next
    separate = bool(s.forecast_metric) and on_tokens
    fname, fx, fy, _ = monitor.forecast_series()
    ratios = [3] + ([2] if separate else []) + ([1.3] if has_rate else [])
    fig, axes = plt.subplots(len(ratios), 1, figsize=(8, 4.2 + 1.4 * (len(ratios) - 1)), dpi=110, sharex=True,
                             gridspec_kw={"height_ratios": ratios}, squeeze=False)
    axes = axes[:, 0]
    ax = axes[0]
    top_x, top_y = (fx, fy) if separate else (x, loss)
    ax.plot(top_x, top_y, lw=1.0, color="#08306b", label=fname if separate else s.loss_name)
    if proj and s.final_tokens and on_tokens:
        from scalelab.watch.forecast import project_final

        f = proj.forecast
        if band is not None:  # the forecast of the final loss, drawn across the whole run
            ax.axhspan(band.lo, band.hi, color="#fcbba1", alpha=0.45, lw=0,
                       label=f"forecast of the final loss ({100 * proj.level:g}% interval)")
        ax.axhline(f.loss, color="#cb181d", lw=0.8, ls=":")
        beta = f.tokens_exponent
        if beta and len(top_x):
            grid = np.geomspace(max(top_x[len(top_x) // 2], 1.0), s.final_tokens, 60)
            curve = [project_final(top_x, top_y, g, beta) for g in grid]
            ax.plot(grid, curve, ls="--", color="#6baed6", label="projection of this run")
        ax.plot([s.final_tokens], [f.loss], "D", color="#cb181d", label="forecast at the end")
    lax = axes[1] if separate else ax  # where the watched loss is, and its alerts
    if separate:
        lax.plot(x, loss, lw=0.8, color="#636363", label=s.loss_name)
    for a in monitor.alerts:
        if 0 <= a.index < len(x):
            lax.axvline(x[a.index], color=COLORS.get(a.kind, "#999"), alpha=0.6, lw=1)
            if math.isfinite(loss[a.index]):
                lax.plot([x[a.index]], [loss[a.index]], "o", color=COLORS.get(a.kind, "#999"), ms=5)
    ax.set_xscale("log")
    first = int(SKIP_FRACTION * len(loss))
    if len(x) > 5 and np.isfinite(x[first]) and x[first] > 0:
        ax.set_xlim(left=x[first])
    for a_, ys, with_band in ((ax, top_y, True), *([(lax, loss, False)] if separate else [])):
        late = ys[int(SKIP_FRACTION * len(ys)):]
        late = late[np.isfinite(late)]
        if late.size:
            lo, hi = float(late.min()), float(late.max())
            if with_band and band is not None:
                lo, hi = min(lo, band.lo), max(hi, band.hi)
            pad = 0.05 * (hi - lo or abs(hi) or 1.0)
            a_.set_ylim(lo - pad, hi + pad)
    ax.set_ylabel(fname if separate else s.loss_name)
    ax.grid(True, alpha=0.3)
    ax.legend(fontsize=8)
    ax.set_title(f"{fname} against the forecast of its final value" if separate else
                 "loss against the forecast of its final value; alerts marked" if proj else
                 "loss (the run after its first fifth); alerts marked")
    if separate:
        lax.set_ylabel(s.loss_name)
        lax.grid(True, alpha=0.3)
        lax.legend(fontsize=8)
        lax.set_title(f"{s.loss_name}, every step; alerts marked", fontsize=10)
    if has_rate:
        ax2 = axes[-1]
        ax2.plot(x, rate, lw=0.8, color="#3182bd", label="tokens/s")
        if s.planned_tokens_per_s:
            ax2.axhline(s.planned_tokens_per_s, ls="--", color="#636363", label="plan")
        for a in monitor.alerts:
            if a.kind == "throughput_drop" and 0 <= a.index < len(x):
                ax2.axvline(x[a.index], color=COLORS["throughput_drop"], alpha=0.6)
        ax2.set_ylabel("tokens/s")
        ax2.grid(True, alpha=0.3)
        ax2.legend(fontsize=8)
    axes[-1].set_xlabel("tokens" if on_tokens else "step")
    fig.tight_layout()
    rep.figure(fig)

    rep.heading(f"Alerts ({len(monitor.alerts)})")
    if not monitor.alerts:
        rep.paragraph("none")
    for a in monitor.alerts:  # each message names its own steps
        rep.parts.append(f'<p><span style="color:{COLORS.get(a.kind, "#999")}">&#9679;</span> '
                         f"<b>{_html.escape(a.kind)}</b> ({a.severity}): {_html.escape(a.message)}</p>")


def _usd(v):
    return None if v is None else f"${v:,.0f}" if abs(v) >= 100 else f"${v:.3g}"


def _num(v) -> str:
    if isinstance(v, (int, np.integer)):
        return f"{int(v):,}"
    if isinstance(v, float):
        if not math.isfinite(v):
            return "NaN (not finite)"
        return f"{v:,.0f}" if abs(v) >= 1e4 else f"{v:.4g}"
    return str(v)
