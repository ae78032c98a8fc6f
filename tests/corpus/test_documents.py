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
