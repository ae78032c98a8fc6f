import numpy as np
import pytest

from scalelab.errors import FitError
from scalelab.fitting.params import ParamMap, parse_assignments
from scalelab.laws import ChinchillaLaw, ComputeLaw


def test_no_fixes_is_identity():
    pm = ParamMap.build(ChinchillaLaw)
    assert pm.free == ("E", "A", "B", "alpha", "beta")
    x = np.array([0.5, 6.0, 7.0, 0.3, 0.4])
    np.testing.assert_array_equal(pm.to_canonical(x), x)


def test_fix_and_tie_map_to_named_values():
    pm = ParamMap.build(ChinchillaLaw, fix={"E": 1.69}, tie=["alpha=beta"])
    assert pm.free == ("A", "B", "alpha")
    named = pm.named(np.array([np.log(400.0), np.log(2000.0), 0.3]))
    assert named == pytest.approx({"E": 1.69, "A": 400.0, "B": 2000.0, "alpha": 0.3, "beta": 0.3})


def test_free_from_named_inverts_named():
    pm = ParamMap.build(ChinchillaLaw, tie=["alpha=beta"])
    values = {"E": 1.8, "A": 480.0, "B": 2100.0, "alpha": 0.33, "beta": 0.33}
    assert pm.named(pm.free_from_named(values)) == pytest.approx(values)


def test_fix_E_at_zero_drops_the_constant():
    pm = ParamMap.build(ChinchillaLaw, fix={"E": 0})
    assert pm.named(np.array([np.log(400.0), np.log(2000.0), 0.3, 0.3]))["E"] == 0.0


def test_compute_law_fix_c0_needs_gamma():
    with pytest.raises(FitError, match=r"--fix C0 alone cannot be fitted in the compute law .* also fix gamma"):
        ParamMap.build(ComputeLaw, fix={"C0": 1e10})
    pm = ParamMap.build(ComputeLaw, fix={"C0": 1e10, "gamma": 0.2})
    assert pm.free == ("E",)
    assert pm.named(np.array([np.log(1.7)])) == pytest.approx({"E": 1.7, "C0": 1e10, "gamma": 0.2})


def test_unknown_parameter_is_named_with_a_suggestion():
    with pytest.raises(FitError, match=r"--fix alpah: chinchilla law has no parameter 'alpah' \(did you mean 'alpha'\?\)"):
        ParamMap.build(ChinchillaLaw, fix={"alpah": 0.3})


def test_fix_value_must_be_a_number():
    with pytest.raises(FitError, match=r"--fix E=abc: the value must be a number"):
        ParamMap.build(ChinchillaLaw, fix={"E": "abc"})


def test_fix_value_must_be_positive():
    with pytest.raises(FitError, match=r"--fix A=-3: the value must be finite and positive \(only E may be 0\)"):
        ParamMap.build(ChinchillaLaw, fix={"A": "-3"})


def test_tie_exponent_to_coefficient_is_refused():
    with pytest.raises(FitError, match=r"--tie alpha=A: tie two exponents or two coefficients, not one of each"):
        ParamMap.build(ChinchillaLaw, tie=["alpha=A"])


def test_tie_unknown_name():
    with pytest.raises(FitError, match=r"--tie alpha=gama: 'gama' cannot be tied in the chinchilla law"):
        ParamMap.build(ChinchillaLaw, tie=["alpha=gama"])


def test_tie_with_a_fixed_side_is_refused():
    with pytest.raises(FitError, match=r"--tie alpha=beta: one side is also fixed"):
        ParamMap.build(ChinchillaLaw, fix={"beta": 0.3}, tie=["alpha=beta"])


def test_assignment_syntax():
    assert parse_assignments(["E=1.69", " alpha = beta "], "--fix") == {"E": "1.69", "alpha": "beta"}
    with pytest.raises(FitError, match=r"--fix 'E' is not NAME=VALUE; write e.g. --fix E=1.69"):
        parse_assignments(["E"], "--fix")
