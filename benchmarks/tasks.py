"""Downstream capability forecasts on the OLMo ladder (Bhagia et al. 2024), side by side with
the paper's own predictions.

Step 1: Chinchilla's law of each task's bits per byte over the 16 runs of the paper's fit
set (190M–1.3B, each run's last row), alpha tied to beta where that predicts the 1.3B runs
better from the smaller ones (`scalelab fit --tie auto`). Step 2: a link from task bpb to accuracy on every
checkpoint of those runs (`--link auto`, chance per task). Chained to OLMo 2 7B-4T and
13B-5T; the actual values are the 7B's annealed row and the mean of the 13B's last five.
The commands a user would run: `scalelab fit --loss-col bpb_X`, `scalelab tasks fit
--all-steps`, `scalelab tasks predict --fit`.

Beside it, the paper's method written plainly (`plain_olmo`: its step-1 protocol, Huber on
log L over each fit run's mean of its last 5 rows; its step-2 protocol, a free sigmoid fitted
by least squares with the point (0, 1), the first 10% of each run's checkpoints skipped and a
5-point moving average), and the paper's own 13B predictions.

Gadre et al. 2024: the 17-task average top-1 error of the six targets (1.4B over-trained
and 6.9B at 20 tokens/param, on C4, RedPajama and RefinedWeb) from the C4-eval loss: step 1
the over-training law (alpha tied to beta) on the 5 `fit_loss` runs, step 2 `--link exp`
(and `auto`) on those plus the 1.4B at M=20, chained; beside the paper's method written
plainly (`plain_gadre`: its loss and error forms by least squares) and its reproduction in
../shared/data/scaling/README.md (mean 3.66% relative error).

Run:  python benchmarks/tasks.py     (reads ../shared/data/scaling/olmo_ladder.csv and gadre_overtrain.csv)
"""

from __future__ import annotations

import sys
import time
import warnings
from pathlib import Path

import numpy as np
import pandas as pd

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "src"))

from scalelab.fitting import Fit  # noqa: E402
from scalelab.runs import read_runs  # noqa: E402
from scalelab.tasks.data import fit_points, read_task_points  # noqa: E402

DATA = REPO.parent / "shared" / "data" / "scaling" / "olmo_ladder.csv"
GADRE = REPO.parent / "shared" / "data" / "scaling" / "gadre_overtrain.csv"
# the paper method's relative error on the 17-task average (RedPajama from the paper, C4 and RefinedWeb reproduced)
GADRE_REFERENCE = {("c4", "1.4B"): 9.6, ("c4", "6.9B"): 0.14, ("redpajama", "1.4B"): 3.64, ("redpajama", "6.9B"): 0.05,
                   ("refinedweb", "1.4B"): 5.6, ("refinedweb", "6.9B"): 2.9}
# task: (column suffix, chance, the paper's 13B prediction, the paper's 13B actual) (its repo's figures/*.csv)
TASKS = {
    "MMLU": ("mmlu_avg_test", 0.25, 51.3, 51.6), "HellaSwag": ("hellaswag_val", 0.25, 85.3, 83.2),
    "ARC-C": ("arc_challenge_test", 0.25, 52.7, 63.8), "ARC-E": ("arc_easy_test", 0.25, 77.2, 87.2),
    "PIQA": ("piqa_val", 0.5, 82.1, 83.0), "CSQA": ("csqa_val", 0.2, 77.6, 74.1),
    "SocialIQA": ("socialiqa_val", 1 / 3, 59.9, 61.6), "OBQA": ("openbookqa_test", 0.25, 44.9, 48.6),
}
STEP1_TIE = "auto"  # alpha tied to beta where that predicts the 1.3B runs better from the smaller ones
TARGETS = {"7B": "peteish7-4T-annealed", "13B": "peteish13-5T-final"}


def plain_step1(t: pd.DataFrame) -> tuple:
    """The paper's step 1, written plainly: L = E + A/N^alpha + B/D^beta, a Huber loss (delta
    1e-3) on log L, L-BFGS from a grid of starts; ``t`` has params, tokens and loss."""
    from scipy.optimize import minimize
    from scipy.special import logsumexp

    n, d, y = np.log(t["params"].to_numpy()), np.log(t["tokens"].to_numpy()), np.log(t["loss"].to_numpy())

    def objective(p):
        a, b, e, alpha, beta = p
        pred = logsumexp([a - alpha * n, b - beta * d, np.full_like(n, e)], axis=0)
        r = np.abs(pred - y)
        return np.sum(np.where(r <= 1e-3, 0.5 * r ** 2, 1e-3 * (r - 0.5e-3)))

    best = None
    for a in (0.0, 5.0, 10.0, 20.0):
        for b in (0.0, 5.0, 10.0, 20.0):
            for e in (-1.0, 0.0, 0.5):
                for alpha in (0.1, 0.5, 1.0):
                    for beta in (0.1, 0.5, 1.0):
                        r = minimize(objective, [a, b, e, alpha, beta], method="L-BFGS-B")
                        if best is None or r.fun < best.fun:
                            best = r
    a, b, e, alpha, beta = best.x
    return lambda N, D: float(np.exp(a) / N ** alpha + np.exp(b) / D ** beta + np.exp(e))


