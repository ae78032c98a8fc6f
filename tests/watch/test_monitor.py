import json
import warnings

import numpy as np
import pandas as pd
import pytest

from scalelab.watch.forecast import project_final
from scalelab.watch.monitor import Monitor, WatchSettings
from scalelab.watch.session import fraction_within
from tests.conftest import SCALING


def frame(n=200, spike_at=None, seed=0):
    rng = np.random.default_rng(seed)
    steps = np.arange(1, n + 1) * 100
    tokens = steps * 1e6
    loss = (2.0 + 40 * tokens**-0.15) * np.exp(0.0005 * rng.standard_normal(n))
    if spike_at is not None:
        loss[spike_at] *= 1.05
    return pd.DataFrame({"step": steps, "tokens": tokens, "wall_time": 1.7e9 + steps * 2.0, "loss": loss,
                         "tokens_per_s": 5e5 * (1 + 0.003 * rng.standard_normal(n))})


@pytest.mark.parametrize("chunk", [1, 3, 17, 1000])
def test_streaming_equals_batch(chunk):
    f = frame(spike_at=120)
    m = Monitor(WatchSettings(loss_name="loss"))
    alerts = []
    for i in range(0, len(f), chunk):
        alerts += m.update(f.iloc[i:i + chunk])
    assert [(a.kind, a.index) for a in alerts] == [("spike", 120)]


@pytest.mark.parametrize("chunk", [1, 17, 1000])
def test_a_spike_the_restart_abandons_is_found_however_the_rows_arrive(chunk):
    """The run spiked at its 120th point and was resumed from its 100th: the spike is
    judged before the restart drops it, whether the rows come one by one or all at once."""
    spiky, clean = frame(150, spike_at=120), frame(150, seed=1)
    f = pd.concat([spiky, clean.iloc[100:]], ignore_index=True)
    m = Monitor(WatchSettings(loss_name="loss"))
    alerts = []
    for i in range(0, len(f), chunk):
        alerts += m.update(f.iloc[i:i + chunk])
    assert [(a.kind, a.step) for a in alerts] == [("spike", 12100)]
    assert m.rewinds == 1 and m.steps == f["step"].iloc[:100].tolist() + clean["step"].iloc[100:].tolist()


def test_repeated_steps_and_restarts():
    f = frame(50)
    m = Monitor(WatchSettings(loss_name="loss"))
    m.update(f.iloc[:40])
    m.update(f.iloc[39:40])  # the same step again
    m.update(f.iloc[30:50])  # a restart from the checkpoint at step 3100
    assert m.replaced == 1 and m.rewinds == 1
    assert m.steps == f["step"].tolist()


def test_rows_without_the_loss_are_not_nan_alerts():
    """Eval rows at other steps do not carry the train loss: not logged is not NaN."""
    f = frame(60)
    f2 = pd.concat([f, pd.DataFrame({"step": [6050], "val_loss": [2.5]})], ignore_index=True)
    f2.loc[len(f2) - 1, "loss"] = np.nan
    m = Monitor(WatchSettings(loss_name="loss"))
    assert [a.kind for a in m.update(f2)] == []


def test_eta_cost_and_budget():
    f = frame(100)
    s = WatchSettings(loss_name="loss", final_tokens=1e11, num_gpus=8, price_usd_per_gpu_hour=2.0, budget_usd=1.0)
    m = Monitor(s)
    m.update(f)
    st = m.status()
    assert st.eta_hours == pytest.approx((1e11 - 1e10) / 5e5 / 3600, rel=0.02)
    assert st.fraction_done == pytest.approx(0.1)
    assert st.spent_usd == pytest.approx((f["wall_time"].iloc[-1] - f["wall_time"].iloc[0]) / 3600 * 16)
    assert st.projected_cost_usd == pytest.approx((st.elapsed_hours + st.eta_hours) * 16)
    assert json.loads(json.dumps(st.to_dict()))["eta_hours"] == st.eta_hours
    a = m.budget_alert()
    assert a.kind == "over_budget" and m.budget_alert() is None


