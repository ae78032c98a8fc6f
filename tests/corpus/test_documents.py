"""Reading corpora: Parquet and JSONL shards are read a batch (a line) at a time."""

import gzip
import json

import pytest

from scalelab.corpus.documents import read_documents, read_sourced
from scalelab.errors import InputError


def test_a_parquet_corpus_over_several_record_batches(tmp_path):
    """10,000 rows (three of the reader's batches): every row with text, in order, with its
    source; a row without text is no document; a missing column is named with the option."""
    pa = pytest.importorskip("pyarrow")
    pq = pytest.importorskip("pyarrow.parquet")
    texts = [None if i % 1000 == 7 else f"document {i}" for i in range(10_000)]
    sources = ["web" if i % 3 else "books" for i in range(10_000)]
    path = tmp_path / "shard.parquet"
    pq.write_table(pa.table({"text": texts, "src": sources, "n": list(range(10_000))}), path, row_group_size=3000)
    got = list(read_sourced(path, source_col="src"))
    want = [(s, t.encode()) for t, s in zip(texts, sources) if t is not None]
    assert len(got) == 9_990 and got == want
    assert list(read_documents(path)) == [t for _, t in want]
    with pytest.raises(InputError, match=r"has no column 'body'; columns: text, src, n; name it with --text-col"):
        list(read_documents(path, text_col="body"))
    (tmp_path / "junk.parquet").write_bytes(b"PAR1 not really")
    with pytest.raises(InputError, match=r"cannot read .*junk\.parquet' as Parquet"):
        list(read_documents(tmp_path / "junk.parquet"))


def test_a_compressed_jsonl_shard_is_read_line_by_line(tmp_path):
    rows = [{"text": f"line {i}\r\nwith a second line", "id": i} for i in range(5000)]
    path = tmp_path / "shard.jsonl.gz"
    path.write_bytes(gzip.compress("".join(json.dumps(r) + "\r\n" for r in rows).encode()))
    docs = read_documents(path)
    assert next(docs) == b"line 0\r\nwith a second line"  # a generator: the first document before the rest
    assert len(list(docs)) == 4999