def plain_step2(fit_rows: pd.DataFrame, x_col: str, y_col: str):
    """The paper's step 2, written plainly: acc = a / (1 + exp(-k (x - x0))) + b (a in
    [-1, 0], b in [0, 1]) by least squares on every checkpoint of the fit runs after their
    first 10%, a 5-point moving average of x and y, and the point (0, 1)."""
    from scipy.optimize import curve_fit

    xs, ys = [0.0], [1.0]
    for _, g in fit_rows.sort_values("tokens").groupby("run_id"):
        x, y = g[x_col].to_numpy(), g[y_col].to_numpy()
        skip = int(np.ceil(0.1 * len(x)))
        kernel = np.ones(5) / 5
        xs += list(np.convolve(x[skip:], kernel, "valid"))
        ys += list(np.convolve(y[skip:], kernel, "valid"))

    def f(x, a, x0, k, b):
        return a / (1 + np.exp(-k * (np.asarray(x) - x0))) + b

    p, _ = curve_fit(f, xs, ys, p0=[-0.5, 0.9, 3.0, 1.0], bounds=([-1, 0, 0, 0], [0, np.inf, np.inf, 1]), maxfev=20000)
    return lambda x: float(f(x, *p))


def plain_olmo(df: pd.DataFrame, x_col: str, y_col: str):
    """The OLMo ladder's two steps chained (each fit run's point in step 1: the mean of its
    last 5 rows), as a side-by-side reference: a function of N and D."""
    fit_rows = df[df.paper_role == "fit"]
    g = fit_rows.sort_values("tokens").groupby("run_id")
    t = pd.DataFrame({"params": g["params"].first(), "tokens": g["tokens"].last(),
                      "loss": g[x_col].apply(lambda v: v.tail(5).mean())})
    step1, step2 = plain_step1(t), plain_step2(fit_rows, x_col, y_col)
    return lambda N, D: step2(step1(N, D))


def main() -> None:
    if not DATA.is_file():
        sys.exit(f"needs {DATA}")
    warnings.simplefilter("ignore")
    df = pd.read_csv(DATA)
    rows = []
    t0 = time.perf_counter()
    for task, (col, chance, paper13, paper13_actual) in TASKS.items():
        x_col, y_col = f"bpb_{col}", f"acc_{col}"
        step1 = Fit(tie=STEP1_TIE, num_bootstrap=200).fit(read_runs(DATA, loss_col=x_col, where="paper_role == 'fit'"))
        pts = read_task_points(DATA, x_col=x_col, y_col=y_col, where="paper_role == 'fit'", all_steps=True)
        link = fit_points(pts, link="auto", chance=chance, num_bootstrap=200)
        chain = plain_olmo(df, x_col, y_col)
        plain = {}
        for name, run_id in TARGETS.items():
            t = df[df.run_id == run_id].sort_values("tokens")
            plain[name] = chain(float(t["params"].iloc[-1]), float(t["tokens"].iloc[-1]))
        for name, run_id in TARGETS.items():
            t = df[df.run_id == run_id].sort_values("tokens")
            actual, x_actual = t[y_col].tail(5).mean(), t[x_col].tail(5).mean()
            N, D = float(t["params"].iloc[-1]), float(t["tokens"].iloc[-1])
            f = link.chain(step1, params=N, tokens=D)
            rows.append({"task": task, "target": name, "step1": "tied" if step1.ties_ else "free", "link": link.link_,
                         "forecastable": link.forecastable_,
                         "x_pred": f.x, "x_actual": x_actual, "pred": 100 * f.value, "actual": 100 * actual,
                         "lo80": 100 * f.intervals[0.8][0], "hi80": 100 * f.intervals[0.8][1],
                         "step2_at_actual_x": 100 * link.predict(x_actual).value,
                         "plain": 100 * plain[name], "paper_pred": paper13 if name == "13B" else None})
    r = pd.DataFrame(rows)
    r["error"] = r["pred"] - r["actual"]
    r["in80"] = (r["lo80"] <= r["actual"]) & (r["actual"] <= r["hi80"])
    pd.set_option("display.width", 200)
    print(r.round(2).to_string(index=False))
    print(f"\nmean |error| over {len(r)} values: {r['error'].abs().mean():.2f} points "
          f"(7B {r[r.target == '7B']['error'].abs().mean():.2f}, 13B {r[r.target == '13B']['error'].abs().mean():.2f}); "
          f"inside the 80% interval: {100 * r['in80'].mean():.0f}%")
    ok = r[r["forecastable"]]
    print(f"the tasks scalelab calls forecastable ({', '.join(sorted(set(ok['task'])))}): mean |error| "
          f"{ok['error'].abs().mean():.2f} points over {len(ok)} values, {100 * ok['in80'].mean():.0f}% inside the 80% "
          f"interval; not forecastable: {', '.join(sorted(set(r[~r['forecastable']]['task']))) or 'none'}")
    print(f"the paper's method written plainly (step 1 Huber on each run's last 5 rows, step 2 a free sigmoid with "
          f"the point (0, 1), 10% of checkpoints skipped, a 5-point moving average): mean |error| "
          f"{(r['plain'] - r['actual']).abs().mean():.2f} points (7B {(r['plain'] - r['actual'])[r.target == '7B'].abs().mean():.2f}, "
          f"13B {(r['plain'] - r['actual'])[r.target == '13B'].abs().mean():.2f})")
    p13 = r[r.target == "13B"]
    print(f"the paper's 13B predictions against the same actual values: mean |error| "
          f"{np.mean(np.abs(p13['paper_pred'] - p13['actual'])):.2f} points")
    print(f"step 2 alone (the link read at the run's actual task bpb): mean |error| "
          f"{(r['step2_at_actual_x'] - r['actual']).abs().mean():.2f} points; step 1's task-bpb error: mean "
          f"{100 * ((r['x_pred'] - r['x_actual']) / r['x_actual']).abs().mean():.1f}%")
    print(f"{time.perf_counter() - t0:.0f} s")
    gadre()


