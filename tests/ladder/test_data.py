import json

import numpy as np
import pytest

from scalelab.data import bundled_path
from scalelab.errors import CorpusWarning, InputError
from scalelab.ladder.data import Shards, prepare, read_documents


def test_byte_shards(shards):
    assert shards.tokenizer == "byte" and shards.vocab_size == 256
    assert shards.train_tokens == shards.train_bytes and shards.val_tokens == shards.val_bytes
    assert len(shards.train()) == shards.train_tokens and shards.val().max() < 256
    assert shards.bits_per_byte(np.log(2)) == pytest.approx(1.0)


def test_split_by_document_is_disjoint_and_seeded(tmp_path):
    src = tmp_path / "c.txt"
    docs = [f"document number {i} " + "word " * (i % 7 + 3) for i in range(200)]
    src.write_text("\n\n".join(docs))
    a = prepare(src, tmp_path / "a", val_fraction=0.1, seed=1)
    b = prepare(src, tmp_path / "b", val_fraction=0.1, seed=1)
    assert bytes(a.val().astype(np.uint8)) == bytes(b.val().astype(np.uint8))
    val_text = bytes(a.val().astype(np.uint8)).decode()
    train_text = bytes(a.train().astype(np.uint8)).decode()
    val_docs = {d for d in docs if d.strip() in val_text}
    assert 15 <= len(val_docs) <= 25
    assert not any(d.strip() + "\n\n" in train_text for d in val_docs)


def test_a_corpus_is_prepared_as_a_stream_into_the_shards_a_list_would_give(tmp_path):
    """Preparing never holds the corpus: Python's peak allocation stays a small share of a
    12 MB JSONL corpus; the shards are the documents of the seed's shuffled split, each
    followed by the separator, in that order, and no scratch file is left behind."""
    import tracemalloc

    rng = np.random.default_rng(0)
    words = np.array(["alpha", "beta", "gamma", "delta", "epsilon", "zeta", "eta", "theta"])
    docs = [" ".join(rng.choice(words, rng.integers(200, 4000))) for _ in range(1000)]
    src = tmp_path / "c.jsonl"
    src.write_text("".join(json.dumps({"text": d}) + "\n" for d in docs))
    size = src.stat().st_size
    assert size > 10e6
    tracemalloc.start()
    try:
        s = prepare(src, tmp_path / "s", val_fraction=0.05, seed=3)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert peak < size / 8, f"{peak:,} bytes at the peak for a corpus of {size:,}"
    order = np.random.default_rng(3).permutation(len(docs))
    n_val = round(0.05 * len(docs))
    want = {"val": order[:n_val], "train": order[n_val:]}
    for split, got in (("train", s.train()), ("val", s.val())):
        assert bytes(got.astype(np.uint8)) == b"".join(docs[i].encode() + b"\n\n" for i in want[split])
    assert sorted(p.name for p in (tmp_path / "s").iterdir()) == ["meta.json", "settings.json", "train.bin", "val.bin"]


def test_a_corpus_that_changes_while_it_is_prepared_is_refused(tmp_path, monkeypatch):
    """The corpus is read twice (its hash, then its documents): a change in between would
    give shards that match no corpus, so it is refused and nothing is kept."""
    import scalelab.ladder.data as data

    src = tmp_path / "c.txt"
    src.write_text("\n\n".join(f"doc {i}" for i in range(50)))
    reads = []
    real = data._documents

    def documents(*args):
        reads.append(1)
        for d in real(*args):
            yield d if len(reads) == 1 else d.upper()

    monkeypatch.setattr(data, "_documents", documents)
    with pytest.raises(InputError, match=r"changed while its tokens were prepared; run again"):
        prepare(src, tmp_path / "s")
    assert list((tmp_path / "s").iterdir()) == []


def test_a_disk_too_small_for_the_tokens_is_refused_before_anything_is_written(tmp_path, monkeypatch):
    """The scratch copy of the text and the shards need about 3 bytes per byte of text (byte
    tokens are 2 bytes): a disk with less is refused up front, not part-way through encoding."""
    import shutil
    from collections import namedtuple

    src = tmp_path / "c.txt"
    src.write_text("\n\n".join(f"document {i} " * 50 for i in range(200)))  # ~125 kB
    usage = namedtuple("usage", "total used free")
    monkeypatch.setattr(shutil, "disk_usage", lambda p: usage(10**12, 10**12 - 200_000, 200_000))
    with pytest.raises(InputError, match=r"needs about 0.000\d+ GB free in .*that disk has 0.0002 GB: free some"):
        prepare(src, tmp_path / "s")
    assert list((tmp_path / "s").iterdir()) == []
    monkeypatch.setattr(shutil, "disk_usage", lambda p: usage(10**12, 10**12 - 400_000, 400_000))
    assert prepare(src, tmp_path / "s").train_tokens > 100_000