def test_projection_recovers_a_law_shaped_curve():
    t = np.linspace(1e9, 4e10, 50)
    y = 2.1 + 60 * t**-0.25
    assert project_final(t, y, 1e11, 0.25) == pytest.approx(2.1 + 60 * 1e11**-0.25, rel=1e-9)
    truth = 2.1 + 60 * 1e11**-0.25
    assert fraction_within(t, y, 1e11, 0.25, truth) == pytest.approx(t[5] / 1e11)


def test_behind_forecast_on_olmo_13b():
    """OLMo 2 13B: ladder fit, the pre-anneal curve; the projection reaches 1% of the final loss."""
    from scalelab.fitting import Fit
    from scalelab.runs import read_runs

    warnings.simplefilter("ignore")
    path = SCALING / "olmo_ladder.csv"
    fit = Fit(num_bootstrap=50).fit(read_runs(path, where="paper_role == 'fit'"))
    c = pd.read_csv(path).query("run_id == 'peteish13-5T-curve'").sort_values("tokens")
    truth = c["loss"].tail(5).mean()
    frac = fraction_within(c["tokens"].to_numpy(), c["loss"].to_numpy(), 5e12, fit.params_["beta"], truth)
    assert frac is not None and frac <= 0.75
    m = Monitor(WatchSettings(loss_name="loss", params=float(c["params"].iloc[0]), final_tokens=5e12, fit=fit))
    alerts = m.update(c[["step", "tokens", "loss"]].assign(wall_time=np.nan))
    assert "behind_forecast" not in [a.kind for a in alerts]  # the run ended inside the forecast's interval
    p = m.status().projection
    assert p.projected_final in p.band and not p.behind


def test_behind_forecast_alert_when_the_run_is_worse():
    from scalelab.fitting import Fit
    from tests.conftest import synthetic_runs

    warnings.simplefilter("ignore")
    fit = Fit(num_bootstrap=30).fit(synthetic_runs("chinchilla"))
    N, D = 1e9, 2e10
    t = np.linspace(2e9, 1e10, 40)
    good = fit.law_.predict(params=N, tokens=t)
    m = Monitor(WatchSettings(loss_name="loss", params=N, final_tokens=D, fit=fit))
    bad = pd.DataFrame({"step": np.arange(40), "tokens": t, "loss": good * 1.15, "wall_time": np.nan})
    kinds = [a.kind for a in m.update(bad)]
    assert kinds.count("behind_forecast") == 1
    ok = Monitor(WatchSettings(loss_name="loss", params=N, final_tokens=D, fit=fit))
    assert "behind_forecast" not in [a.kind for a in ok.update(bad.assign(loss=good))]


def test_a_wsd_run_before_its_cooldown_is_not_called_behind():
    """A warmup-stable-decay run sits above the law's shape until its cooldown (10-18% in the
    ladder's WSD rungs): while the logged learning rate is at its peak, 15% above the curve is
    no alert (it is without the learning rate), and the status says the projection is an
    upper bound; a run far above the interval is still called behind."""
    from scalelab.fitting import Fit
    from tests.conftest import synthetic_runs

    warnings.simplefilter("ignore")
    fit = Fit(num_bootstrap=30).fit(synthetic_runs("chinchilla"))
    N, D = 1e9, 2e10
    t = np.linspace(2e9, 1.2e10, 40)  # 10-60% of training, the rate at its peak after a warm-up
    good = fit.law_.predict(params=N, tokens=t)
    lr = np.r_[np.linspace(3e-5, 3e-4, 5), np.full(35, 3e-4)]
    stable = pd.DataFrame({"step": np.arange(40), "tokens": t, "loss": good * 1.15, "lr": lr, "wall_time": np.nan})

    def kinds(frame):
        m = Monitor(WatchSettings(loss_name="loss", params=N, final_tokens=D, fit=fit))
        return [a.kind for a in m.update(frame)], m.status().projection

    found, p = kinds(stable)
    assert "behind_forecast" not in found and p.cooldown_pending and not p.behind
    assert "on track (above the 95% interval before a cooldown that can take it inside)" in p.standing()
    inside = kinds(stable.assign(loss=good))[1]
    assert inside.standing().startswith("on track (inside the 95% interval) at 60% of training; the learning rate's "
                                        "decay is not over, so the projection is an upper bound")
    assert "behind_forecast" in kinds(stable.drop(columns="lr"))[0]
    assert "behind_forecast" in kinds(stable.assign(loss=good * 1.8))[0]
    cosine = 3e-4 * 0.5 * (1 + np.cos(np.pi * t / D))  # falling from the start: judged as before
    assert "behind_forecast" in kinds(stable.assign(lr=cosine))[0]
    # at its peak rate with 1% of its tokens left there is no cooldown to wait for: judged as it stands
    late = stable.assign(tokens=np.linspace(2e9, 0.99 * D, 40), loss=fit.law_.predict(params=N, tokens=np.linspace(
        2e9, 0.99 * D, 40)) * 1.15)
    found, p = kinds(late)
    assert "behind_forecast" in found and not p.cooldown_pending and "before a cooldown" not in p.standing()


