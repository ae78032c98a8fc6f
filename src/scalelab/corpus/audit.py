"""The corpus audit: documents, bytes, tokens, exact and near duplicates, diversity, and
the unique tokens left after deduplication (what ``plan --corpus-audit`` takes).

Method
------
* **Exact duplicates**: a document whose bytes equal an earlier one's (BLAKE2b digest).
* **Near duplicates**: MinHash over word ``shingle``-grams (lower-cased, split on white
  space) with ``bands`` x ``rows`` hash functions -- datasketch's MinHash (its seed,
  permutations and legacy scheme; the signatures equal ``datasketch.MinHash.update_batch``
  with the same hash function, computed for many documents at once) and LSH banding as
  datasketch's ``MinHashLSH(params=(bands, rows))``. Two documents become candidates
  when any band agrees, which happens with probability 1 - (1 - J^rows)^bands for
  Jaccard similarity J: 50% at J ~ (1/bands)^(1/rows). A candidate is a duplicate only if
  the exact Jaccard similarity of its shingle set *to the kept document's* is >= ``threshold``
  (MinHash only proposes; each candidate is checked on the shingles themselves): documents
  join the earliest kept document they resemble, never each other (no transitive chains,
  which can merge whole sources through a run of pairwise-similar documents).
* **Diversity**: the compression ratio (bytes / zlib-compressed bytes, level 6; higher is
  more repetitive) and n-gram diversity (distinct / total word n-grams, summed over
  n = 1..4, as Shaib et al. 2024; lower is more repetitive), per source.
* **Repeated long n-grams**: the share of word 13-gram occurrences in kept documents that
  also occur in another place (on the 13-grams whose hash is divisible by 8: a sample
  that keeps all places of an n-gram or none).

Memory grows with the documents (one signature of ``bands x rows`` 32-bit values and one
band key per band each): :func:`audit` refuses a corpus that would pass ``max_memory_gb``.
"""

from __future__ import annotations

import hashlib
import zlib
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np

from scalelab.corpus.documents import ReadProgress, read_sourced
from scalelab.errors import InputError

MERSENNE = np.uint64((1 << 61) - 1)
MAX_HASH = np.uint64((1 << 32) - 1)
CHUNK_SHINGLES = 1 << 18  # shingles gathered before a signature batch
CACHE_SHINGLES = 2048  # shingles per vectorised step (x 112 hashes stays in cache: 4x faster than big steps)
GIANT_CLUSTER = 0.01  # a cluster holding more than 1% of the documents (and > 20) is suspicious
LONG_NGRAM = 13
LONG_NGRAM_SAMPLE = 8  # 13-grams are counted on a 1-in-8 sample by hash
BASE_MEMORY = 300 * 2**20
PREVIEW = 100  # bytes of each document kept for the examples


@dataclass(frozen=True)
class Settings:
    shingle: int = 5
    bands: int = 14
    rows: int = 8
    threshold: float = 0.8
    seed: int = 1
    tokenizer: str = "byte"
    max_memory_gb: float = 2.0

    @property
    def num_perm(self) -> int:
        return self.bands * self.rows

    @property
    def s_curve_midpoint(self) -> float:
        """The Jaccard similarity at which a pair becomes an LSH candidate with probability 1/2."""
        return float((1 - 0.5 ** (1 / self.bands)) ** (1 / self.rows))

    def candidate_probability(self, jaccard: float) -> float:
        return float(1 - (1 - jaccard**self.rows) ** self.bands)


@dataclass
class SourceStats:
    documents: int = 0
    bytes: int = 0
    tokens: int = 0
    exact_duplicate_documents: int = 0
    near_duplicate_documents: int = 0
    near_duplicate_fraction: float = 0.0
    unique_tokens_estimate: int = 0
    compression_ratio: float = 0.0
    ngram_diversity: float = 0.0