def test_reused_when_unchanged(tmp_path, monkeypatch):
    """Shards are reused without reading the corpus while its file is untouched; touched
    (a new modification time), it is read and hashed again, and the shards still kept when
    its documents are the same; changed, the shards are made again."""
    import os

    import scalelab.ladder.data as data

    src = tmp_path / "c.txt"
    src.write_text("\n\n".join(f"doc {i}" for i in range(50)))
    a = prepare(src, tmp_path / "s")
    mtime = (tmp_path / "s" / "train.bin").stat().st_mtime_ns
    reads = []
    real = data._documents
    monkeypatch.setattr(data, "_documents", lambda *args: reads.append(1) or real(*args))
    assert prepare(src, tmp_path / "s") == a and reads == []
    os.utime(src, ns=(src.stat().st_atime_ns, src.stat().st_mtime_ns + 10**9))
    assert prepare(src, tmp_path / "s") == a and reads == [1]
    assert prepare(src, tmp_path / "s") == a and reads == [1]  # the new time is remembered
    assert (tmp_path / "s" / "train.bin").stat().st_mtime_ns == mtime
    src.write_text("\n\n".join(f"doc {i}" for i in range(60)))
    assert prepare(src, tmp_path / "s").documents == 60


def test_bpe_tokenizer_and_bits_per_byte(tmp_path):
    pytest.importorskip("tokenizers", reason="needs tokenizers: pip install 'scalelab[train]'")
    s = prepare(bundled_path("austen"), tmp_path / "bpe", tokenizer="bpe", vocab_size=1000, max_bytes=400_000)
    assert s.vocab_size <= 1000 and s.dtype == "uint16"
    assert s.val_tokens < s.val_bytes / 2  # BPE merges bytes: fewer tokens than bytes
    assert (tmp_path / "bpe" / "tokenizer.json").is_file()
    # the same loss per byte, expressed per token, gives the same bits per byte
    assert s.bits_per_byte(2.0 * s.val_bytes / s.val_tokens * np.log(2)) == pytest.approx(2.0)


def test_jsonl_and_folder_corpora(tmp_path):
    jl = tmp_path / "c.jsonl"
    jl.write_text("\n".join(json.dumps({"body": f"text {i}"}) for i in range(5)))
    assert list(read_documents(jl, text_col="body"))[0] == b"text 0"
    nulls = tmp_path / "nulls.jsonl"  # a record with null or empty text is no document; a number is its text
    nulls.write_text("\n".join(json.dumps({"text": t}) for t in ("a", None, "", 12345, "b")))
    assert list(read_documents(nulls)) == [b"a", b"12345", b"b"]
    folder = tmp_path / "docs"
    folder.mkdir()
    for i in range(3):
        (folder / f"{i}.txt").write_text(f"file {i}")
    assert len(list(read_documents(folder))) == 3


def test_errors(tmp_path):
    with pytest.raises(InputError, match=r"corpus .* does not exist"):
        list(read_documents(tmp_path / "none.txt"))
    one = tmp_path / "one.txt"
    one.write_text("just one document\nwith a second line")
    with pytest.raises(InputError, match=r"has 1 document\(s\); a train/validation split needs at least 2; in a "
                                         r"text file a blank line ends a document"):
        prepare(one, tmp_path / "s1")
    with pytest.raises(InputError, match=r"--tokenizer 'word': choose byte or bpe"):
        prepare(one, tmp_path / "s2", tokenizer="word")
    jl = tmp_path / "bad.jsonl"
    jl.write_text('{"text": "a"}\n{"other": 1}\n{"text": "b"}\n{"text": "cut sho')
    with pytest.warns(CorpusWarning, match=r"2 of its 4 lines were left out, the first at line 2: not a JSON object "
                                           r"with a 'text' field \(its fields: other\)"):
        assert list(read_documents(jl)) == [b"a", b"b"]  # a stray record or a cut last line is not the whole corpus
    jl.write_text('{"other": 1}\n{"other": 2}\n')
    with pytest.raises(InputError, match=r"line 1: not a JSON object with a 'text' field \(its fields: other\); name the"):
        list(read_documents(jl))
    with pytest.raises(InputError, match=r"no token shards"):
        Shards.load(tmp_path)


def test_empty_and_binary_corpora_are_refused(tmp_path):
    empty = tmp_path / "empty.txt"
    empty.write_text("\n\n  \n")
    with pytest.raises(InputError, match=r"has 0 document\(s\)"):
        prepare(empty, tmp_path / "s1")
    blob = tmp_path / "weights.txt"
    blob.write_bytes(bytes(range(256)) * 64)
    with pytest.raises(InputError, match=r"does not look like text"):
        prepare(blob, tmp_path / "s2")
    folder = tmp_path / "mixed"
    folder.mkdir()
    (folder / "a.txt").write_text("fine text " * 50)
    (folder / "b.png").write_bytes(b"\x89PNG\r\n\x1a\n" + bytes(1000))
    with pytest.warns(CorpusWarning, match=r"1 of its 2 files are not text .* left out: b\.png"):
        assert list(read_documents(folder)) == [b"fine text " * 49 + b"fine text"]  # a source tree's image is left out
    (folder / "a.txt").unlink()
    with pytest.raises(InputError, match=r"none of its 1 files looks like text .*'b\.png'"):
        list(read_documents(folder))
    assert not (tmp_path / "s1").exists() and not (tmp_path / "s2").exists()