def test_a_ladder_fit_s_measured_cooldown_sets_how_much_a_cooldown_may_take_off():
    """A ladder whose WSD rungs' cooldowns took at most 5% off their projections allows the
    target that much, not the default 25%: 15% above the curve at the peak rate is behind."""
    from scalelab.fitting import Fit
    from scalelab.watch.forecast import COOLDOWN_ALLOWANCE
    from scalelab.watch.monitor import fit_facts
    from tests.conftest import synthetic_runs

    warnings.simplefilter("ignore")
    fit = Fit(num_bootstrap=30).fit(synthetic_runs("chinchilla"))
    N, D = 1e9, 2e10
    t = np.linspace(2e9, 1.2e10, 40)
    stable = pd.DataFrame({"step": np.arange(40), "tokens": t, "loss": fit.law_.predict(params=N, tokens=t) * 1.15,
                           "lr": 3e-4, "wall_time": np.nan})
    fit.provenance_["cooldown"] = {"allowance": 0.05, "max_ratio": 1.03, "runs": 4, "checkpoints": 16}
    settings = WatchSettings.from_plan(None, fit=fit, loss_name="loss", params=N, final_tokens=D)
    assert fit_facts(fit)["cooldown_allowance"] == settings.cooldown_allowance == 0.05
    m = Monitor(settings)
    assert "behind_forecast" in [a.kind for a in m.update(stable)] and m.status().projection.allowance == 0.05
    del fit.provenance_["cooldown"]
    m = Monitor(WatchSettings.from_plan(None, fit=fit, loss_name="loss", params=N, final_tokens=D))
    assert "behind_forecast" not in [a.kind for a in m.update(stable)]
    assert m.status().projection.allowance == COOLDOWN_ALLOWANCE


def test_settings_are_checked_and_filled_from_a_plan():
    from scalelab.errors import InputError
    from scalelab.planning import get_accelerator, make_plan

    with pytest.raises(InputError, match=r"--throughput-drop 2: give a value in \[0.001, 0.99\]"):
        WatchSettings(throughput_drop=2)
    with pytest.raises(InputError, match=r"comparing with a forecast needs the run's size"):
        from tests.conftest import synthetic_runs
        from scalelab.fitting import Fit

        warnings.simplefilter("ignore")
        WatchSettings(fit=Fit(num_bootstrap=0, calibrate=False).fit(synthetic_runs("chinchilla")))
    plan = make_plan(get_accelerator("h100"), params=4e8, tokens=1e10, num_gpus=8)
    s = WatchSettings.from_plan(plan, final_tokens=2e10)  # what is given wins over the plan
    assert (s.params, s.final_tokens, s.num_gpus) == (4e8, 2e10, 8) and s.planned_tokens_per_s == plan.tokens_per_s
    assert s.budget_usd == plan.run.cost_usd and s.loss_name is None


