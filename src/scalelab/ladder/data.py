"""Corpus -> token shards: documents split into train and validation, encoded, stored as
numpy memmaps, with the byte counts that turn losses into bits per byte.

Inputs: a text file (``.txt``, or ``.txt.xz``/``.gz``/``.bz2``: documents are paragraphs
separated by blank lines), a folder of text files (each file a document), JSONL or
Parquet with a text column. Documents are shuffled with a seed and split by document (a
corpus joined source by source has its tail all from one source: never split by taking
the last part). Tokenizers: ``byte`` (vocabulary 256, nothing to train, the same for every
corpus) or ``bpe`` (a byte-level BPE trained locally on the training split with Hugging
Face ``tokenizers``). Losses in nats per token become bits per byte through the split's
tokens-per-byte ratio, so ladders with different tokenizers compare.
"""

from __future__ import annotations

import hashlib
import json
import math
import os
from array import array
from collections.abc import Callable, Iterable, Iterator
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np

from scalelab.corpus.documents import folder_files, read_documents
from scalelab.errors import InputError
from scalelab.io import atomic_path, write_json

EOT = b"\n\n"  # documents are joined with a blank line in the byte stream
VAL_FRACTION = 0.05  # of the documents, held out for validation
ENCODE_BATCH_BYTES = 50_000  # BPE encodes in ~50 kB batches: one huge batch needs gigabytes


@dataclass(frozen=True)
class Shards:
    """Where the tokens are and what they mean."""

    folder: str
    tokenizer: str
    vocab_size: int
    dtype: str
    train_tokens: int
    val_tokens: int
    train_bytes: int
    val_bytes: int
    documents: int
    corpus_sha256: str

    @property
    def val_tokens_per_byte(self) -> float:
        return self.val_tokens / self.val_bytes

    def bits_per_byte(self, loss_nats_per_token: float) -> float:
        """Validation loss (nats/token) -> bits per byte of the validation text."""
        return loss_nats_per_token * self.val_tokens_per_byte / math.log(2)

    def train(self) -> np.ndarray:
        return np.memmap(Path(self.folder) / "train.bin", dtype=self.dtype, mode="r")

    def val(self) -> np.ndarray:
        return np.memmap(Path(self.folder) / "val.bin", dtype=self.dtype, mode="r")

    def to_dict(self) -> dict:
        return asdict(self)

    @classmethod
    def load(cls, folder: str | Path) -> Shards:
        meta = Path(folder) / "meta.json"
        if not meta.is_file():
            raise InputError(f"no token shards in {str(folder)!r} (meta.json missing); prepare them with scalelab ladder run")
        return cls(**json.loads(meta.read_text()))


def _settings(tokenizer: str, vocab_size: int, seed: int, val_fraction: float) -> dict:
    """What shards are made with, besides the corpus: shards with the same are reused."""
    return {"tokenizer": tokenizer, "vocab_size": vocab_size if tokenizer == "bpe" else 256, "seed": seed,
            "val_fraction": val_fraction}