def test_a_checkout_is_read_without_its_history_or_its_logs(tmp_path):
    """A folder corpus that is a repository: what is under .git is not text of the corpus,
    and a JSONL log beside the sources (no text field) is left out with a warning, not a
    reason to refuse the folder; a folder of JSONL none of which has the field is refused."""
    import gzip

    repo = tmp_path / "repo"
    (repo / ".git" / "logs").mkdir(parents=True)
    (repo / ".git" / "logs" / "HEAD").write_text("0000 1111 someone <a@b> commit: first\n")
    (repo / ".git" / "config").write_text("[core]\n\tbare = false\n")
    (repo / "src").mkdir()
    (repo / "src" / "main.py").write_text("def main():\n    return 1\n")
    (repo / "runs").mkdir()
    (repo / "runs" / "train_log.jsonl").write_text('{"step": 1, "loss": 4.2}\n{"step": 2, "loss": 4.1}\n')
    (repo / "data.jsonl.gz").write_bytes(gzip.compress(b'{"text": "a document in a shard"}\n'))
    with pytest.warns(CorpusWarning, match=r"1 of its 3 files are JSONL, CSV, Parquet or Arrow without a 'text' field .* "
                                           r"left out: runs/train_log\.jsonl"):
        docs = list(read_documents(repo))
    assert docs == [b"a document in a shard", b"def main():\n    return 1"]
    from scalelab.corpus.documents import check_corpus

    (repo / "data.jsonl.gz").unlink()
    (repo / "a_log.jsonl").write_text('{"step": 1, "loss": 4.2}\n')  # the first file, sorted
    check_corpus(repo)  # what a ladder's design looks at: the first file that reads as the corpus
    logs = tmp_path / "logs"
    logs.mkdir()
    (logs / "a.jsonl").write_text('{"step": 1, "loss": 4.2}\n')
    with pytest.raises(InputError, match=r"none of its 1 JSONL, CSV, Parquet or Arrow files has a 'text' field .*--text-col"):
        list(read_documents(logs))


def test_a_package_s_empty_files_are_left_out_and_said(tmp_path):
    """A source tree's empty ``__init__.py`` sorts first: the design's look at the corpus goes
    past it to the first file with text, and reading says which files held none."""
    from scalelab.corpus.documents import check_corpus

    pkg = tmp_path / "pkg"
    (pkg / "sub").mkdir(parents=True)
    (pkg / "__init__.py").write_text("")
    (pkg / "sub" / "__init__.py").write_text("\n  \n")
    (pkg / "sub" / "mod.py").write_text("X = 1\n")
    check_corpus(pkg)
    with pytest.warns(CorpusWarning, match=r"2 of its 3 files are empty .* left out: __init__\.py, sub/__init__\.py"):
        assert list(read_documents(pkg)) == [b"X = 1"]
    (pkg / "sub" / "mod.py").write_text("")
    for look in (check_corpus, lambda p: list(read_documents(p))):
        with pytest.raises(InputError, match=r"corpus folder .*pkg': all of its (3 )?files are empty"):
            look(pkg)


def test_a_folder_of_binaries_is_refused_as_a_folder_and_text_behind_them_is_found(tmp_path):
    """The design's look at a folder goes past any number of binary files (a tree of
    compiled files sorts first) to the first text; a folder with none says so of the folder."""
    from scalelab.corpus.documents import check_corpus

    tree = tmp_path / "tree"
    (tree / "__pycache__").mkdir(parents=True)
    for i in range(60):
        (tree / "__pycache__" / f"m{i:02d}.pyc").write_bytes(bytes(range(256)) * 4)
    with pytest.raises(InputError, match=r"corpus folder .*tree': none of its 60 files is text, JSONL, CSV, Parquet or Arrow "
                                         r"with a 'text' field \(binary or not UTF-8, e\.g\. '__pycache__/m00\.pyc'\)"):
        check_corpus(tree)
    (tree / "z_last.py").write_text("print('the only text')\n")
    check_corpus(tree)  # found behind the 60 binaries (the first 51 were looked at before)


def test_shards_outlive_their_corpus(tmp_path):
    """A corpus removed once its tokens were prepared (a scratch disk) leaves the shards
    usable for the same settings, with a warning; other settings need the corpus."""
    src = tmp_path / "c.txt"
    src.write_text("\n\n".join(f"document {i} " * 30 for i in range(200)))
    first = prepare(src, tmp_path / "s")
    src.unlink()
    with pytest.warns(CorpusWarning, match=r"is not there; using the tokens prepared from it"):
        assert prepare(src, tmp_path / "s") == first
    with pytest.raises(InputError, match=r"does not exist"):
        prepare(src, tmp_path / "s", seed=1)