def test_a_ladder_fit_says_what_it_forecasts(tmp_path):
    """A fit saved with its metric and target (ladder fit --out) fills the run's size and
    the metric to watch; what is given, and a plan, win over it."""
    from scalelab.fitting import Fit
    from scalelab.io import load_fit, save_fit
    from scalelab.planning import get_accelerator, make_plan
    from tests.conftest import synthetic_runs

    warnings.simplefilter("ignore")
    fit = Fit(num_bootstrap=0, calibrate=False).fit(synthetic_runs("chinchilla"))
    fit.provenance_.update(metric="val_bpb", target={"params": 1e9, "tokens": 2e10})
    save_fit(fit, tmp_path / "fit.json")
    fit = load_fit(tmp_path / "fit.json")
    s = WatchSettings.from_plan(None, fit=fit)
    assert (s.forecast_metric, s.loss_name, s.params, s.final_tokens) == ("val_bpb", None, 1e9, 2e10)
    assert WatchSettings.from_plan(None, fit=fit, loss_name="loss", params=2e9).loss_name == "loss"
    plan = make_plan(get_accelerator("h100"), params=4e8, tokens=1e10, num_gpus=8)
    assert WatchSettings.from_plan(plan, fit=fit).params == 4e8
    # the detectors watch the per-step training loss; the forecast is judged on val_bpb,
    # logged at evaluations only (NaN between: not logged)
    n = 400
    t = np.linspace(2e9, 1e10, n)
    evals = np.arange(n) % 40 == 39
    log = pd.DataFrame({"step": np.arange(n), "tokens": t, "loss": 3.0 + 0.01 * np.sin(np.arange(n)),
                        "val_bpb": np.where(evals, fit.law_.predict(params=1e9, tokens=t), np.nan)})
    log.loc[300, "loss"] = np.inf  # a non-finite training loss between two evaluations
    m = Monitor(s)
    m.update(log)
    st = m.status()
    assert m.settings.loss_name == "loss" and st.points == n and len(m.f_values) == evals.sum()
    assert st.forecast_metric == "val_bpb" and st.forecast_value == pytest.approx(log["val_bpb"].dropna().iloc[-1])
    assert not st.projection.behind and [a.step for a in st.alerts if a.kind == "nonfinite"] == [300]
    # asked to watch val_bpb itself: one series, as before
    alone = Monitor(WatchSettings.from_plan(None, fit=fit, loss_name="val_bpb"))
    alone.update(log)
    assert alone.settings.forecast_metric is None and alone.status().points == evals.sum()
    assert alone.status().loss == pytest.approx(log["val_bpb"].dropna().iloc[-1])
    # the first rows, before the first evaluation, have no val_bpb: the loss is watched, and
    # the forecast compared from the first evaluation on, as a live watch reads them
    live = Monitor(s)
    live.update(log.iloc[:30].drop(columns="val_bpb"))
    assert live.settings.loss_name == "loss" and live.status().forecast_value is None and live.status().projection is None
    live.update(log.iloc[30:])
    assert live.status().forecast_value == st.forecast_value and live.status().projection.forecast == st.projection.forecast
    # a restart from step 200: the abandoned stretch's evaluations (239, 279, ...) go with it
    again = log.iloc[200:260].copy()
    again["val_bpb"] = np.where(again["step"] == 259, 9.0, np.nan)
    live.update(again)
    assert live.f_steps[-2:] == [199, 259] and live.status().forecast_value == 9.0


def test_the_loss_is_found_by_its_usual_names():
    m = Monitor(WatchSettings())
    m.update(frame(30).rename(columns={"loss": "train/loss"}))
    assert m.settings.loss_name == "train/loss" and len(m.loss) == 30


def test_each_run_of_a_store_finds_its_own_loss(tmp_path, monkeypatch):
    """An MLflow store with two runs logging the loss under different names: both watched."""
    import mlflow

    from scalelab.watch.session import watch_once

    monkeypatch.chdir(tmp_path)
    mlflow.set_tracking_uri(f"sqlite:///{tmp_path / 'mlflow.db'}")
    for name, metric in (("a", "loss"), ("b", "train_loss")):
        with mlflow.start_run(run_name=name):
            for s in range(1, 60):
                mlflow.log_metric(metric, 2 + 40 * (s * 1e6) ** -0.15, step=s)
    outcomes = watch_once(str(tmp_path / "mlflow.db"), WatchSettings())
    assert sorted((o.monitor.name, o.monitor.settings.loss_name, len(o.monitor.loss)) for o in outcomes) == [
        ("a", "loss", 59), ("b", "train_loss", 59)]