@dataclass
class Audit:
    """What :func:`audit` found (``to_dict`` gives the stable JSON field names)."""

    path: str
    settings: Settings
    total: SourceStats
    sources: dict[str, SourceStats]
    cluster_sizes: dict[int, int]  # duplicates-cluster size (kept + its duplicates) -> how many clusters
    largest_clusters: list[dict]
    overlap: dict[str, dict[str, float]]  # source A -> source B -> share of A's documents that duplicate B's
    repeated_long_ngram_fraction: float
    warnings: list[str] = field(default_factory=list)
    duplicate_of: np.ndarray = field(default_factory=lambda: np.zeros(0, np.int64), repr=False)
    """Per document in reading order: the kept document it duplicates, or -1 (not in the JSON)."""
    kind: np.ndarray = field(default_factory=lambda: np.zeros(0, np.int8), repr=False)
    """Per document: 0 kept, 1 exact duplicate, 2 near duplicate."""
    source_of: list[str] = field(default_factory=list, repr=False)
    where_of: list[str] = field(default_factory=list, repr=False)
    """Per document: where it is (a folder's file, ``FILE:LINE`` of JSONL, ``FILE row N`` of
    Parquet, ``FILE paragraph N`` of a text file)."""
    previews: list[bytes] = field(default_factory=list, repr=False)
    """Per document: its first ``PREVIEW`` bytes."""

    def duplicates_frame(self):
        """One row per removed document: ``document`` (its index in reading order), ``where``,
        ``source``, ``kind``, ``preview``, and the same of the document kept in its place
        (``kept_document``, ``kept_where``, ``kept_source``, ``kept_preview``)."""
        import pandas as pd

        idx = np.flatnonzero(self.kind > 0)
        kept = self.duplicate_of[idx]

        def text(ix):
            return [self.previews[i].decode("utf-8", "replace") for i in ix]

        return pd.DataFrame({"document": idx, "where": [self.where_of[i] for i in idx],
                             "source": [self.source_of[i] for i in idx],
                             "kind": np.where(self.kind[idx] == 1, "exact", "near"), "preview": text(idx),
                             "kept_document": kept, "kept_where": [self.where_of[k] for k in kept],
                             "kept_source": [self.source_of[k] for k in kept], "kept_preview": text(kept)})

    def to_dict(self) -> dict:
        d = asdict(self.total)
        d.update({
            "path": self.path,
            "settings": {**asdict(self.settings), "num_perm": self.settings.num_perm,
                         "s_curve_midpoint": self.settings.s_curve_midpoint,
                         "candidate_probability_at_threshold": self.settings.candidate_probability(self.settings.threshold)},
            "sources": {k: asdict(v) for k, v in self.sources.items()},
            "cluster_sizes": {str(k): v for k, v in sorted(self.cluster_sizes.items())},
            "largest_clusters": self.largest_clusters,
            "overlap": self.overlap,
            "repeated_long_ngram_fraction": self.repeated_long_ngram_fraction,
            "warnings": self.warnings,
        })
        return d


