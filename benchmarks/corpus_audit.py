"""The corpus audit on a corpus with injected duplicates, side by side with datatrove's
MinHash deduplication and plain datasketch, and its throughput on en-mix.

Corpus: the first documents of ../shared/data/corpora/en-mix.txt.xz (paragraphs), with
exact copies, near copies (1-10% of words replaced) and template families appended
(:func:`scalelab.corpus.inject.inject_duplicates`). Truth at the threshold 0.8: a pair is
a near duplicate when the exact Jaccard similarity of its word 5-gram sets is >= 0.8.

* precision: removed documents whose Jaccard similarity to the document kept for them
  (scalelab: the kept document it names; datatrove: its cluster's kept member) is >= 0.8;
* recall: injected copies (exact, or near/template with true Jaccard >= 0.8) that are removed;
* exact duplicates: the count against a dictionary of the documents' bytes.

datatrove runs its four-stage MinHash pipeline (5-grams, 14 buckets x 8 hashes, its own
text normalisation) in its own virtual environment: set DATATROVE_PYTHON to its python
(``python -m venv /tmp/dtvenv && /tmp/dtvenv/bin/pip install datatrove regex tokenizers orjson spacy
"xxhash<3.6"``: datatrove 0.10.1 hashes str, which xxhash 4 refuses).
Plain datasketch: ``MinHash.update_batch`` (SHA-1 shingle hashes) and ``MinHashLSH``
insert/query, candidates taken as duplicates, the way its README shows.

Run:  python benchmarks/corpus_audit.py [--docs 40000] [--full]   (--full also times the whole of en-mix)
"""

from __future__ import annotations

import argparse
import json
import lzma
import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "src"))

from scalelab.corpus import Settings, audit  # noqa: E402
from scalelab.corpus.inject import inject_duplicates, jaccard  # noqa: E402

EN_MIX = REPO.parent / "shared" / "data" / "corpora" / "en-mix.txt.xz"
THRESHOLD = 0.8

DATATROVE = r'''
import sys
from datatrove.executor import LocalPipelineExecutor
from datatrove.pipeline.dedup import MinhashDedupSignature, MinhashDedupBuckets, MinhashDedupCluster, MinhashDedupFilter
from datatrove.pipeline.dedup.minhash import MinhashConfig
from datatrove.pipeline.readers import JsonlReader
from datatrove.pipeline.writers import JsonlWriter
if __name__ == "__main__":  # its executor starts processes
    src, work = sys.argv[1], sys.argv[2]
    cfg = MinhashConfig(n_grams=5, num_buckets=14, hashes_per_bucket=8, seed=1)
    read = lambda: JsonlReader(src, compression=None)
    LocalPipelineExecutor([read(), MinhashDedupSignature(f"{work}/sigs", config=cfg)], tasks=1, logging_dir=f"{work}/l1").run()
    LocalPipelineExecutor([MinhashDedupBuckets(f"{work}/sigs", f"{work}/buckets", config=cfg)], tasks=cfg.num_buckets,
                          workers=2, logging_dir=f"{work}/l2").run()
    LocalPipelineExecutor([MinhashDedupCluster(f"{work}/buckets", f"{work}/clusters", config=cfg, save_cluster_id=True)],
                          tasks=1, logging_dir=f"{work}/l3").run()
    LocalPipelineExecutor([read(), MinhashDedupFilter(f"{work}/clusters", load_cluster_ids=True,
                           exclusion_writer=JsonlWriter(f"{work}/removed", compression=None)),
                           JsonlWriter(f"{work}/kept", compression=None)], tasks=1, logging_dir=f"{work}/l4").run()
'''


def load_docs(limit: int) -> list[bytes]:
    docs = []
    with lzma.open(EN_MIX, "rb") as fh:
        rest = b""
        while len(docs) < limit:
            block = fh.read(1 << 20)
            if not block:
                break
            parts = (rest + block).split(b"\n\n")
            rest = parts.pop()
            docs += [p.strip() for p in parts if p.strip()]
    return docs[:limit]


def score(out: list[bytes], truth, removed: dict[int, int]) -> dict:
    """Precision, recall and counts of a deduplication given removed doc -> doc kept for it."""
    good = sum(jaccard(out[j], out[k]) >= THRESHOLD for j, k in removed.items())
    should = [t.doc for t in truth if t.kind == "exact" or jaccard(out[t.doc], out[t.of]) >= THRESHOLD]
    found = sum(d in removed for d in should)
    return {"removed": len(removed), "precision": good / max(len(removed), 1), "recall": found / len(should),
            "true_copies": len(should)}


