"""A static HTML snapshot of a watched run: the curve against its forecast, alerts marked,
and throughput against the plan."""

from __future__ import annotations

import html as _html
import math

import numpy as np

from scalelab.report.html import Report

COLORS = {"spike": "#e6550d", "nonfinite": "#000000", "divergence": "#cb181d", "stall": "#756bb1",
          "throughput_drop": "#3182bd", "grad_norm_spike": "#fd8d3c", "behind_forecast": "#a50f15",
          "over_budget": "#31a354"}


def snapshot_html(monitor, title: str | None = None) -> str:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    s = monitor.settings
    st = monitor.status()
    rep = Report(title or f"scalelab watch: {monitor.name}")
    rows = [("step", st.step), ("loss", st.loss), ("tokens", st.tokens),
            ("tokens/s (recent median)", st.tokens_per_s), ("planned tokens/s", st.planned_tokens_per_s),
            ("share of training done", st.fraction_done), ("ETA (hours)", st.eta_hours),
            ("spent (USD)", st.spent_usd), ("projected cost (USD)", st.projected_cost_usd),
            ("budget (USD)", st.budget_usd), ("repeated steps replaced", st.replaced_steps),
            ("restarts (step went back)", st.rewinds)]
    proj = st.projection
    band = None if proj is None else proj.band
    if proj:
        rows += [("projected final loss", proj.projected_final), ("forecast final loss", proj.forecast.loss)]
        if band is not None:
            rows.append((f"forecast {100 * proj.level:g}% interval", f"{_num(band.lo)} – {_num(band.hi)}"))
    import pandas as pd

    rep.table(pd.DataFrame([(k, _num(v)) for k, v in rows if v is not None], columns=["", "value"]))

    steps = np.asarray(monitor.steps)
    toks = np.asarray(monitor.tokens, float)
    x = toks if np.isfinite(toks).all() and len(toks) else steps.astype(float)
    xlabel = "tokens" if x is toks else "step"
    fig, ax = plt.subplots(figsize=(8, 4.2), dpi=110)
    ax.plot(x, monitor.loss, lw=1.2, color="#08306b", label=s.loss_name)
    if proj and s.final_tokens and xlabel == "tokens":
        from scalelab.watch.forecast import project_final

        beta = proj.forecast.tokens_exponent
        if beta:
            grid = np.geomspace(max(x[len(x) // 2], 1.0), s.final_tokens, 60)
            curve = [project_final(x, np.asarray(monitor.loss, float), g, beta) for g in grid]
            ax.plot(grid, curve, ls="--", color="#6baed6", label="projection")
        f = proj.forecast
        ax.errorbar([s.final_tokens], [f.loss], yerr=None if band is None else [[f.loss - band.lo], [band.hi - f.loss]],
                    fmt="D", color="#cb181d", capsize=4, label=f"forecast ({100 * proj.level:g}% interval)")
    for a in monitor.alerts:
        if 0 <= a.index < len(x):
            ax.axvline(x[a.index], color=COLORS.get(a.kind, "#999"), alpha=0.6, lw=1)
            ax.plot([x[a.index]], [monitor.loss[a.index]], "o", color=COLORS.get(a.kind, "#999"), ms=5)
    ax.set_xscale("log")
    ax.set_xlabel(xlabel)
    ax.set_ylabel(s.loss_name)
    ax.grid(True, alpha=0.3)
    ax.legend(fontsize=8)
    ax.set_title("loss against the forecast; alerts marked")
    fig.tight_layout()
    rep.figure(fig)

    rate = monitor._rates()
    if np.isfinite(rate).any():
        fig, ax = plt.subplots(figsize=(8, 2.8), dpi=110)
        ax.plot(steps, rate, lw=1, color="#3182bd", label="tokens/s")
        if s.planned_tokens_per_s:
            ax.axhline(s.planned_tokens_per_s, ls="--", color="#636363", label="plan")
        for a in monitor.alerts:
            if a.kind == "throughput_drop" and 0 <= a.index < len(steps):
                ax.axvline(steps[a.index], color=COLORS["throughput_drop"], alpha=0.6)
        ax.set_xlabel("step")
        ax.set_ylabel("tokens/s")
        ax.grid(True, alpha=0.3)
        ax.legend(fontsize=8)
        fig.tight_layout()
        rep.figure(fig)

    rep.heading(f"Alerts ({len(monitor.alerts)})")
    if not monitor.alerts:
        rep.paragraph("none")
    for a in monitor.alerts:
        rep.parts.append(f'<p><span style="color:{COLORS.get(a.kind, "#999")}">&#9679;</span> '
                         f"<b>{_html.escape(a.kind)}</b> ({a.severity}): {_html.escape(a.message)}</p>")  # the message names its steps
    return rep.render()


def _num(v) -> str:
    if isinstance(v, (int, np.integer)):
        return f"{int(v):,}"
    if isinstance(v, float):
        if not math.isfinite(v):
            return str(v)
        return f"{v:,.0f}" if abs(v) >= 1e4 else f"{v:.4g}"
    return str(v)