def prepare(corpus: str | Path, out: str | Path, *, tokenizer: str = "byte", vocab_size: int = 8192,
            val_fraction: float = VAL_FRACTION, seed: int = 0, text_col: str = "text", max_bytes: int | None = None,
            progress: Callable[[str, float], None] | None = None) -> Shards:
    """Encode a corpus into ``out/train.bin``, ``out/val.bin`` and ``out/meta.json``.

    Reuses the shards when ``out`` already holds them for the same corpus and settings.

    Examples
    --------
    >>> import tempfile, os
    >>> d = tempfile.mkdtemp()
    >>> src = os.path.join(d, "c.txt")
    >>> _ = open(src, "w").write("\\n\\n".join(f"document {i} " * 20 for i in range(100)))
    >>> s = prepare(src, os.path.join(d, "shards"), val_fraction=0.1)
    >>> s.tokenizer, s.vocab_size, s.train_tokens + s.val_tokens == s.train_bytes + s.val_bytes
    ('byte', 256, True)
    """
    if tokenizer not in ("byte", "bpe"):
        raise InputError(f"--tokenizer {tokenizer!r}: choose byte or bpe")
    if not 0 < val_fraction < 0.5:
        raise InputError(f"--val-fraction {val_fraction}: give a fraction in (0, 0.5)")
    reporting, progress = progress is not None, progress or (lambda _msg, _frac: None)
    out = Path(out)
    if not Path(corpus).exists() and (out / "meta.json").is_file() and (out / "settings.json").is_file():
        # the corpus was moved or removed once its tokens were prepared (a scratch disk): the
        # shards made with these settings still are the tokens every rung trained on
        have = json.loads((out / "settings.json").read_text())
        if all(have.get(k) == v for k, v in _settings(tokenizer, vocab_size, seed, val_fraction).items()):
            import warnings

            from scalelab.errors import CorpusWarning

            warnings.warn(f"corpus {str(corpus)!r} is not there; using the tokens prepared from it in {str(out)!r} "
                          f"(corpus sha256 {have.get('corpus_sha256', '?')[:12]}...)", CorpusWarning, stacklevel=2)
            return Shards(**json.loads((out / "meta.json").read_text()))
    meta, stamp = out / "meta.json", _stamp(corpus, text_col, max_bytes)
    have = json.loads((out / "settings.json").read_text()) if (out / "settings.json").is_file() else {}
    if meta.is_file() and stamp is not None and have.get("corpus_stamp") == stamp and \
            all(have.get(k) == v for k, v in _settings(tokenizer, vocab_size, seed, val_fraction).items()):
        return Shards(**json.loads(meta.read_text()))  # the corpus's files untouched since: not read again
    # First pass: the documents' hash and lengths only (the shards may be there already);
    # a corpus larger than memory is read as a stream, never held whole.
    digest, lengths = hashlib.sha256(), array("q")
    reading = _reading(corpus, text_col, max_bytes, progress, "reading the corpus") if reporting else None
    for d in _documents(corpus, text_col, max_bytes, reading):
        digest.update(d)
        lengths.append(len(d))
    if len(lengths) < 2:
        hint = ("; in a text file a blank line ends a document: put one between documents (for one document "
                "per line: sed G), or give a folder of files or JSONL" if Path(corpus).is_file() and lengths else "")
        raise InputError(f"corpus {str(corpus)!r} has {len(lengths)} document(s); a train/validation split needs at "
                         f"least 2{hint}")
    sha = digest.hexdigest()
    settings = _settings(tokenizer, vocab_size, seed, val_fraction) | {"corpus_sha256": sha}
    if meta.is_file():
        old = json.loads(meta.read_text())
        if all(old.get(k) == v for k, v in settings.items() if k in old) and \
                {k: v for k, v in have.items() if k != "corpus_stamp"} == settings:
            write_json(out / "settings.json", settings | {"corpus_stamp": stamp})  # touched, not changed
            return Shards(**old)
    out.mkdir(parents=True, exist_ok=True)
    n_docs = len(lengths)
    order = np.random.default_rng(seed).permutation(n_docs)
    n_val = max(1, int(round(val_fraction * n_docs)))
    starts = np.concatenate([[0], np.cumsum(np.frombuffer(lengths, dtype=np.int64))])
    _check_disk(out, corpus, int(starts[-1]) + n_docs * len(EOT), tokenizer)
    # Second pass: the documents in corpus order into a scratch file, from which each split
    # is written in the seed's shuffled order, as from a list in memory.
    raw_path = out / "documents.tmp"
    try:
        with raw_path.open("wb") as fh:
            digest = hashlib.sha256()
            copying = _reading(corpus, text_col, max_bytes, progress, "reading the corpus again",
                               total=int(starts[-1])) if reporting else None
            for d in _documents(corpus, text_col, max_bytes, copying):
                fh.write(d)
                digest.update(d)
        if digest.hexdigest() != sha:
            raise InputError(f"corpus {str(corpus)!r} changed while its tokens were prepared; run again")
        with raw_path.open("rb") as raw:

            def docs(idx):  # read, not mapped: the pages read do not stay with the process
                return (os.pread(raw.fileno(), int(starts[i + 1] - starts[i]), int(starts[i])) for i in idx)

            splits = {"train": order[n_val:], "val": order[:n_val]}
            encode, vocab, dtype = _encoder(tokenizer, vocab_size, docs(splits["train"]), out, progress)
            counts = {split: _write_split(out / f"{split}.bin", docs(idx), len(idx), encode, dtype,
                                          lambda f, split=split: progress(f"encoding {split}", f))
                      for split, idx in splits.items()}
    finally:
        raw_path.unlink(missing_ok=True)
    shards = Shards(folder=str(out), tokenizer=tokenizer, vocab_size=vocab, dtype=dtype, train_tokens=counts["train"][0],
                    val_tokens=counts["val"][0], train_bytes=counts["train"][1], val_bytes=counts["val"][1],
                    documents=n_docs, corpus_sha256=sha)
    write_json(out / "settings.json", settings | {"corpus_stamp": stamp})
    write_json(meta, shards.to_dict())  # written last: its presence means the shards are complete
    return shards


