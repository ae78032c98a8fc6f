import numpy as np
import pytest
from scipy.optimize import check_grad

from scalelab.fitting.objective import Problem, huber
from scalelab.fitting.params import ParamMap
from scalelab.fitting.search import grid_starts
from scalelab.fitting.solver import refine
from scalelab.laws import ChinchillaLaw
from tests.conftest import TRUE, synthetic_runs


@pytest.fixture(scope="module")
def problem():
    df = synthetic_runs("chinchilla", noise=0.01)
    pm = ParamMap.build(ChinchillaLaw)
    return Problem(pm, {"params": df.params.values, "tokens": df.tokens.values}, df.loss.values, 1e-3)


def test_huber_is_quadratic_then_linear():
    r = np.array([-0.5, -1e-3, 0.0, 5e-4, 2.0])
    expected = [1e-3 * (0.5 - 5e-4), 0.5e-6, 0.0, 0.5 * 2.5e-7, 1e-3 * (2.0 - 5e-4)]
    np.testing.assert_allclose(huber(r, 1e-3), expected)


def test_gradient_matches_finite_differences(problem):
    x = problem.pmap.free_from_named(TRUE["chinchilla"].params()) + np.array([0.01, 0.1, -0.1, 0.01, -0.01])

    def f(v):
        return problem.evaluate(v[None])[0][0]

    def g(v):
        return problem.gradient(v[None])[1][0]

    # forward differences: error ~ step x curvature, so compare relative to the gradient's size
    assert check_grad(f, g, x, epsilon=1e-7) < 1e-4 * np.linalg.norm(g(x))


def test_objective_is_the_huber_sum_of_log_residuals(problem):
    law = TRUE["chinchilla"]
    x = problem.pmap.free_from_named(law.params())
    obj, r, _ = problem.evaluate(x[None])
    direct = np.log(law.predict(params=np.exp(problem.log_inputs[0]), tokens=np.exp(problem.log_inputs[1]))) - problem.log_loss
    np.testing.assert_allclose(r[0], direct, atol=1e-12)
    assert obj[0] == pytest.approx(huber(direct, 1e-3).sum())


def test_grid_finds_a_start_near_the_truth(problem):
    starts, scores = grid_starts(problem)
    assert np.all(np.diff(scores[np.isfinite(scores)]) >= 0) or len(scores) == 1
    named = problem.pmap.named(starts[0])
    assert named["alpha"] == pytest.approx(0.35, abs=0.05)
    assert named["beta"] == pytest.approx(0.37, abs=0.05)


def test_refine_decreases_and_converges(problem):
    starts, _ = grid_starts(problem)
    before = problem.evaluate(starts)[0]
    res = refine(problem, starts)
    assert np.all(res.fun <= before)
    assert res.converged.all()


def test_weights_equal_to_duplicated_rows(problem):
    """A bootstrap weight of 2 is the same problem as the row appearing twice."""
    starts, _ = grid_starts(problem, num_starts=1)
    w = np.ones((1, problem.n))
    w[0, :10] = 2.0
    a = refine(problem, starts, w)
    idx = np.r_[np.arange(problem.n), np.arange(10)]
    dup = Problem(problem.pmap, {"params": np.exp(problem.log_inputs[0][idx]), "tokens": np.exp(problem.log_inputs[1][idx])},
                  np.exp(problem.log_loss[idx]), problem.delta)
    b = refine(dup, starts)
    assert a.fun[0] == pytest.approx(b.fun[0], rel=1e-8)
    np.testing.assert_allclose(a.x, b.x, rtol=1e-4, atol=1e-6)
