"""The corpus audit as one HTML page: corpora side by side, sources, overlap, clusters."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd

from scalelab.corpus.audit import Audit, summary_rows
from scalelab.report.html import Report


def plot_audit(audits: Sequence[Audit]):
    """Two panels: how many clusters of each size (log-log), and each source's share of
    unique tokens beside its compression ratio."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, (ax1, ax2) = plt.subplots(1, 2, figsize=(9, 3.6), constrained_layout=True)
    for a in audits:
        if a.cluster_sizes:
            sizes = np.array(sorted(a.cluster_sizes))
            ax1.plot(sizes, [a.cluster_sizes[s] for s in sizes], "o-", ms=3, label=_short(a.path))
    biggest = max((max(a.cluster_sizes) for a in audits if a.cluster_sizes), default=2)
    ax1.set(xscale="log" if biggest > 30 else "linear", yscale="log", ylabel="clusters", title="cluster sizes",
            xlabel="documents in a duplicate cluster (kept + copies)")
    from matplotlib.ticker import FuncFormatter, MaxNLocator, NullFormatter

    if biggest <= 30:
        ax1.xaxis.set_major_locator(MaxNLocator(integer=True))
    for axis in (ax1.xaxis, ax1.yaxis):
        axis.set_major_formatter(FuncFormatter(lambda v, _pos: f"{v:,.0f}"))
        axis.set_minor_formatter(NullFormatter())
    if any(a.cluster_sizes for a in audits):
        ax1.legend(fontsize=8)
    names, unique, ratio = [], [], []
    for a in audits:
        for src, st in a.sources.items():
            names.append(_short(src) if len(audits) == 1 else f"{_short(a.path)}: {_short(src)}")
            unique.append(st.unique_tokens_estimate / max(st.tokens, 1))
            ratio.append(st.compression_ratio)
    y = np.arange(len(names))
    ax2.barh(y, unique, color="#4c78a8")
    ax2.set(yticks=y, yticklabels=names, xlim=(0, 1), title="tokens kept, by source",
            xlabel="share left after deduplication\n(label: compression ratio)")
    for yi, u, r in zip(y, unique, ratio):
        ax2.text(min(u, 0.98), yi, f" {r:.2f}", va="center", ha="right" if u > 0.85 else "left", fontsize=8,
                 color="white" if u > 0.85 else "#222")
    ax2.invert_yaxis()
    return fig


def audit_report(audits: Sequence[Audit]) -> str:
    """One self-contained HTML page for one or more audits."""
    r = Report("Corpus audit")
    s = audits[0].settings
    r.table(pd.DataFrame([[label, *cells] for label, cells in summary_rows(audits)],
                         columns=["", *[_short(a.path) for a in audits]]))
    r.paragraph(f"Near duplicates: MinHash of word {s.shingle}-grams, {s.bands} bands x {s.rows} rows ({s.num_perm} "
                f"hashes); a pair becomes a candidate with probability 1/2 at Jaccard {s.s_curve_midpoint:.2f} and "
                f"{s.candidate_probability(s.threshold):.0%} at {s.threshold:g}; a candidate is a near duplicate when the "
                f"Jaccard similarity of its shingles to the kept document's is >= {s.threshold:g}. Unique tokens: "
                "the tokens of the documents kept. Compression ratio: bytes over zlib bytes (higher: more repetitive). "
                "n-gram diversity: distinct over total word n-grams, summed for n = 1..4 (lower: more repetitive).",
                note=True)
    r.figure(plot_audit(audits))
    for a in audits:
        r.heading(_short(a.path))
        for w in a.warnings:
            r.paragraph("Warning: " + w)
        if len(a.sources) > 1:
            r.table(pd.DataFrame([{"source": k, "documents": v.documents, "tokens": v.tokens,
                                   "exact duplicates": v.exact_duplicate_documents,
                                   "near duplicates": v.near_duplicate_documents,
                                   "unique tokens": v.unique_tokens_estimate,
                                   "compression": round(v.compression_ratio, 2),
                                   "diversity": round(v.ngram_diversity, 2)} for k, v in a.sources.items()]))
        if a.overlap:
            r.paragraph("Overlap: the share of a source's documents that duplicate a document kept from another source.")
            r.table(pd.DataFrame([{"source": x, "duplicates documents of": y, "share": f"{f:.1%}"}
                                  for x, row in a.overlap.items() for y, f in sorted(row.items(), key=lambda t: -t[1])]),
                    text=True)
        if a.largest_clusters:
            r.paragraph("Largest clusters, with the document kept and one it removed:")
            r.table(pd.DataFrame([{"size": c["size"], "exact": c["kinds"]["exact"], "near": c["kinds"]["near"],
                                   "kept document": f"{c['kept_where']}: {_one_line(c['kept_preview'])[:90]}",
                                   "a duplicate": f"{c['duplicate_where']}: {_one_line(c['duplicate_preview'])[:90]}"}
                                  for c in a.largest_clusters]), text=True)
    return r.render()


def _one_line(text: str) -> str:
    """A preview on one line, its line breaks as ↵ (a table cell would show them as \\n)."""
    return " ".join(" ↵ ".join(line.strip() for line in str(text).splitlines()).split())


def _short(text: str, width: int = 28) -> str:
    text = str(text)
    return text if len(text) <= width else "…" + text[-(width - 1):]