def permutations(num_perm: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """datasketch's MinHash permutations (a, b) for ``num_perm`` and ``seed``."""
    from datasketch import MinHash

    a, b = MinHash(num_perm=num_perm, seed=seed, scheme="legacy").permutations
    return a.astype(np.uint64), b.astype(np.uint64)


def signatures(shingle_hashes: np.ndarray, doc_of_shingle: np.ndarray, num_docs: int,
               perms: tuple[np.ndarray, np.ndarray]) -> np.ndarray:
    """MinHash signatures (num_docs, num_perm) uint32 of documents given their 32-bit
    shingle hashes (the legacy datasketch scheme: min over shingles of ((a h + b) mod p) & (2^32-1))."""
    a, b = perms
    sig = np.full((num_docs, a.size), np.iinfo(np.uint32).max, np.uint32)
    hv = shingle_hashes.astype(np.uint64)
    for start in range(0, hv.size, CACHE_SHINGLES):
        h = hv[start:start + CACHE_SHINGLES, None]
        d = doc_of_shingle[start:start + CACHE_SHINGLES]
        with np.errstate(over="ignore"):
            phv = _mod_mersenne(h * a + b) & MAX_HASH
        _min_rows(sig, d, phv.astype(np.uint32))
    return sig


def _mod_mersenne(x: np.ndarray) -> np.ndarray:
    """x mod (2^61 - 1) for uint64 x, by shifts (the same values as ``%``, several times faster)."""
    y = (x & MERSENNE) + (x >> np.uint64(61))
    y -= MERSENNE * (y >= MERSENNE)
    return y


def _min_rows(sig: np.ndarray, doc: np.ndarray, values: np.ndarray) -> None:
    """sig[doc[i]] = min(sig[doc[i]], values[i]) for sorted ``doc`` (contiguous runs)."""
    starts = np.flatnonzero(np.r_[True, doc[1:] != doc[:-1]])
    mins = np.minimum.reduceat(values, starts, axis=0)
    ids = doc[starts]
    sig[ids] = np.minimum(sig[ids], mins)


def word_hashes(doc: bytes) -> np.ndarray:
    """32-bit hashes (CRC-32) of a document's lower-cased white-space words."""
    return np.fromiter((zlib.crc32(w) for w in doc.lower().split()), np.uint64)


def ngram_hashes(wh: np.ndarray, n: int, bits: int = 32) -> np.ndarray:
    """32-bit (or 64-bit) hashes of the word n-grams of one document (the whole document when it has fewer words)."""
    if wh.size == 0:
        return np.zeros(1, np.uint64)
    n = min(n, wh.size)
    h = np.zeros(wh.size - n + 1, np.uint64)
    with np.errstate(over="ignore"):
        for k in range(n):
            h = h * np.uint64(1000003) + wh[k:k + h.size]
    h = h ^ (h >> np.uint64(32))
    return h if bits == 64 else h & MAX_HASH


def audit(path: str | Path, *, settings: Settings | None = None, text_col: str = "text", source_col: str | None = None,
          progress: Callable[[int, int], None] | None = None) -> Audit:
    """Audit a corpus (see the module docstring); ``progress`` is called now and then with
    the bytes read and the bytes in all (on disk: compressed files count compressed bytes)."""
    s = settings or Settings()
    _check_settings(s)
    count_tokens = _token_counter(s.tokenizer)
    perms = permutations(s.num_perm, s.seed)
    sources: dict[str, SourceStats] = {}
    compressors: dict[str, zlib._Compress] = {}
    compressed: dict[str, int] = {}
    ngram_sets: dict[str, list[list[np.ndarray]]] = {}
    seen: dict[bytes, int] = {}
    doc_source: list[str] = []
    doc_where: list[str] = []
    doc_tokens: list[int] = []
    status: list[int] = []  # -1 kept, else index of the kept document it duplicates (exact)
    previews = bytearray()  # the first PREVIEW bytes of every document, at offsets
    preview_at: list[int] = []
    sig_parts, sh_batch, owner_batch = [], [], []
    near_candidates: list[int] = []  # documents sent to MinHash (not exact duplicates)
    shingle_sets: list[np.ndarray] = []  # their distinct shingle hashes, packed by _pack, for exact Jaccard checks
    shingle_parts: list[tuple[np.ndarray, np.ndarray]] = []
    shingle_total = 0
    long_ngrams: list[np.ndarray] = []
    batch_size = 0
    diversity_words: dict[str, int] = {}
    # measured on a 706k-document corpus: ~300 MB fixed, then per document its signature
    # (twice, while joined), band keys and candidates, ~700 bytes of Python objects, and
    # 8 bytes per distinct shingle (counted as they come)
    per_doc = s.num_perm * 4 * 2 + s.bands * 8 * 4 + 800
    limit = s.max_memory_gb * 2**30 - BASE_MEMORY
    reading = ReadProgress()
    for i, (source, doc) in enumerate(read_sourced(path, text_col, source_col, reading)):
        if (i + 1) * per_doc + 8 * shingle_total > limit:
            raise InputError(f"{path}: more than {i:,} documents would pass --max-memory-gb {s.max_memory_gb:g} with "
                             f"{s.num_perm} hash functions ({per_doc} bytes each); raise --max-memory-gb, or lower "
                             "--bands/--rows, or audit the sources one at a time")
        st = sources.setdefault(source, SourceStats())
        st.documents += 1
        st.bytes += len(doc)
        ntok = count_tokens(doc)
        st.tokens += ntok
        if source not in compressors:
            compressors[source] = zlib.compressobj(6)
            compressed[source] = 0
            ngram_sets[source] = [[] for _ in range(4)]
        compressed[source] += len(compressors[source].compress(doc + b"\n\n"))
        key = hashlib.blake2b(doc, digest_size=16).digest()
        doc_source.append(source)
        doc_where.append(reading.where)
        doc_tokens.append(ntok)
        preview_at.append(len(previews))
        previews += doc[:PREVIEW]
        first = seen.get(key)
        wh = word_hashes(doc)
        if first is not None:
            status.append(first)
            st.exact_duplicate_documents += 1
        else:
            seen[key] = i
            status.append(-1)
            near_candidates.append(i)
            sh = _sorted_unique(ngram_hashes(wh, s.shingle))
            shingle_sets.append(sh.astype(np.uint32))
            shingle_total += shingle_sets[-1].size
            if len(shingle_sets) >= 4096:
                shingle_parts.append(_pack(shingle_sets))
            sh_batch.append(sh)
            owner_batch.append(np.full(sh.size, len(near_candidates) - 1, np.int64))
            batch_size += sh.size
            if batch_size >= CHUNK_SHINGLES:
                sig_parts.append(_flush(sh_batch, owner_batch, perms))
                batch_size = 0
            if wh.size >= LONG_NGRAM:
                g = ngram_hashes(wh, LONG_NGRAM, bits=64)
                long_ngrams.append(g[g % np.uint64(LONG_NGRAM_SAMPLE) == 0])  # a hash-based sample: all of an n-gram's places, or none
        sets = ngram_sets[source]
        if wh.size and diversity_words.get(source, 0) < 2_000_000:  # diversity on each source's first ~2M words
            diversity_words[source] = diversity_words.get(source, 0) + wh.size
            for n in range(1, 5):
                if wh.size >= n:
                    sets[n - 1].append(ngram_hashes(wh, n))
        if progress is not None and i % 2000 == 0:
            progress(reading.done, reading.total)
    if not status:
        raise InputError(f"corpus {str(path)!r} holds no documents")
    if sh_batch:
        sig_parts.append(_flush(sh_batch, owner_batch, perms))
    if progress is not None:
        progress(reading.total, reading.total)
    sig = np.concatenate(sig_parts) if sig_parts else np.zeros((0, s.num_perm), np.uint32)
    del sig_parts
    if shingle_sets:
        shingle_parts.append(_pack(shingle_sets))
    values = np.concatenate([v for v, _ in shingle_parts]) if shingle_parts else np.zeros(0, np.uint32)
    sizes = np.concatenate([z for _, z in shingle_parts]) if shingle_parts else np.zeros(0, np.int64)
    offsets = np.r_[0, np.cumsum(sizes)]
    del shingle_parts
    near_of = _near_duplicates(sig, s, values, offsets)  # index into near_candidates -> its kept candidate, or -1
    cand = np.asarray(near_candidates)
    for j, k in enumerate(near_of):
        if k >= 0:
            status[cand[j]] = -2 - int(cand[k])  # near duplicate of document cand[k]
    preview_at.append(len(previews))
    text = [bytes(previews[a:b]) for a, b in zip(preview_at[:-1], preview_at[1:])]
    return _summarise(str(path), s, sources, status, doc_source, doc_where, doc_tokens, text, compressors, compressed,
                      ngram_sets, long_ngrams)


def _flush(sh_batch: list, owner_batch: list, perms) -> np.ndarray:
    owners = np.concatenate(owner_batch)
    first = int(owners[0])
    sig = signatures(np.concatenate(sh_batch), owners - first, int(owners[-1]) - first + 1, perms)
    sh_batch.clear()
    owner_batch.clear()
    return sig


def band_keys(sig: np.ndarray, bands: int, rows: int) -> np.ndarray:
    """One 64-bit key per band (n, bands): documents sharing a key are LSH candidates."""
    n = sig.shape[0]
    key = np.zeros((n, bands), np.uint64)
    with np.errstate(over="ignore"):
        for b in range(bands):
            k = np.zeros(n, np.uint64)
            for r in range(rows):
                k = (k ^ sig[:, b * rows + r].astype(np.uint64)) * np.uint64(0x100000001B3)
            key[:, b] = k
    return key


def _pack(sets: list[np.ndarray]) -> tuple[np.ndarray, np.ndarray]:
    out = (np.concatenate(sets), np.array([x.size for x in sets], np.int64))
    sets.clear()
    return out


def _near_duplicates(sig: np.ndarray, s: Settings, values: np.ndarray, offsets: np.ndarray) -> np.ndarray:
    """For each document (row), the earliest kept document it duplicates, or -1.

    A document's candidates are, for each band, the first and the previous document
    holding the same band key; each is followed to its kept document and accepted if the
    exact Jaccard similarity of their shingle sets reaches the threshold."""
    n = sig.shape[0]
    out = np.full(n, -1, np.int64)
    if n < 2:
        return out
    keys = band_keys(sig, s.bands, s.rows)
    cands = np.empty((n, 2 * s.bands), np.int64)
    for b in range(s.bands):
        order = np.lexsort((np.arange(n), keys[:, b]))
        k = keys[order, b]
        new = np.r_[True, k[1:] != k[:-1]]
        first = order[np.maximum.accumulate(np.where(new, np.arange(n), 0))]
        prev = np.where(new, order, np.r_[order[0], order[:-1]])
        cands[order, 2 * b] = first
        cands[order, 2 * b + 1] = prev
    todo = np.flatnonzero((cands < np.arange(n)[:, None]).any(1))
    for j in todo:
        a = values[offsets[j]:offsets[j + 1]]
        tried = set()
        for c in sorted(set(cands[j][cands[j] < j].tolist())):
            k = c if out[c] < 0 else int(out[c])
            if k in tried:
                continue
            tried.add(k)
            b = values[offsets[k]:offsets[k + 1]]
            inter = np.intersect1d(a, b, assume_unique=True).size
            if inter >= s.threshold * (a.size + b.size - inter):
                out[j] = k
                break
    return out


def _summarise(path, s, sources, status, doc_source, doc_where, doc_tokens, previews, compressors, compressed,
               ngram_sets, long_ngrams) -> Audit:
    from collections import Counter

    kept_of = {}
    overlap_count: dict[str, Counter] = {k: Counter() for k in sources}
    for i, st in enumerate(status):
        if st == -1:
            continue
        kept = st if st >= 0 else -2 - st
        kept_of.setdefault(kept, []).append(i)
        src = doc_source[i]
        if st < -1:
            sources[src].near_duplicate_documents += 1
        if doc_source[kept] != src:
            overlap_count[src][doc_source[kept]] += 1
    for i, st in enumerate(status):
        if st == -1:
            sources[doc_source[i]].unique_tokens_estimate += doc_tokens[i]
    for name, st in sources.items():
        compressed[name] += len(compressors[name].flush())
        st.compression_ratio = st.bytes / max(compressed[name], 1)
        st.near_duplicate_fraction = st.near_duplicate_documents / st.documents
        st.ngram_diversity = float(sum(_distinct(np.concatenate(g)) / sum(x.size for x in g) if g else 0.0
                                       for g in ngram_sets[name]))
    total = SourceStats()
    for st in sources.values():
        for f in ("documents", "bytes", "tokens", "exact_duplicate_documents", "near_duplicate_documents",
                  "unique_tokens_estimate"):
            setattr(total, f, getattr(total, f) + getattr(st, f))
    total.near_duplicate_fraction = total.near_duplicate_documents / total.documents
    total.compression_ratio = total.bytes / max(sum(compressed.values()), 1)
    total.ngram_diversity = float(np.mean([st.ngram_diversity for st in sources.values()]))
    sizes = Counter(len(v) + 1 for v in kept_of.values())
    biggest = sorted(kept_of.items(), key=lambda kv: -len(kv[1]))[:5]
    largest = [{"size": len(v) + 1, "kept_document": k, "kept_source": doc_source[k], "kept_where": doc_where[k],
                "kept_preview": previews[k].decode("utf-8", "replace"),
                "duplicate_documents": v[:5], "duplicate_where": doc_where[v[0]],
                "duplicate_preview": previews[v[0]].decode("utf-8", "replace"),
                "kinds": {"exact": sum(status[i] >= 0 for i in v), "near": sum(status[i] < -1 for i in v)}}
               for k, v in biggest]
    overlap = {a: {b: c / sources[a].documents for b, c in cnt.items()} for a, cnt in overlap_count.items() if cnt}
    warnings = []
    n = total.documents
    for c in largest:
        if c["size"] > max(20, GIANT_CLUSTER * n):
            warnings.append(f"a cluster of {c['size']:,} documents ({100 * c['size'] / n:.1f}% of the corpus) around "
                            f"document {c['kept_document']} ({c['kept_preview'][:60]!r}): boilerplate or a template? "
                            "check before removing it")
    if long_ngrams:
        allg = np.sort(np.concatenate(long_ngrams))
        same = allg[1:] == allg[:-1]
        in_run = np.r_[same, False] | np.r_[False, same]  # occurrences whose value occurs more than once
        repeated = float(in_run.sum() / allg.size)
    else:
        repeated = 0.0
    st = np.asarray(status, np.int64)
    kind = np.where(st == -1, 0, np.where(st >= 0, 1, 2)).astype(np.int8)
    dup_of = np.where(st == -1, -1, np.where(st >= 0, st, -2 - st))
    return Audit(path, s, total, sources, dict(sizes), largest, overlap, repeated, warnings, dup_of, kind,
                 list(doc_source), doc_where, previews)


def _sorted_unique(x: np.ndarray) -> np.ndarray:
    """np.unique for the small arrays of one document (sorting beats numpy's hash-based unique here)."""
    x = np.sort(x)
    return x[np.r_[True, x[1:] != x[:-1]]] if x.size > 1 else x


def _distinct(x: np.ndarray) -> int:
    """Distinct values (sorting is faster here than numpy's hash-based unique)."""
    if x.size == 0:
        return 0
    x = np.sort(x)
    return int((x[1:] != x[:-1]).sum() + 1)


def _check_settings(s: Settings) -> None:
    if not (isinstance(s.shingle, int) and 1 <= s.shingle <= 50):
        raise InputError(f"--shingle {s.shingle}: give a word n-gram length from 1 to 50 (5 is usual)")
    if not (1 <= s.bands <= 64 and 1 <= s.rows <= 64):
        raise InputError(f"--bands {s.bands} --rows {s.rows}: give 1 to 64 each (14 x 8 is datatrove's default)")
    if not 0 < s.threshold <= 1:
        raise InputError(f"--threshold {s.threshold}: give a Jaccard similarity in (0, 1] (0.8: Lee et al. 2022)")
    if not s.max_memory_gb > 0:
        raise InputError(f"--max-memory-gb {s.max_memory_gb}: give a positive number")


def _token_counter(tokenizer: str) -> Callable[[bytes], int]:
    if tokenizer == "byte":
        return len
    p = Path(tokenizer)
    if not p.is_file():
        raise InputError(f"--tokenizer {tokenizer!r}: give byte, or a Hugging Face tokenizer.json file")
    try:
        from tokenizers import Tokenizer
    except ImportError:
        raise InputError("--tokenizer FILE needs the tokenizers package: pip install 'scalelab[train]'") from None
    tok = Tokenizer.from_file(str(p))
    return lambda doc: len(tok.encode(doc.decode("utf-8", "replace")).ids)


def read_audit_unique_tokens(path: str | Path, vocab_size: int | None = None) -> float:
    """The unique-token estimate of an audit JSON (``scalelab data audit --json``). An audit
    that counted bytes, read for a model whose vocabulary is not bytes (``vocab_size`` above
    256, or not known), is said to be in bytes: a subword tokenizer makes several times fewer."""
    import json
    import warnings

    from scalelab.errors import ScalelabWarning

    p = Path(path)
    try:
        d = json.loads(p.read_text())
    except FileNotFoundError:
        raise InputError(f"--corpus-audit {str(p)!r} does not exist; write one with scalelab data audit CORPUS --out audit.json") from None
    except (OSError, ValueError) as exc:
        raise InputError(f"--corpus-audit {str(p)!r} is not JSON ({exc}); write it with scalelab data audit --json") from None
    audits = d if isinstance(d, list) else [d]
    try:
        value = float(sum(a["unique_tokens_estimate"] for a in audits))
    except (KeyError, TypeError, ValueError):
        raise InputError(f"--corpus-audit {str(p)!r} has no unique_tokens_estimate; write it with "
                         "scalelab data audit CORPUS --json") from None
    if not value > 0:
        raise InputError(f"--corpus-audit {str(p)!r}: its unique-token estimate is {value:g}; audit a corpus with text in it")
    counted = {str((a.get("settings") or {}).get("tokenizer", "byte")) for a in audits}
    if counted == {"byte"} and (vocab_size is None or vocab_size > 256):
        vocab = "" if vocab_size is None else f" of {vocab_size:,}"
        warnings.warn(f"--corpus-audit {str(p)!r} counted bytes ({value:.3g}), taken here as the model's tokens; a "
                      f"subword vocabulary{vocab} makes about 4x fewer of English text: audit with --tokenizer "
                      "tokenizer.json (the model's own) for its tokens", ScalelabWarning, stacklevel=2)
    return value


def summary_rows(audits: Sequence[Audit]) -> list[tuple[str, list[str]]]:
    """Rows of a side-by-side table: (label, one cell per audit)."""
    def pct(x):
        return f"{100 * x:.2f}%"

    rows = [
        ("documents", [f"{a.total.documents:,}" for a in audits]),
        ("bytes", [f"{a.total.bytes:,}" for a in audits]),
        ("tokens", [f"{a.total.tokens:,} ({a.settings.tokenizer})" for a in audits]),
        ("exact duplicate documents", [f"{a.total.exact_duplicate_documents:,}" for a in audits]),
        ("near duplicate documents", [f"{a.total.near_duplicate_documents:,} ({pct(a.total.near_duplicate_fraction)})"
                                      for a in audits]),
        ("unique tokens (estimate)", [f"{a.total.unique_tokens_estimate:,} "
                                      f"({pct(a.total.unique_tokens_estimate / max(a.total.tokens, 1))})" for a in audits]),
        ("compression ratio (zlib)", [f"{a.total.compression_ratio:.2f}" for a in audits]),
        ("n-gram diversity (n=1..4)", [f"{a.total.ngram_diversity:.2f}" for a in audits]),
        ("repeated 13-grams", [pct(a.repeated_long_ngram_fraction) for a in audits]),
        ("largest cluster", [str(a.largest_clusters[0]["size"]) if a.largest_clusters else "-" for a in audits]),
    ]
    return rows
