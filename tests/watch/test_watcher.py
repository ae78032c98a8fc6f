"""Watcher.observe: the watch called from a training loop, step by step."""

import json
import math

import numpy as np
import pytest

from scalelab.watch import Watcher, WatchSettings
from scalelab.watch.alerts import AlertSinks


def curve(n: int, noise: float = 0.005, seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    step = np.arange(1, n + 1)
    return (2.1 + 9 * (step + 50.0) ** -0.35) * (1 + noise * rng.standard_normal(n))


def at(i: int) -> float:
    """The wall time of step i in a loop of 0.5-second steps (a test loop takes microseconds,
    which would make the throughput derived from wall time meaningless)."""
    return 1.7e9 + 0.5 * i


def test_a_healthy_stream_raises_nothing_and_is_all_recorded():
    w = Watcher(every=64)
    loss = curve(3000)
    raised = [a for i, x in enumerate(loss, 1) for a in w.observe(i, loss=x, tokens=i * 4096, grad_norm=0.3, wall_time=at(i))]
    assert raised == [] and w.alerts == []
    status = w.status()
    assert status.points == 3000 and status.step == 3000 and status.loss == pytest.approx(loss[-1])


def test_nan_is_reported_on_the_step_it_happens_not_raised():
    w = Watcher(every=100)
    for i, x in enumerate(curve(500), 1):
        assert w.observe(i, loss=x, tokens=i * 4096, wall_time=at(i)) == []
    (a,) = w.observe(501, loss=np.float32("nan"), tokens=501 * 4096, wall_time=at(501))  # numpy scalars are fine
    assert a.kind == "nonfinite" and a.step == 501 and a.delay == 0 and "not finite" in a.message
    for i in range(502, 510):
        w.observe(i, loss=2.3, tokens=i * 4096, wall_time=at(i))
    (b,) = w.observe(510, loss=2.3, grad_norm=float("inf"), tokens=510 * 4096, wall_time=at(510))
    assert b.kind == "nonfinite" and b.step == 510 and "grad norm" in b.message


def test_a_value_that_is_not_one_number_is_the_callers_mistake_not_a_nan():
    """A batch's losses, a string: said at once, naming the value, never recorded as the run's
    NaN (which would raise a false 'not finite' alert); a one-element array is one number."""
    from scalelab.errors import InputError

    w = Watcher(every=10)
    w.observe(1, loss=np.array([2.5]), tokens=np.int64(4096), grad_norm=np.float32(0.3), wall_time=at(1))
    for bad, said in ((np.array([2.0, 2.1]), "loss has 2 values; give one number"), ("2.3x", "loss='2.3x' is not a number"),
                      ([1.0, 2.0, 3.0], "loss has 3 values")):
        with pytest.raises(InputError, match=said):
            w.observe(2, loss=bad, wall_time=at(2))
    with pytest.raises(InputError, match="grad_norm has 4 values"):
        w.observe(2, loss=2.4, grad_norm=np.ones(4), wall_time=at(2))
    assert w.status().points == 1 and w.alerts == []


def test_a_slow_divergence_is_seen_from_the_loop():
    w = Watcher(every=50)
    loss = curve(4000, noise=0.01, seed=2)
    loss[2500:] *= np.exp(0.5 * 0.01 * np.arange(1500) / 100)  # +0.5 noise sigmas per 100 steps
    seen = None
    for i, x in enumerate(loss, 1):
        if any(a.kind == "divergence" for a in w.observe(i, loss=x, tokens=i * 4096, wall_time=at(i))) and seen is None:
            seen = i
    assert seen is not None and 2500 < seen <= 2500 + 400


def test_the_learning_rate_given_to_observe_keeps_a_wsd_run_from_being_called_behind():
    """A loop that passes its learning rate: at its peak, 15% above the forecast's curve is a
    stable phase with its cooldown still to come, not a run behind its forecast."""
    import warnings

    from scalelab.fitting import Fit
    from tests.conftest import synthetic_runs

    warnings.simplefilter("ignore")
    fit = Fit(num_bootstrap=30).fit(synthetic_runs("chinchilla"))
    N, D, per_step = 1e9, 2e10, 2e7
    settings = WatchSettings(params=N, final_tokens=D, fit=fit)

    def kinds(with_lr: bool) -> list[str]:
        w, out = Watcher(settings, every=50), []
        for i in range(1, 601):  # to 60% of training
            t = i * per_step
            loss = 1.15 * float(fit.law_.predict(params=N, tokens=t))
            out += [a.kind for a in w.observe(i, loss=loss, tokens=t, wall_time=at(i), lr=3e-4 if with_lr else None)]
        return out

    assert "behind_forecast" in kinds(False) and "behind_forecast" not in kinds(True)


def test_alerts_go_to_the_sinks(tmp_path):
    path = tmp_path / "alerts.jsonl"
    sinks = AlertSinks(jsonl=path)
    w = Watcher(WatchSettings(burn_in_steps=0), name="pilot", every=10, sinks=sinks)
    for i, x in enumerate(curve(50), 1):
        w.observe(i, loss=x)
    w.observe(51, loss=math.inf)
    sinks.close()
    records = [json.loads(line) for line in path.read_text().splitlines()]
    assert [(r["run"], r["kind"], r["step"]) for r in records] == [("pilot", "nonfinite", 51)]


def test_bad_batching_is_refused():
    with pytest.raises(ValueError, match="every=0"):
        Watcher(every=0)


def test_an_evaluation_given_to_observe_is_judged_against_a_ladders_forecast():
    """A ladder's fit forecasts val_bpb: the loop passes its per-step loss, and val_bpb at its
    evaluations; the loss is watched every step, val_bpb is judged against the forecast."""
    import warnings

    from scalelab.fitting import Fit
    from tests.conftest import synthetic_runs

    warnings.simplefilter("ignore")
    fit = Fit(num_bootstrap=30).fit(synthetic_runs("chinchilla"))
    N, D, per_step = 1e9, 2e10, 2e7
    fit.provenance_.update(metric="val_bpb", target={"params": N, "tokens": D})
    w = Watcher(WatchSettings.from_plan(None, fit=fit), every=50)
    kinds = []
    for i in range(1, 801):
        t = i * per_step
        evaluation = {"val_bpb": 1.3 * float(fit.law_.predict(params=N, tokens=t))} if i % 100 == 0 else {}
        kinds += [a.kind for a in w.observe(i, loss=3.0, tokens=t, wall_time=at(i), **evaluation)]
    kinds += [a.kind for a in w.observe(801, loss=float("nan"), tokens=801 * per_step, wall_time=at(801))]
    st = w.status()
    assert st.points == 801 and st.forecast_metric == "val_bpb" and st.forecast_value == pytest.approx(
        1.3 * float(fit.law_.predict(params=N, tokens=800 * per_step)))
    assert "behind_forecast" in kinds and "nonfinite" in kinds  # val_bpb 30% above the law; the loss's NaN at once


def test_a_loop_that_gives_no_tokens_is_told_how_to_be_judged():
    """With a forecast but no tokens, the status says the run is not judged, in the loop's
    terms (observe's tokens) as well as the command line's."""
    import warnings

    from scalelab.fitting import Fit
    from tests.conftest import synthetic_runs

    warnings.simplefilter("ignore")
    fit = Fit(num_bootstrap=0).fit(synthetic_runs("chinchilla"))
    w = Watcher(WatchSettings(params=1e9, final_tokens=2e10, fit=fit), every=50)
    for i in range(1, 101):
        w.observe(i, loss=3.0, wall_time=at(i))
    st = w.status()
    assert st.projection is None and "observe(step, tokens=...)" in st.unjudged
    w.observe(101, loss=3.0, tokens=101 * 2e6, wall_time=at(101))
    assert w.status().unjudged is None


def test_torch_values_as_a_training_loop_has_them():
    torch = pytest.importorskip("torch")
    from scalelab.errors import InputError

    w = Watcher(every=10)
    x = torch.tensor(2.5, requires_grad=True) * 1.0  # a loss still in the graph
    w.observe(1, loss=x, grad_norm=torch.tensor(0.3), wall_time=at(1))
    with pytest.raises(InputError, match="loss has 8 values"):
        w.observe(2, loss=torch.ones(8), wall_time=at(2))
    assert w.status().loss == 2.5
