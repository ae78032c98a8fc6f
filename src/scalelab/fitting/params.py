"""Fixing and tying parameters as an affine map from free to canonical coordinates.

Canonical coordinates of an additive power law are ``(log E, log K_1.., e_1..)`` (see
:mod:`scalelab.laws.base`). Fixing a parameter makes its coordinate a constant; tying two
parameters makes them share one free coordinate (Gadre et al. 2024 tie alpha = beta). Both
are affine, so ``canonical = M @ free + b`` and the Jacobian is a matrix product.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass

import numpy as np

from scalelab.errors import FitError, suggest
from scalelab.laws.base import Law


def parse_assignments(items: Iterable[str] | None, option: str) -> dict[str, str]:
    """Parse ``["E=1.69", "alpha=beta"]`` into ``{"E": "1.69", "alpha": "beta"}``; one item
    may hold several, comma-separated (``"E=1.69,A=406.4"``)."""
    out: dict[str, str] = {}
    for item in (part for given in items or () for part in str(given).split(",")):
        name, sep, value = item.partition("=")
        if not sep or not name.strip() or not value.strip():
            raise FitError(f"{option} {item!r} is not NAME=VALUE; write e.g. {option} E=1.69")
        out[name.strip()] = value.strip()
    return out


def normalise_ties(tie: Iterable[str] | Iterable[tuple[str, str]] | Mapping[str, str] | None) -> list[tuple[str, str]]:
    """Ties as pairs; accepts ``"alpha=beta"`` strings, pairs or a mapping."""
    if tie is None:
        return []
    if isinstance(tie, Mapping):
        return [(str(a), str(b)) for a, b in tie.items()]
    pairs = []
    for t in tie:
        if isinstance(t, str):
            pairs.extend(parse_assignments([t], "--tie").items())
        else:
            a, b = t
            pairs.append((str(a), str(b)))
    return pairs


@dataclass(frozen=True)
class ParamMap:
    """Affine map ``canonical = free @ M.T + b`` for one law and its fixes and ties."""

    law: type[Law]
    canonical: tuple[str, ...]
    free: tuple[str, ...]  # one name per free coordinate (the first of a tied group)
    groups: tuple[tuple[str, ...], ...]  # canonical names sharing each free coordinate
    M: np.ndarray  # (p_canonical, p_free), 0/1
    b: np.ndarray  # (p_canonical,), log values of fixed scales, values of fixed exponents
    fixed: dict[str, float]  # published names -> fixed values, as given
    ties: tuple[tuple[str, str], ...]

    @classmethod
    def build(cls, law: type[Law], fix: Mapping[str, float] | None = None, tie=None) -> ParamMap:
        names = law.param_names()
        canonical = law.canonical_names()
        exponents = {t.exponent for t in law.terms}
        fix = {str(k): v for k, v in (fix or {}).items()}
        ties = normalise_ties(tie)

        for k, v in fix.items():
            if k not in names:
                raise FitError(
                    f"--fix {k}: {law.name} law has no parameter {k!r}{suggest(k, names)}; "
                    f"its parameters are {', '.join(names)}"
                )
            try:
                fix[k] = float(v)
            except (TypeError, ValueError):
                raise FitError(f"--fix {k}={v}: the value must be a number, e.g. --fix {k}=1.69") from None
            if not np.isfinite(fix[k]) or fix[k] < 0 or (fix[k] == 0 and k != law.constant):
                raise FitError(
                    f"--fix {k}={v}: the value must be finite and positive"
                    + (f" (only {law.constant} may be 0)" if k != law.constant else " or 0")
                )
        canon_fixed = _fixed_canonical(law, fix)

        parent = {c: c for c in canonical}

        def root(c: str) -> str:
            while parent[c] != c:
                c = parent[c]
            return c

        for a, b in ties:
            for side in (a, b):
                if side not in canonical:
                    raise FitError(
                        f"--tie {a}={b}: {side!r} cannot be tied in the {law.name} law{suggest(side, canonical)}; "
                        f"tie two exponents or two coefficients among {', '.join(canonical)}"
                    )
            if (a in exponents) != (b in exponents) or law.constant in (a, b):
                raise FitError(f"--tie {a}={b}: tie two exponents or two coefficients, not one of each")
            if a in canon_fixed or b in canon_fixed:
                raise FitError(f"--tie {a}={b}: one side is also fixed; fix both sides instead, or drop the tie")
            parent[root(b)] = root(a)

        free_groups: dict[str, list[str]] = {}
        for c in canonical:
            if c not in canon_fixed:
                free_groups.setdefault(root(c), []).append(c)
        groups = tuple(tuple(g) for g in free_groups.values())
        M = np.zeros((len(canonical), len(groups)))
        b = np.zeros(len(canonical))
        for j, g in enumerate(groups):
            for c in g:
                M[canonical.index(c), j] = 1.0
        for c, v in canon_fixed.items():
            i = canonical.index(c)
            if c in exponents:
                b[i] = v
            else:
                with np.errstate(divide="ignore"):
                    b[i] = np.log(v)
        return cls(law, canonical, tuple(g[0] for g in groups), groups, M, b, fix, tuple(ties))

    @property
    def num_free(self) -> int:
        return len(self.free)

    def is_exponent(self) -> np.ndarray:
        """Boolean mask over free coordinates: True for exponents, False for log-scales."""
        exps = {t.exponent for t in self.law.terms}
        return np.array([g[0] in exps for g in self.groups], bool)

    def to_canonical(self, free: np.ndarray) -> np.ndarray:
        return np.asarray(free) @ self.M.T + self.b

    def to_free(self, canonical: np.ndarray) -> np.ndarray:
        """Least-squares inverse (exact for points that satisfy the ties)."""
        counts = self.M.sum(0)
        return (np.asarray(canonical) @ self.M) / counts

    def canonical_values(self, canonical_vec: np.ndarray) -> dict[str, float]:
        """Canonical coordinate vector -> canonical values (scales exponentiated)."""
        exps = {t.exponent for t in self.law.terms}
        return {c: float(v if c in exps else np.exp(v)) for c, v in zip(self.canonical, canonical_vec)}

    def named(self, free: np.ndarray) -> dict[str, float]:
        """Free vector -> the law's published parameters."""
        return self.law.from_canonical(self.canonical_values(self.to_canonical(free)))

    def free_from_named(self, values: Mapping[str, float]) -> np.ndarray:
        canon = self.law.to_canonical(dict(values))
        exps = {t.exponent for t in self.law.terms}
        with np.errstate(divide="ignore"):
            vec = np.array([canon[c] if c in exps else np.log(canon[c]) for c in self.canonical])
        return self.to_free(np.where(np.isfinite(vec), vec, 0.0))


def _fixed_canonical(law: type[Law], fix: dict[str, float]) -> dict[str, float]:
    """Fixed published parameters -> fixed canonical values (the law refuses what it cannot map)."""
    return law.canonical_fixes(fix) if fix else {}