def test_a_finished_run_is_judged_by_its_last_loss():
    """Trained to its planned tokens, a run's final loss is measured, not projected: a
    cooldown's last drop (which the law-shaped projection of the latest half smooths away)
    counts, and a run that ends below the interval is said to be ahead of its forecast."""
    from scalelab.fitting import Fit
    from tests.conftest import synthetic_runs

    warnings.simplefilter("ignore")
    fit = Fit(num_bootstrap=30).fit(synthetic_runs("chinchilla"))
    N, D = 1e9, 2e10
    t = np.linspace(2e9, D, 60)
    loss = fit.law_.predict(params=N, tokens=t) * np.where(t > 0.9 * D, 0.9, 1.0)  # a cooldown's drop at the end
    m = Monitor(WatchSettings(loss_name="loss", params=N, final_tokens=D, fit=fit))
    m.update(pd.DataFrame({"step": np.arange(60), "tokens": t, "loss": loss, "wall_time": np.nan}))
    p = m.status().projection
    assert p.finished and p.projected_final == loss[-1]
    assert p.ahead and not p.behind and p.standing() == "AHEAD (below the 95% interval), finished"
    early = Monitor(WatchSettings(loss_name="loss", params=N, final_tokens=D, fit=fit))
    early.update(pd.DataFrame({"step": np.arange(30), "tokens": t[:30], "loss": loss[:30], "wall_time": np.nan}))
    q = early.status().projection
    assert not q.finished and q.standing() == f"on track (inside the 95% interval) at {100 * t[29] / D:.0f}% of training"


def test_a_projection_from_a_few_noisy_evaluations_is_not_a_verdict():
    """Six evaluations scattered by a few percent project the end loosely: the projection's
    own 95% interval (least squares, Student's t) must clear the forecast's before the run is
    called AHEAD or BEHIND. On a WSD target at 60% of training (six evaluations), the
    projection 1.856 +- 0.16 was called AHEAD of an interval from 1.87; its final was 1.900."""
    from scalelab.fitting.forecast import Forecast, Interval
    from scalelab.watch.forecast import compare

    t = np.linspace(1e9, 6e9, 6)
    law = 1.8 + 30 * t ** -0.2
    forecast = Forecast(loss=2.0, intervals=(Interval(0.95, 1.9, 2.1),), tokens_exponent=0.2)
    exact = compare(forecast, 1e10, t, law)
    assert exact.projected_spread == pytest.approx(0, abs=1e-9)
    noisy = compare(forecast, 1e10, t, law * (1 + np.array([0.0, 0.03, -0.03, 0.03, -0.03, -0.04])))
    truth = 1.8 + 30 * 1e10 ** -0.2
    assert noisy.projected_spread > 0.02 and abs(noisy.projected_final - truth) < noisy.projected_spread
    low = Forecast(loss=2.3, intervals=(Interval(0.95, noisy.projected_final + 0.01, 2.5),), tokens_exponent=0.2)
    judged = compare(low, 1e10, t, law * (1 + np.array([0.0, 0.03, -0.03, 0.03, -0.03, -0.04])))
    assert judged.projected_final < judged.band.lo and not judged.ahead  # below, but not by more than it knows
    assert compare(low, 1e10, t, law * 0.8).ahead  # a clean curve far below is


def test_a_projection_off_by_the_bits_to_nats_factor_asks_about_units():
    """1/ln 2 = 1.443 above (or ln 2 below) the forecast is a log and a fit in different units
    far more often than a run 44% behind: the verdict stands, and the likely cause is asked."""
    import math

    from scalelab.fitting.forecast import Forecast, Interval
    from scalelab.watch.forecast import Projection

    f = Forecast(loss=3.5, intervals=(Interval(0.95, 3.4, 3.6),))
    bits = Projection(tokens_now=1e9, projected_final=3.5 / math.log(2), forecast=f, level=0.95, fraction_done=1.0)
    assert bits.behind and "is the log in bits and the fit in nats?" in bits.standing()
    nats = Projection(tokens_now=1e9, projected_final=3.5 * math.log(2), forecast=f, level=0.95, fraction_done=1.0)
    assert nats.ahead and "is the log in nats and the fit in bits?" in nats.standing()
    late = Projection(tokens_now=1e9, projected_final=3.5 * 1.2, forecast=f, level=0.95, fraction_done=1.0)
    assert late.behind and "bits" not in late.standing()  # a run 20% behind is just behind