def test_nested_fields_by_their_dotted_path(tmp_path):
    """The Pile's rows name their source in a nested field (meta.pile_set_name): read by its
    path from JSONL and from a Parquet struct column, and a folder of such shards is taken as
    having the fields; a path into nothing is named."""
    pa = pytest.importorskip("pyarrow")
    pq = pytest.importorskip("pyarrow.parquet")
    rows = [{"text": f"doc {i}", "meta": {"pile_set_name": "Pile-CC" if i % 2 else "Github"}} for i in range(6)]
    want = [(r["meta"]["pile_set_name"], r["text"].encode()) for r in rows]
    folder = tmp_path / "pile"
    folder.mkdir()
    (folder / "00.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
    assert list(read_sourced(folder / "00.jsonl", source_col="meta.pile_set_name")) == want
    assert list(read_sourced(folder, source_col="meta.pile_set_name")) == want
    pq.write_table(pa.Table.from_pylist(rows), tmp_path / "pile.parquet")
    assert list(read_sourced(tmp_path / "pile.parquet", source_col="meta.pile_set_name")) == want
    with pytest.raises(InputError, match=r"column 'meta' has no field 'source'"):
        list(read_sourced(tmp_path / "pile.parquet", source_col="meta.source"))
    with pytest.raises(InputError, match=r"not a JSON object with 'text' and 'meta.source' fields"):
        list(read_sourced(folder / "00.jsonl", source_col="meta.source"))


def _save_like_hf(folder, table, batch=1000):
    """A split as Hugging Face ``datasets`` saves it (``save_to_disk``): Arrow's streaming
    format in data-NNNNN-of-NNNNN.arrow, beside its dataset_info.json and state.json."""
    pa = pytest.importorskip("pyarrow")
    folder.mkdir(parents=True)
    with pa.OSFile(str(folder / "data-00000-of-00001.arrow"), "wb") as sink:
        with pa.ipc.new_stream(sink, table.schema) as writer:
            for b in table.to_batches(max_chunksize=batch):
                writer.write_batch(b)
    (folder / "dataset_info.json").write_text(json.dumps({"citation": "", "description": "", "features": {
        "text": {"dtype": "string", "_type": "Value"}}}, indent=2))
    (folder / "state.json").write_text(json.dumps({"_data_files": [{"filename": "data-00000-of-00001.arrow"}]}))


def test_a_saved_hugging_face_dataset_is_read_from_its_arrow_files(tmp_path):
    """A saved dataset (one split, or a DatasetDict of splits) was read as its two JSON
    bookkeeping files (508 bytes) with the data left out as 'not text'; now its Arrow rows
    are the documents, a split is a source, and the bookkeeping is not text of the corpus."""
    pa = pytest.importorskip("pyarrow")
    from scalelab.corpus import audit

    texts = [f"document {i} " * 5 for i in range(2500)]
    table = pa.table({"text": texts, "meta": [{"src": "web" if i % 2 else "books"} for i in range(2500)]})
    _save_like_hf(tmp_path / "ds", table)
    want = [t.encode().strip() for t in texts]
    assert [d.strip() for d in read_documents(tmp_path / "ds")] == want
    assert [d.strip() for d in read_documents(tmp_path / "ds" / "data-00000-of-00001.arrow")] == want
    assert {s for s, _ in read_sourced(tmp_path / "ds", source_col="meta.src")} == {"web", "books"}
    _save_like_hf(tmp_path / "dd" / "train", table)
    _save_like_hf(tmp_path / "dd" / "validation", table.slice(0, 100))
    (tmp_path / "dd" / "dataset_dict.json").write_text('{"splits": ["train", "validation"]}')
    from scalelab.corpus.documents import check_corpus
    from scalelab.errors import CorpusWarning

    with pytest.warns(CorpusWarning, match=r"a saved dataset of 2 splits \(train, validation\), all of which would be "
                                          r"read; for one split give its folder, e.g. --corpus .*dd/train"):
        check_corpus(tmp_path / "dd")  # what a ladder's design checks: training on the validation split too
    a = audit(tmp_path / "dd")
    assert a.total.documents == 2600 and a.total.exact_duplicate_documents == 100  # validation repeats train's first rows
    assert a.overlap["validation"]["train"] == 1.0
    with pa.OSFile(str(tmp_path / "file.arrow"), "wb") as sink:  # Arrow's file format reads too
        with pa.ipc.new_file(sink, table.schema) as writer:
            writer.write_table(table)
    assert len(list(read_documents(tmp_path / "file.arrow"))) == 2500
    (tmp_path / "junk.arrow").write_bytes(b"not arrow at all")
    with pytest.raises(InputError, match=r"cannot read .*junk\.arrow' as Arrow"):
        list(read_documents(tmp_path / "junk.arrow"))


def test_zstd_and_dolma_style_json_gz_shards(tmp_path, monkeypatch):
    """The Pile's and SlimPajama's shards are .jsonl.zst, C4's and Dolma's .json.gz (JSON
    lines under a .json name): each record is a document. A .json.gz shard was read as one
    document of raw JSON, a .zst one left out as binary."""
    zstandard = pytest.importorskip("zstandard")
    from scalelab.corpus import audit
    from scalelab.corpus.documents import check_corpus

    rows = [{"text": f"record {i} " * 10, "meta": {"pile_set_name": "Pile-CC" if i % 2 else "Github"}} for i in range(300)]
    lines = "".join(json.dumps(r) + "\n" for r in rows).encode()
    folder = tmp_path / "shards"
    folder.mkdir()
    (folder / "00.jsonl.zst").write_bytes(zstandard.ZstdCompressor().compress(lines))
    (folder / "c4-train.00000-of-01024.json.gz").write_bytes(gzip.compress(lines))
    want = [r["text"].encode().strip() for r in rows]
    assert [d.strip() for d in read_documents(folder / "00.jsonl.zst")] == want
    assert [d.strip() for d in read_documents(folder / "c4-train.00000-of-01024.json.gz")] == want
    assert audit(folder).total.documents == 600
    assert {s for s, _ in read_sourced(folder / "00.jsonl.zst", source_col="meta.pile_set_name")} == {"Pile-CC", "Github"}
    check_corpus(folder / "00.jsonl.zst")
    (tmp_path / "book.txt.zst").write_bytes(zstandard.ZstdCompressor().compress(b"one\n\ntwo\n\nthree\n"))
    assert list(read_documents(tmp_path / "book.txt.zst")) == [b"one", b"two", b"three"]
    (tmp_path / "cut.jsonl.zst").write_bytes(zstandard.ZstdCompressor().compress(lines)[:-9])
    with pytest.raises(InputError, match=r"cannot read .*cut\.jsonl\.zst'"):
        list(read_documents(tmp_path / "cut.jsonl.zst"))
    import builtins

    real = builtins.__import__
    monkeypatch.setattr(builtins, "__import__", lambda name, *a, **k: (_ for _ in ()).throw(ImportError(name))
                        if name == "zstandard" else real(name, *a, **k))
    with pytest.raises(InputError, match=r"compressed with zstd: pip install 'scalelab\[zstd\]'"):
        list(read_documents(folder / "00.jsonl.zst"))


def test_a_csv_corpus_is_read_as_a_table(tmp_path):
    """A CSV (or TSV, compressed or not) with a header row is a table: a document a row of its
    text column, quoted values with new lines and commas kept whole, numbers in the column
    read as text; without the column it is refused (a single file) or left out (a folder)."""
    import csv

    from scalelab.corpus.documents import check_corpus
    from scalelab.errors import CorpusWarning

    rows = [{"id": i, "content": f"paragraph {i}, with a comma\n\nand a blank line" if i % 2 else str(i)} for i in range(30_000)]
    path = tmp_path / "docs.csv"
    with path.open("w", newline="") as fh:
        w = csv.DictWriter(fh, ["id", "content"])
        w.writeheader()
        w.writerows(rows)
    want = [r["content"].encode() for r in rows]
    assert list(read_documents(path, text_col="content")) == want  # over several of the reader's blocks
    gz = tmp_path / "docs.tsv.gz"
    gz.write_bytes(gzip.compress(b"content\tsource\n" + b"".join(f"doc {i}\ts{i % 2}\n".encode() for i in range(5))))
    assert list(read_sourced(gz, text_col="content", source_col="source"))[:2] == [("s0", b"doc 0"), ("s1", b"doc 1")]
    with pytest.raises(InputError, match=r"has no column 'text'; columns: id, content; name it with --text-col"):
        check_corpus(path)
    (tmp_path / "empty.csv").write_text("")
    with pytest.raises(InputError, match=r"^'.*empty\.csv' is empty: a CSV corpus needs a header row"):
        check_corpus(tmp_path / "empty.csv")
    tree = tmp_path / "tree"
    tree.mkdir()
    (tree / "mod.py").write_text("def f():\n    return 1\n")
    (tree / "data.csv").write_text("x,y\n1,2\n")
    with pytest.warns(CorpusWarning, match=r"1 of its 2 files .* without a 'text' field .*data\.csv"):
        assert list(read_documents(tree)) == [b"def f():\n    return 1"]