def plain_gadre(sub: pd.DataFrame):
    """Gadre et al.'s method, written plainly: the loss L(N, M) = E + A N^-alpha + B (M N)^-alpha
    (one exponent, D = M N with the nominal N) by least squares on the `fit_loss` runs, the
    error Err = eps - k exp(-gamma L) on those and the 1.4B at M=20, chained: a function of N, M."""
    from scipy.optimize import curve_fit

    fit = sub[sub.paper_role == "fit_loss"]

    def loss(nm, e, a, b, alpha):
        n, m = nm
        return e + a * n ** -alpha + b * (m * n) ** -alpha

    p_loss, _ = curve_fit(loss, (fit["params"].to_numpy(float), fit["token_multiplier"].to_numpy(float)),
                          fit["loss"].to_numpy(float), p0=[1.8, 100.0, 200.0, 0.25], maxfev=50000)
    down = sub[sub.paper_role.isin(["fit_loss", "fit_downstream_only"])]

    def err(x, eps, k, gamma):
        return eps - k * np.exp(-gamma * x)

    p_err, _ = curve_fit(err, down["loss"].to_numpy(float), down["err_avg17"].to_numpy(float), p0=[0.8, 1.0, 0.5],
                         maxfev=50000)
    return lambda n, m: float(err(loss((n, m), *p_loss), *p_err))


def gadre() -> None:
    from scalelab.tasks import TaskFit

    g = pd.read_csv(GADRE)
    print("\n== Gadre et al.: 17-task average top-1 error from the C4-eval loss")
    out = []
    for fam in ("c4", "redpajama", "refinedweb"):
        sub = g[g.family == f"gadre2024_{fam}"]
        step1 = Fit(tie=["alpha=beta"], num_bootstrap=200).fit(read_runs(
            GADRE, where=f"family == 'gadre2024_{fam}' and paper_role == 'fit_loss'"))
        pts = sub[sub.paper_role.isin(["fit_loss", "fit_downstream_only"])]
        plain = plain_gadre(sub)
        for link_name in ("exp", "auto"):
            link = TaskFit(link_name, anchor=False, num_bootstrap=200).fit(pts["loss"], pts["err_avg17"], pts["run_id"])
            for r in sub[sub.paper_role == "target"].itertuples():
                f = link.chain(step1, params=r.params, tokens=r.tokens)
                size = "1.4B" if r.params < 2e9 else "6.9B"
                out.append({"data": fam, "target": f"{size} M={r.token_multiplier}", "link": f"{link_name}->{link.link_}",
                            "pred": f.value, "actual": r.err_avg17, "lo80": f.intervals[0.8][0], "hi80": f.intervals[0.8][1],
                            "rel_error_%": 100 * abs(f.value - r.err_avg17) / r.err_avg17,
                            "plain_%": 100 * abs(plain(r.params, r.token_multiplier) - r.err_avg17) / r.err_avg17,
                            "paper_method_%": GADRE_REFERENCE[(fam, size)]})
    t = pd.DataFrame(out)
    t["in80"] = (t["lo80"] <= t["actual"]) & (t["actual"] <= t["hi80"])
    print(t.round(4).to_string(index=False))
    for name, grp in t.groupby("link"):
        print(f"{name}: mean relative error {grp['rel_error_%'].mean():.2f}% over {len(grp)} targets "
              f"(paper method {grp['paper_method_%'].mean():.2f}%, written plainly here {grp['plain_%'].mean():.2f}%); "
              f"inside the 80% interval {100 * grp['in80'].mean():.0f}%")


if __name__ == "__main__":
    main()
