import numpy as np
import pytest

from scalelab.errors import FitError
from scalelab.laws import LAWS, ChinchillaLaw, ComputeLaw, get_law


def test_chinchilla_predict_matches_formula():
    law = ChinchillaLaw(E=1.69, A=406.4, B=410.7, alpha=0.34, beta=0.28)
    N, D = 7e10, 1.4e12
    assert law.predict(params=N, tokens=D) == pytest.approx(1.69 + 406.4 / N**0.34 + 410.7 / D**0.28, rel=1e-12)


def test_compute_law_predict_matches_formula():
    law = ComputeLaw(E=1.7, C0=2e10, gamma=0.16)
    assert law.predict(flops=1e22) == pytest.approx(1.7 + (2e10 / 1e22) ** 0.16, rel=1e-12)


@pytest.mark.parametrize("k", [6.0, 8.0])
def test_allocation_spends_the_budget_and_minimises_loss(k):
    law = ChinchillaLaw(E=1.8172, A=477.8, B=2143.4, alpha=0.3473, beta=0.3672)
    C = np.array([1e21, 1e24])
    a = law.optimal_allocation(C, flops_per_token=k)
    np.testing.assert_allclose(k * a.params * a.tokens, C, rtol=1e-12)
    for scale in (0.9, 1.1):  # any other split of the same budget is worse
        N = a.params * scale
        worse = law.predict(params=N, tokens=C / (k * N))
        assert np.all(worse > a.loss)


def test_allocation_exponents_are_beta_and_alpha_over_sum():
    law = ChinchillaLaw(E=1.8, A=480.0, B=2100.0, alpha=0.35, beta=0.37)
    a = law.optimal_allocation(np.array([1e20, 1e22]))
    slope_n = np.log(a.params[1] / a.params[0]) / np.log(100)
    slope_d = np.log(a.tokens[1] / a.tokens[0]) / np.log(100)
    assert slope_n == pytest.approx(0.37 / 0.72, rel=1e-10)
    assert slope_d == pytest.approx(0.35 / 0.72, rel=1e-10)


def test_numeric_allocation_agrees_with_closed_form():
    law = ChinchillaLaw(E=1.8172, A=477.8, B=2143.4, alpha=0.3473, beta=0.3672)
    closed = law.optimal_allocation(1e23, flops_per_token=6.0)
    numeric = law.optimal_allocation(1e23, flops_per_token=lambda n: 6.0 * n)
    assert float(numeric.params) == pytest.approx(float(closed.params), rel=1e-5)
    assert float(numeric.loss) == pytest.approx(float(closed.loss), rel=1e-9)


def test_custom_flops_per_token_spends_the_budget_at_the_optimum():
    law = ChinchillaLaw(E=1.8172, A=477.8, B=2143.4, alpha=0.3473, beta=0.3672)

    def fpt(n):  # 6N plus a fixed per-token cost (e.g. attention at a fixed context and shape)
        return 6.0 * n + 2e9

    C = 1e22
    a = law.optimal_allocation(C, flops_per_token=fpt)
    assert float(fpt(a.params) * a.tokens) == pytest.approx(C, rel=1e-12)
    for scale in (0.95, 1.05):
        N = float(a.params) * scale
        assert float(law.predict(params=N, tokens=C / fpt(N))) > float(a.loss)
    # tokens cost more than under 6ND, so fewer of them are optimal
    assert float(a.tokens) < float(law.optimal_allocation(C).tokens)


@pytest.mark.parametrize("name", sorted(LAWS))
def test_canonical_round_trip(name):
    law = get_law(name)
    values = {"chinchilla": dict(E=1.8, A=480.0, B=2100.0, alpha=0.35, beta=0.37),
              "compute": dict(E=1.7, C0=2e10, gamma=0.16),
              "data-constrained": dict(E=1.8, A=480.0, B=2100.0, alpha=0.35, beta=0.37, R_D=15.0, R_N=5.0)}[name]
    back = law.from_canonical(law.to_canonical(values))
    assert back == pytest.approx(values, rel=1e-12)


def test_unknown_law_suggests_the_closest():
    with pytest.raises(FitError, match=r"unknown law 'chinchila' \(did you mean 'chinchilla'\?\)"):
        get_law("chinchila")


def test_laws_are_immutable():
    law = ChinchillaLaw(E=1.8, A=480.0, B=2100.0, alpha=0.35, beta=0.37)
    with pytest.raises(AttributeError):
        law.E = 2.0