def _check_disk(out: Path, corpus: str | Path, text_bytes: int, tokenizer: str) -> None:
    """Refuse before writing anything when ``out``'s disk cannot hold the scratch copy of the
    text and the shards: byte tokens take 2 bytes each, BPE's about one token per 2 bytes or
    fewer (uint16), so a bound of one byte per byte."""
    import shutil

    shard_bytes = text_bytes * (2 if tokenizer == "byte" else 1)
    need, free = text_bytes + shard_bytes, shutil.disk_usage(out).free
    if need > free:
        raise InputError(
            f"preparing the tokens of {str(corpus)!r} needs about {need / 1e9:.3g} GB free in {str(out)!r} (a "
            f"scratch copy of its text, {text_bytes / 1e9:.3g} GB, removed after, and the token shards, "
            f"{shard_bytes / 1e9:.3g} GB); that disk has {free / 1e9:.3g} GB: free some space, or set `shards` in "
            "the plan to a folder on a larger disk")


def _stamp(corpus: str | Path, text_col: str, max_bytes: int | None) -> str | None:
    """The corpus's files as the file system describes them (names, sizes, modification
    times) and what is read of them: shards whose stamp matches are reused without reading
    the corpus again, which on a corpus of tens of gigabytes takes minutes."""
    p = Path(corpus)
    if not p.exists():
        return None  # reading it says what is wrong
    h = hashlib.sha256(json.dumps([text_col, max_bytes]).encode())
    for f in folder_files(p) if p.is_dir() else [p]:
        st = f.stat()
        h.update(f"{f.relative_to(p) if p.is_dir() else p.name}\0{st.st_size}\0{st.st_mtime_ns}\n".encode())
    return h.hexdigest()


def _encoder(tokenizer: str, vocab_size: int, train_docs: Iterable[bytes], out: Path, progress):
    """``(encode, vocabulary size, dtype)`` of the shards: bytes as they are, or a BPE trained
    on the training documents."""
    if tokenizer == "byte":
        return (lambda b: np.frombuffer(b, dtype=np.uint8)), 256, "uint16"
    tok = _train_bpe(train_docs, vocab_size, out, progress)

    def encode(b: bytes):
        text = b.decode("utf-8", "replace")
        ids = []
        for i in range(0, len(text), ENCODE_BATCH_BYTES):
            ids += tok.encode(text[i:i + ENCODE_BATCH_BYTES]).ids
        return np.asarray(ids, dtype=np.int64)

    vocab = tok.get_vocab_size()
    return encode, vocab, "uint16" if vocab <= 65535 else "uint32"


def _write_split(path: Path, docs: Iterable[bytes], n_docs: int, encode, dtype: str, progress) -> tuple[int, int]:
    """Each document and the separator after it, encoded into ``path``: ``(tokens, bytes)``."""
    n_tokens = n_bytes = 0
    with atomic_path(path) as tmp, tmp.open("wb") as fh:
        for j, d in enumerate(docs):
            piece = d + EOT
            ids = encode(piece)
            fh.write(np.asarray(ids, dtype=dtype).tobytes())
            n_tokens += len(ids)
            n_bytes += len(piece)
            if j % 200 == 0:
                progress(j / max(1, n_docs))
    return n_tokens, n_bytes


def _documents(corpus: str | Path, text_col: str, max_bytes: int | None,
               read: Callable[[int], None] | None = None) -> Iterator[bytes]:
    """The corpus's documents, up to the one that brings it to ``max_bytes`` (joined);
    ``read`` is told the bytes read so far."""
    total = 0
    for j, d in enumerate(read_documents(corpus, text_col)):
        yield d
        total += len(d) + len(EOT)
        if read is not None and j % 1000 == 0:
            read(total)
        if max_bytes and total >= max_bytes:
            return


def _reading(corpus, text_col: str, max_bytes: int | None, progress, what: str, total: int | None = None):
    """A ``read`` callback for :func:`_documents` that reports ``what`` and the share read,
    of ``total`` bytes or of the corpus's estimated size."""
    if total is None:
        from scalelab.corpus.documents import estimate_bytes

        total = estimate_bytes(corpus, text_col)[0] if Path(corpus).exists() else 0
        total = min(total, max_bytes) if max_bytes else total
    return lambda done: progress(what, min(done / total, 0.99) if total else 0.0)


def _train_bpe(docs: Iterable[bytes], vocab_size: int, out: Path, progress):
    try:
        from tokenizers import ByteLevelBPETokenizer
    except ImportError:
        raise InputError("--tokenizer bpe needs the tokenizers package: pip install 'scalelab[train]'") from None
    if not 256 < vocab_size <= 2**20:
        raise InputError(f"--vocab-size {vocab_size}: give 257 to 1,048,576 for a BPE tokenizer")
    progress("training the BPE tokenizer", 0.0)
    tok = ByteLevelBPETokenizer()

    def batches():
        for d in docs:
            text = d.decode("utf-8", "replace")
            for i in range(0, len(text), ENCODE_BATCH_BYTES):
                yield text[i:i + ENCODE_BATCH_BYTES]

    tok.train_from_iterator(batches(), vocab_size=vocab_size, min_frequency=2, show_progress=False)
    tok.save(str(out / "tokenizer.json"))
    return tok
