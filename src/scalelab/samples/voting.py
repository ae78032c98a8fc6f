"""Majority voting and best-of-k selection over k of a problem's n samples.

* **Majority vote at k**: draw k of the n samples without replacement; the vote is right
  when the most frequent answer among them is unique (a tie is not a majority) and is a
  correct answer (answers compared as text without the white space around them); a sample
  with no answer (None, NaN, blank) abstains. Estimated by Monte Carlo (``draws`` subsets per problem and k), exact at
  k = 1 (pass@1) and k = n; its plateau is the vote over all n samples.
* **Best of k** with a verifier score: the sample of highest score among k is kept; exact by
  order statistics: the sample with j samples scored below it is the best of a random
  k-subset with probability C(j, k-1) / C(n, k) (ties in score are broken at random). A
  sample without a score (NaN: the verifier gave none) ranks below every scored one, so it
  is kept only where none of the k was scored.
"""

from __future__ import annotations

import numpy as np
from scipy.special import gammaln

from scalelab.errors import InputError


def missing_answer(a) -> bool:
    """Whether a sample's answer is missing: None, NaN, or a blank string."""
    return a is None or (isinstance(a, float) and a != a) or (isinstance(a, str) and not a.strip())


def majority_at_k(answers: list[np.ndarray], correct: list[np.ndarray], k, *, draws: int = 2000,
                  seed: int = 0) -> np.ndarray:
    """Majority-vote accuracy per problem (rows) at each k (columns). A sample without an
    answer (None, NaN or blank: nothing could be parsed from it) abstains: it is a wrong
    sample, never a vote, so k samples of which most gave nothing are decided by the rest
    (and by none, wrongly, when none answered)."""
    k = np.atleast_1d(np.asarray(k, dtype=np.int64))
    rng = np.random.default_rng(seed)
    out = np.zeros((len(answers), k.size))
    for i, (ans, ok) in enumerate(zip(answers, correct)):
        ans = np.asarray(ans, dtype=object)
        given = ~np.array([missing_answer(a) for a in ans], bool)
        # the same answer with other white space around it is the same vote ("42" and " 42\n")
        codes, inv = np.unique(np.array([str(a).strip() for a in ans[given]], dtype=str), return_inverse=True)
        inverse = np.full(ans.size, codes.size)  # the abstentions' code: one past the answers'
        inverse[given] = inv
        right = np.zeros(codes.size + 1, bool)
        right[inverse[np.asarray(ok, bool) & given]] = True
        n = inverse.size
        if k.max() > n:
            raise InputError(f"majority@{k.max()} needs {k.max()} samples; problem {i + 1} has {n}")
        for j, kk in enumerate(k):
            if kk == 1:  # one sample is always a unique majority: exact, pass@1
                out[i, j] = np.mean(right[inverse])
                continue
            if kk == n:
                picks = inverse[None, :]
            else:
                picks = np.argsort(rng.random((draws, n)), axis=1)[:, :kk]
                picks = inverse[picks]
            counts = np.zeros((picks.shape[0], codes.size + 1), np.int64)
            np.add.at(counts, (np.repeat(np.arange(picks.shape[0]), picks.shape[1]), picks.ravel()), 1)
            counts[:, -1] = 0  # abstentions are no votes
            top = counts.max(1)
            unique_top = ((counts == top[:, None]).sum(1) == 1) & (top > 0)
            winner = counts.argmax(1)
            out[i, j] = np.mean(unique_top & right[winner])
    return out


def best_at_k(scores: list[np.ndarray], correct: list[np.ndarray], k) -> np.ndarray:
    """Best-of-k accuracy per problem (rows) at each k (columns), exactly."""
    k = np.atleast_1d(np.asarray(k, dtype=np.int64))
    out = np.zeros((len(scores), k.size))
    rng = np.random.default_rng(0)
    for i, (sc, ok) in enumerate(zip(scores, correct)):
        sc = np.asarray(sc, float)
        if np.isinf(sc).any():
            raise InputError(f"problem {i + 1} has an infinite verifier score")
        sc = np.where(np.isnan(sc), -np.inf, sc)  # a sample the verifier did not score ranks below every scored one
        n = sc.size
        if k.max() > n:
            raise InputError(f"best-of-{k.max()} needs {k.max()} samples; problem {i + 1} has {n}")
        order = np.lexsort((rng.random(n), sc))  # ascending score, ties at random
        good = np.asarray(ok, bool)[order]
        j = np.arange(n)[:, None]  # samples below
        with np.errstate(invalid="ignore"):
            logp = gammaln(j + 1) - gammaln(k[None, :]) - gammaln(j - k[None, :] + 2) - (
                gammaln(n + 1) - gammaln(k[None, :] + 1) - gammaln(n - k[None, :] + 1))
        p = np.where(j >= k[None, :] - 1, np.exp(logp), 0.0)
        out[i] = (p * good[:, None]).sum(0)
    return out
