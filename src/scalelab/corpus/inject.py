"""Corpora with known duplicates, to measure a deduplication's precision and recall.

:func:`inject_duplicates` appends to a corpus exact copies of some documents, near copies
with a share of their words replaced, and families of documents filled from one template,
and returns the truth: which document each injected one copies. :func:`jaccard` gives the
exact Jaccard similarity of two documents' word-shingle sets, the quantity MinHash
estimates, so "a near duplicate at threshold 0.8" can be checked exactly.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from scalelab.corpus.audit import ngram_hashes, word_hashes

FILLER = (b"alpha bravo charlie delta echo foxtrot golf hotel india juliet kilo lima mike november oscar papa quebec "
          b"romeo sierra tango uniform victor whiskey xray yankee zulu").split()


@dataclass(frozen=True)
class Injected:
    """One injected document: its index, the index of the document it copies (for a
    template family, the family's first member), its kind and the share of words changed."""

    doc: int
    of: int
    kind: str  # "exact", "near" or "template"
    changed: float = 0.0


def jaccard(a: bytes, b: bytes, shingle: int = 5) -> float:
    """Exact Jaccard similarity of the documents' word ``shingle``-gram sets (as the audit shingles)."""
    x = set(ngram_hashes(word_hashes(a), shingle, bits=64).tolist())
    y = set(ngram_hashes(word_hashes(b), shingle, bits=64).tolist())
    return len(x & y) / len(x | y) if x or y else 1.0


def inject_duplicates(docs: list[bytes], *, exact: int = 100, near: int = 200, change: tuple[float, float] = (0.01, 0.10),
                      templates: int = 20, per_template: int = 5, min_words: int = 50,
                      seed: int = 0) -> tuple[list[bytes], list[Injected]]:
    """The corpus with duplicates appended, and the truth about them (see the module).

    Copies are made of distinct documents of at least ``min_words`` words; a near copy
    replaces a share of words drawn uniformly from ``change``. A template is a document
    whose every 40th word becomes a slot filled per member.

    >>> docs = [(" ".join(f"w{i}_{k}" for k in range(80))).encode() for i in range(50)]
    >>> out, truth = inject_duplicates(docs, exact=3, near=4, templates=2, per_template=3)
    >>> len(out) - len(docs), sorted({t.kind for t in truth})
    (13, ['exact', 'near', 'template'])
    """
    rng = np.random.default_rng(seed)
    long_docs = [i for i, d in enumerate(docs) if len(d.split()) >= min_words]
    need = exact + near + templates
    if len(long_docs) < need:
        raise ValueError(f"{need} documents of >= {min_words} words needed, the corpus has {len(long_docs)}")
    picked = rng.choice(long_docs, size=need, replace=False)
    out = list(docs)
    truth: list[Injected] = []
    for i in picked[:exact]:
        truth.append(Injected(len(out), int(i), "exact"))
        out.append(docs[i])
    for i in picked[exact:exact + near]:
        words = docs[i].split()
        frac = float(rng.uniform(*change))
        k = max(1, int(round(frac * len(words))))
        for pos in rng.choice(len(words), size=k, replace=False):
            words[pos] = FILLER[int(rng.integers(len(FILLER)))] + b"x"  # never an original word
        truth.append(Injected(len(out), int(i), "near", k / len(words)))
        out.append(b" ".join(words))
    for i in picked[exact + near:]:
        words = docs[i].split()
        slots = range(0, len(words), 40)
        first = len(out)
        for m in range(per_template):
            filled = list(words)
            for pos in slots:
                filled[pos] = FILLER[int(rng.integers(len(FILLER)))] + str(m).encode()
            if m:
                truth.append(Injected(len(out), first, "template", len(slots) / len(words)))
            out.append(b" ".join(filled))
    return out, truth