def run_scalelab(path: str, out, truth) -> dict:
    t = time.perf_counter()
    a = audit(path, settings=Settings(threshold=THRESHOLD))
    secs = time.perf_counter() - t
    removed = {int(j): int(a.duplicate_of[j]) for j in np.flatnonzero(a.kind > 0)}
    exact_truth = len(out) - len(set(out))
    return {"seconds": secs, "exact": a.total.exact_duplicate_documents, "exact_truth": exact_truth,
            **score(out, truth, removed)}


def run_datasketch(out, truth) -> dict:
    from datasketch import MinHash, MinHashLSH

    t = time.perf_counter()
    lsh = MinHashLSH(num_perm=112, params=(14, 8))
    removed = {}
    for i, doc in enumerate(out):
        words = doc.lower().split()
        sh = [b" ".join(words[k:k + 5]) for k in range(max(1, len(words) - 4))]
        m = MinHash(num_perm=112)
        m.update_batch(sh)
        hits = lsh.query(m)
        if hits:
            removed[i] = min(hits)
        else:
            lsh.insert(i, m)
    return {"seconds": time.perf_counter() - t, **score(out, truth, removed)}


def run_datatrove(out, truth, python: str) -> dict:
    with tempfile.TemporaryDirectory() as work:
        src = Path(work) / "in"
        src.mkdir()
        with open(src / "docs.jsonl", "w") as fh:
            for i, d in enumerate(out):
                fh.write(json.dumps({"id": str(i), "text": d.decode("utf-8", "replace")}) + "\n")
        script = Path(work) / "run_datatrove.py"
        script.write_text(DATATROVE)
        t = time.perf_counter()
        r = subprocess.run([python, str(script), str(src), work], capture_output=True, text=True)
        secs = time.perf_counter() - t
        if r.returncode:
            return {"error": r.stderr.strip().splitlines()[-1] if r.stderr.strip() else f"exit {r.returncode}"}
        cluster = {}
        kept_of_cluster = {}
        for kind in ("kept", "removed"):
            for f in sorted((Path(work) / kind).glob("*")):
                for line in open(f):
                    row = json.loads(line)
                    cid = row.get("metadata", {}).get("minhash_cluster_id", -1)
                    cluster[int(row["id"])] = (kind, cid)
                    if kind == "kept" and cid != -1:
                        kept_of_cluster[cid] = int(row["id"])
        removed = {i: kept_of_cluster.get(cid, i) for i, (kind, cid) in cluster.items() if kind == "removed"}
    return {"seconds": secs, **score(out, truth, removed)}


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--docs", type=int, default=40000)
    ap.add_argument("--full", action="store_true")
    args = ap.parse_args()
    if not EN_MIX.is_file():
        sys.exit(f"needs {EN_MIX}")
    docs = load_docs(args.docs)
    out, truth = inject_duplicates(docs, exact=300, near=600, templates=60, per_template=5, seed=0)
    print(f"corpus: {len(docs):,} en-mix paragraphs + {len(out) - len(docs):,} injected (300 exact, 600 near with "
          f"1-10% of words replaced, 60 templates x 5); threshold: exact 5-gram Jaccard >= {THRESHOLD}")
    with tempfile.TemporaryDirectory() as d:
        path = os.path.join(d, "corpus.jsonl")
        with open(path, "w") as fh:
            for doc in out:
                fh.write(json.dumps({"text": doc.decode("utf-8", "replace")}) + "\n")
        rows = {"scalelab data audit": run_scalelab(path, [o.decode("utf-8", "replace").encode() for o in out], truth)}
    rows["datasketch (MinHashLSH, candidates = duplicates)"] = run_datasketch(out, truth)
    py = os.environ.get("DATATROVE_PYTHON")
    if py:
        rows["datatrove 4-stage MinHash"] = run_datatrove(out, truth, py)
    else:
        print("(datatrove skipped: set DATATROVE_PYTHON)")
    print(f"\n{'method':<50} {'seconds':>8} {'removed':>8} {'precision':>9} {'recall':>7}")
    for name, r in rows.items():
        if "error" in r:
            print(f"{name:<50} failed: {r['error']}")
            continue
        print(f"{name:<50} {r['seconds']:>8.1f} {r['removed']:>8,} {r['precision']:>9.1%} {r['recall']:>7.1%}")
    s = rows["scalelab data audit"]
    print(f"\nexact duplicate documents: {s['exact']:,} found, {s['exact_truth']:,} by a dictionary of the bytes; "
          f"{s['true_copies']:,} injected copies are duplicates at the threshold")
    if args.full:
        t = time.perf_counter()
        a = audit(EN_MIX)
        rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**20
        print(f"\nall of en-mix ({a.total.bytes / 1e6:.0f} MB, {a.total.documents:,} documents): "
              f"{time.perf_counter() - t:.0f} s, peak memory of this process {rss:.2f} GiB")


if __name__ == "__main__":
    main()
