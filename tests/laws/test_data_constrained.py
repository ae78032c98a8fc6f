import numpy as np
import pytest

from scalelab.laws import ChinchillaLaw, DataConstrainedLaw, get_law
from scalelab.laws.data_constrained import optimal_params_for_tokens

# Muennighoff et al. 2023's constants (datablations README; a, b, e are natural logs)
AUTHORS = dict(E=np.exp(0.6254804), A=np.exp(6.255414), B=np.exp(7.3049974), alpha=0.3526596, beta=0.3526596,
               R_D=15.387756, R_N=5.309743)


@pytest.mark.parametrize("n, d, u, want", [(6.34e9, 242e9, 25e9, 2.2256440889984477),
                                           (8.67e9, 178e9, 25e9, 2.2269634075087867)])
def test_reproduces_the_authors_test_vectors(n, d, u, want):
    assert float(DataConstrainedLaw(**AUTHORS).predict(params=n, tokens=d, unique_tokens=u)) == pytest.approx(want, abs=1e-9)


def test_without_repetition_and_at_the_optimal_size_it_is_chinchilla():
    law = DataConstrainedLaw(**AUTHORS)
    chin = ChinchillaLaw(**{k: AUTHORS[k] for k in ("E", "A", "B", "alpha", "beta")})
    D = 1e11
    N = 0.5 * optimal_params_for_tokens(D, law.A, law.B, law.alpha, law.beta)  # below N_opt: no excess
    # one epoch (U = D), and a corpus larger than the run (the run sees D unique tokens)
    for U in (D, 10 * D):
        assert law.predict(params=N, tokens=D, unique_tokens=U) == pytest.approx(chin.predict(params=N, tokens=D), rel=1e-12)


def test_repeated_tokens_are_worth_less_and_saturate():
    law = DataConstrainedLaw(**AUTHORS)
    U = 1e10
    eff = law.effective(params=1e9, tokens=np.array([1, 4, 16, 1000]) * U, unique_tokens=U)["tokens"]
    assert eff[0] == pytest.approx(U)
    assert eff[1] / (4 * U) > 0.9  # up to ~4 epochs nearly as good as fresh data
    assert np.all(np.diff(eff) > 0)
    assert eff[-1] < U * (1 + law.R_D) * 1.0001  # the ceiling U (1 + R_D*)
    # the R-th repetition is worth exp(-R/R_D*) of a fresh token
    d_eff = law.effective(params=1e9, tokens=np.array([10, 10.001]) * U, unique_tokens=U)["tokens"]
    assert (d_eff[1] - d_eff[0]) / (0.001 * U) == pytest.approx(np.exp(-9 / law.R_D), rel=1e-3)


def test_optimal_params_for_tokens_inverts_the_chinchilla_allocation():
    chin = ChinchillaLaw(E=1.8, A=480.0, B=2100.0, alpha=0.35, beta=0.37)
    a = chin.optimal_allocation(1e22)
    assert optimal_params_for_tokens(a.tokens, chin.A, chin.B, chin.alpha, chin.beta) == pytest.approx(a.params, rel=1e-10)


def test_allocation_with_finite_data_matches_the_authors_example_and_beats_neighbours():
    law = DataConstrainedLaw(**AUTHORS)
    C = 6 * 8.67e9 * 178e9
    a = law.optimal_allocation(C, unique_tokens=25e9)
    assert float(a.params) == pytest.approx(6.8e9, rel=0.02)
    assert float(a.tokens) == pytest.approx(227e9, rel=0.02)
    assert float(a.tokens) / 25e9 == pytest.approx(9.1, abs=0.05)
    for scale in (0.8, 1.25):
        N = float(a.params) * scale
        assert law.predict(params=N, tokens=C / (6 * N), unique_tokens=25e9) > a.loss
    # with plenty of data the optimum is Chinchilla's
    chin = ChinchillaLaw(**{k: AUTHORS[k] for k in ("E", "A", "B", "alpha", "beta")}).optimal_allocation(C)
    free = law.optimal_allocation(C, unique_tokens=1e15)
    assert float(free.params) == pytest.approx(float(chin.params), rel=1e-3)


def test_registered_by_name():
    assert get_law("data-constrained") is DataConstrainedLaw
    assert DataConstrainedLaw.inputs == ("params", "tokens", "unique_tokens")
