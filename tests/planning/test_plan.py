"""The whole plan: typed, and the same after a trip through JSON."""

import json
import warnings

import pytest

from scalelab.data import default_fit_path
from scalelab.errors import InputError, PlanWarning
from scalelab.io import load_fit
from scalelab.planning import Parallelism, Plan, get_accelerator, make_plan, resolve_model

H100 = get_accelerator("h100")


def _round_trip(plan: Plan) -> Plan:
    return Plan.from_dict(json.loads(json.dumps(plan.to_dict())))


@pytest.mark.parametrize("kwargs", [
    dict(model=resolve_model(preset="llama3-70b"), tokens=2e12, num_gpus=1024),
    dict(params=7e10, tokens=2e12, num_gpus=2048, seq_len=4096),
    dict(model=resolve_model(preset="mixtral-8x7b"), tokens=1e12, num_gpus=256,
         parallel=Parallelism.from_degrees(tp=4, ep=8, num_devices=256)),
    dict(budget_usd=1e7, num_gpus=1024),
])
def test_json_round_trip(kwargs):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        plan = make_plan(H100, fit=load_fit(default_fit_path()), **kwargs)
    back = _round_trip(plan)
    assert back == plan and back.warnings == plan.warnings
    assert back.to_dict() == plan.to_dict()
    assert back.forecast.loss in back.forecast.interval(0.95)


def test_planned_throughput_is_gpus_times_peak_times_mfu_over_flops_per_token():
    plan = make_plan(H100, params=4e8, tokens=1e10, num_gpus=8, mfu=0.5)
    assert plan.tokens_per_s == pytest.approx(8 * 989.4e12 * 0.5 / (6 * 4e8))


def test_a_budget_without_a_fit_uses_the_bundled_law():
    plan = make_plan(H100, budget_gpu_hours=1e5, num_gpus=64)
    assert plan.mode == "budget" and plan.forecast.law.startswith("Chinchilla's law refit")
    assert plan.flops.model == pytest.approx(6 * plan.budget.params * plan.budget.tokens, rel=1e-9)


def test_warnings_are_raised_and_kept():
    with pytest.warns(PlanWarning, match=r"no layout up to tp=8 fits"):
        plan = make_plan(H100, model=resolve_model(preset="llama3-405b"), tokens=1e12, num_gpus=8)
    assert plan.layout.parallel is None and any("no layout" in w for w in plan.warnings)


def test_resolve_model():
    assert resolve_model() is None and resolve_model(params=7e9) is None
    assert resolve_model(preset="gpt2-small", shape={"d_model": 1024, "n_heads": 16}).d_ff == 4096  # derived again
    m = resolve_model(shape={"d_model": 512, "n_layers": 8, "n_heads": 8, "vocab_size": 32000, "d_ff": 1500})
    assert m.d_ff == 1500 and m.n_kv_heads == 8
    with pytest.raises(InputError, match=r"a model shape needs --layers, --vocab too"):
        resolve_model(shape={"d_model": 512, "n_heads": 8})
    with pytest.raises(InputError, match=r"give --preset or --params, not both"):
        resolve_model(preset="llama3-8b", params=8e9)


def test_plan_files_from_elsewhere_are_refused():
    with pytest.raises(InputError, match=r"plan.json is not the JSON of `scalelab plan --json`"):
        Plan.from_dict({"mode": "forward"}, source="plan.json")
    d = make_plan(H100, params=4e8, tokens=1e10, num_gpus=8).to_dict()
    del d["run"]
    with pytest.raises(InputError, match=r"missing or has a bad field \('run'\)"):
        Plan.from_dict(d)
