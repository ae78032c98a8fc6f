"""The corpus audit: signatures as datasketch computes them, LSH candidates as MinHashLSH
finds them, duplicates against the truth of an injected corpus, sources, JSON, bad input."""

import json

import numpy as np
import pytest
from datasketch import MinHash, MinHashLSH
from typer.testing import CliRunner

from scalelab.cli import app
from scalelab.corpus import Settings, audit, read_documents
from scalelab.corpus.audit import band_keys, ngram_hashes, permutations, signatures, word_hashes
from scalelab.corpus.inject import inject_duplicates, jaccard
from scalelab.data import bundled_path
from scalelab.errors import InputError

runner = CliRunner()
FIELDS = ("documents", "bytes", "tokens", "exact_duplicate_documents", "near_duplicate_documents",
          "near_duplicate_fraction", "unique_tokens_estimate", "compression_ratio")


@pytest.fixture(scope="module")
def austen():
    return list(read_documents(bundled_path("austen")))[:3000]


def _write(path, docs):
    path.write_bytes(b"\n\n".join(d.replace(b"\n\n", b"\n") for d in docs))
    return path


def test_signatures_equal_datasketch_minhash(austen):
    perms = permutations(112, 1)
    docs = austen[100:130]
    shingles = [ngram_hashes(word_hashes(d), 5) for d in docs]
    owner = np.concatenate([np.full(s.size, i) for i, s in enumerate(shingles)])
    sig = signatures(np.concatenate(shingles), owner, len(docs), perms)
    for i, sh in enumerate(shingles):
        m = MinHash(num_perm=112, seed=1, hashfunc=int, scheme="legacy")
        m.update_batch(sh.tolist())
        np.testing.assert_array_equal(sig[i], m.hashvalues)


def test_band_keys_find_the_candidates_minhashlsh_finds(austen):
    docs, truth = inject_duplicates(austen, exact=0, near=40, templates=0, seed=3)
    shingles = [ngram_hashes(word_hashes(d), 5) for d in docs]
    owner = np.concatenate([np.full(s.size, i) for i, s in enumerate(shingles)])
    sig = signatures(np.concatenate(shingles), owner, len(docs), permutations(112, 1))
    keys = band_keys(sig, 14, 8)
    lsh = MinHashLSH(num_perm=112, params=(14, 8))
    for i in range(len(docs)):
        lsh.insert(i, MinHash(hashvalues=sig[i].astype(np.uint64), seed=1, scheme="legacy"))
    for t in truth:
        ours = {int(j) for j in np.flatnonzero((keys == keys[t.doc]).any(1))} - {t.doc}
        theirs = set(lsh.query(MinHash(hashvalues=sig[t.doc].astype(np.uint64), seed=1, scheme="legacy"))) - {t.doc}
        assert ours == theirs


def test_injected_duplicates_are_found_at_the_threshold(tmp_path, austen):
    docs, truth = inject_duplicates(austen, exact=40, near=80, templates=8, per_template=4, seed=1)
    a = audit(_write(tmp_path / "c.txt", docs))
    assert a.total.documents == len(docs)
    assert a.total.exact_duplicate_documents == len(docs) - len(set(docs))  # exact: exactly the repeated bytes
    removed = np.flatnonzero(a.kind > 0)
    # every near duplicate named resembles its kept document at the threshold (it was checked on the shingles)
    for j in np.flatnonzero(a.kind == 2):
        assert jaccard(docs[j], docs[a.duplicate_of[j]]) >= 0.8
    should = [t.doc for t in truth if t.kind == "exact" or jaccard(docs[t.doc], docs[t.of]) >= 0.8]
    recall = np.isin(should, removed).mean()
    assert recall >= 0.95
    # a near copy well below the threshold stays
    far = [t.doc for t in truth if t.kind == "near" and jaccard(docs[t.doc], docs[t.of]) < 0.5]
    assert far and not np.isin(far, removed).any()
    kept_tokens = sum(len(d) for i, d in enumerate(docs) if a.kind[i] == 0)
    assert a.total.unique_tokens_estimate == kept_tokens


def test_sources_overlap_and_json_fields(tmp_path, austen):
    (tmp_path / "human").mkdir()
    (tmp_path / "synthetic").mkdir()
    for i, d in enumerate(austen[:200]):
        (tmp_path / "human" / f"{i}.txt").write_bytes(d)
    for i, d in enumerate(austen[:50] + austen[1000:1100]):  # half of it copies the human source
        (tmp_path / "synthetic" / f"{i}.txt").write_bytes(d)
    a = audit(tmp_path)
    assert set(a.sources) == {"human", "synthetic"}
    assert a.overlap["synthetic"]["human"] == pytest.approx(50 / 150)
    assert "human" not in a.overlap
    d = a.to_dict()
    for k in FIELDS:
        assert k in d and all(k in s for s in d["sources"].values())
    assert d["sources"]["synthetic"]["exact_duplicate_documents"] >= 50
    assert d["unique_tokens_estimate"] == sum(s["unique_tokens_estimate"] for s in d["sources"].values())
    assert d["settings"]["num_perm"] == 112 and 0.6 < d["settings"]["s_curve_midpoint"] < 0.75


def test_repetitive_text_compresses_more_and_is_less_diverse(tmp_path, austen):
    varied = audit(_write(tmp_path / "a.txt", austen[:400]))
    samey = audit(_write(tmp_path / "b.txt", [austen[5] + b" " + str(i).encode() for i in range(400)]))
    assert samey.total.compression_ratio > 3 * varied.total.compression_ratio
    assert samey.total.ngram_diversity < varied.total.ngram_diversity
    assert samey.repeated_long_ngram_fraction > varied.repeated_long_ngram_fraction


def test_a_giant_cluster_is_warned_about(tmp_path, austen):
    docs = austen[:300] + [b"Chapter heading boilerplate " * 3] * 60
    a = audit(_write(tmp_path / "c.txt", docs))
    assert a.largest_clusters[0]["size"] == 60 and a.largest_clusters[0]["kinds"]["exact"] == 59
    assert any("a cluster of 60 documents" in w for w in a.warnings)


def test_bad_corpora_are_refused_with_nothing_written(tmp_path):
    binary = tmp_path / "x.bin"
    binary.write_bytes(bytes(range(256)) * 100)
    empty = tmp_path / "empty.txt"
    empty.write_bytes(b"")
    out = tmp_path / "audit.json"
    for path, message in ((binary, "does not look like text"), (empty, "holds no documents"),
                          (tmp_path / "missing", "does not exist")):
        r = runner.invoke(app, ["data", "audit", str(path), "--out", str(out)])
        assert r.exit_code == 2 and message in r.output, r.output
        assert not out.exists()
    with pytest.raises(InputError, match="raise --max-memory-gb, or lower --bands/--rows"):
        audit(bundled_path("austen"), settings=Settings(max_memory_gb=0.3))
    with pytest.raises(InputError, match="--threshold 1.5"):
        audit(bundled_path("austen"), settings=Settings(threshold=1.5))


def test_cli_writes_json_and_duplicates_and_plan_reads_it(tmp_path, austen):
    docs, _ = inject_duplicates(austen, exact=10, near=10, templates=0, seed=2)
    corpus = _write(tmp_path / "c.txt", docs)
    out, dups = tmp_path / "audit.json", tmp_path / "removed.csv"
    r = runner.invoke(app, ["data", "audit", str(corpus), "--out", str(out), "--duplicates", str(dups)])
    assert r.exit_code == 0, r.output
    d = json.loads(out.read_text())
    assert d["exact_duplicate_documents"] >= 10
    assert "exact duplicate documents" in r.stdout and "14 bands x 8 rows" in r.stdout
    import pandas as pd

    removed = pd.read_csv(dups, keep_default_na=False)
    assert list(removed.columns) == ["document", "where", "source", "kind", "preview", "kept_document", "kept_where",
                                     "kept_source", "kept_preview"]
    assert len(removed) == d["exact_duplicate_documents"] + d["near_duplicate_documents"]
    # each row says where both documents are: a text file's paragraphs, counted from 1
    paragraphs = [x.strip() for x in corpus.read_text().split("\n\n") if x.strip()]
    for _, row in removed.iterrows():
        for at, preview in ((row["where"], row["preview"]), (row["kept_where"], row["kept_preview"])):
            n = int(at.removeprefix("c.txt paragraph "))
            assert paragraphs[n - 1].startswith(preview)
    p = runner.invoke(app, ["plan", "--params", "2e6", "--tokens", "2e7", "--gpu", "h100", "--num-gpus", "8",
                            "--corpus-audit", str(out), "--json"])
    assert p.exit_code == 0, p.output
    data = json.loads(p.stdout)["data"]
    assert data["unique_tokens"] == d["unique_tokens_estimate"] and data["source"] == str(out)
    # the audit counted bytes: said so for a model of another vocabulary, not for a byte-level one
    assert "counted bytes" in p.stderr and "--tokenizer tokenizer.json" in p.stderr
    byte_model = ["--d-model", "64", "--layers", "2", "--heads", "2", "--vocab", "256", "--seq-len", "256"]
    p = runner.invoke(app, ["plan", *byte_model, "--tokens", "2e7", "--num-gpus", "1", "--corpus-audit", str(out)])
    assert p.exit_code == 0 and "counted bytes" not in p.stderr, p.output
    html = tmp_path / "audit.html"
    both = runner.invoke(app, ["data", "audit", str(corpus), str(bundled_path("austen")), "--json", "--html", str(html)])
    assert both.exit_code == 0 and len(json.loads(both.stdout)) == 2
    page = html.read_text()
    assert page.count("<img") == 1 and "exact duplicate documents" in page and "Largest clusters" in page
    assert page.count("<h2>") == 2
    bad = tmp_path / "bad.json"
    bad.write_text("{}")
    r = runner.invoke(app, ["plan", "--params", "2e6", "--tokens", "2e7", "--num-gpus", "8", "--corpus-audit", str(bad)])
    assert r.exit_code == 2 and "unique_tokens_estimate" in r.output


def test_tokens_are_counted_with_a_given_tokenizer(tmp_path, austen):
    tokenizers = pytest.importorskip("tokenizers")
    from tokenizers import models, pre_tokenizers, trainers

    tok = tokenizers.Tokenizer(models.BPE(unk_token="[UNK]"))
    tok.pre_tokenizer = pre_tokenizers.ByteLevel()
    tok.train_from_iterator([d.decode() for d in austen[:500]], trainers.BpeTrainer(vocab_size=500, show_progress=False))
    path = tmp_path / "tokenizer.json"
    tok.save(str(path))
    corpus = _write(tmp_path / "c.txt", austen[:300] + austen[:20])
    a = audit(corpus, settings=Settings(tokenizer=str(path)))
    want = sum(len(tok.encode(d.decode()).ids) for d in austen[:300] + austen[:20])
    assert a.total.tokens == want < a.total.bytes
    assert a.total.unique_tokens_estimate == sum(len(tok.encode(d.decode()).ids) for d in set(austen[:300]))
    with pytest.raises(InputError, match="--tokenizer 'nope.json'"):
        audit(corpus, settings=Settings(tokenizer="nope.json"))


def test_progress_counts_the_bytes_on_disk(tmp_path, austen):
    import lzma

    corpus = tmp_path / "c.txt.xz"
    corpus.write_bytes(lzma.compress(b"\n\n".join(austen[:2500])))
    seen = []
    a = audit(corpus, progress=lambda done, total: seen.append((done, total)))
    assert seen[-1] == (corpus.stat().st_size, corpus.stat().st_size)
    assert all(0 <= d <= t for d, t in seen) and [d for d, _ in seen] == sorted(d for d, _ in seen)
    assert a.total.documents == len([d for d in austen[:2500] if d.strip()])


def test_compression_ratio_counts_every_compressed_byte(tmp_path, austen):
    import zlib

    text = b"\n\n".join(austen[:200])
    a = audit(_write(tmp_path / "c.txt", austen[:200]))
    whole = len(zlib.compress(b"".join(d + b"\n\n" for d in austen[:200] if d.strip()), 6))
    assert a.total.compression_ratio == pytest.approx(a.total.bytes / whole, rel=0.01)
    assert a.total.compression_ratio == a.sources["c.txt"].compression_ratio
    assert len(text) > a.total.bytes  # the separators are not counted as the corpus's bytes


def test_a_duplicate_is_found_where_it_is_in_a_folder_and_in_jsonl(tmp_path):
    """The removed documents name their file (a folder's file, a JSONL's line), so they can be acted on."""
    text = " ".join(f"word{i} of the first" for i in range(80))
    other = " ".join(f"term{i} in another" for i in range(80))
    folder = tmp_path / "tree"
    (folder / "a").mkdir(parents=True)
    (folder / "b" / "deep").mkdir(parents=True)
    (folder / "a" / "one.py").write_text(text)
    (folder / "a" / "two.py").write_text(other)
    (folder / "b" / "deep" / "copy.py").write_text(text)
    rows = audit(folder).duplicates_frame()
    assert rows[["where", "kept_where", "kind"]].values.tolist() == [["b/deep/copy.py", "a/one.py", "exact"]]
    shard = tmp_path / "docs.jsonl"
    shard.write_text(json.dumps({"text": text}) + "\n\n" + json.dumps({"text": other}) + "\n"
                     + json.dumps({"text": text.replace("word40 ", "w40 ")}) + "\n")
    rows = audit(shard).duplicates_frame()
    assert rows[["where", "kept_where", "kind"]].values.tolist() == [["docs.jsonl:4", "docs.jsonl:1", "near"]]
    assert rows["preview"][0] == text.replace("word40 ", "w40 ")[:100]


def test_a_parquet_duplicate_names_its_row(tmp_path):
    pd = pytest.importorskip("pandas")
    pytest.importorskip("pyarrow")
    text = " ".join(f"word{i} of the first" for i in range(80))
    pd.DataFrame({"text": [text, None, "something else entirely, " * 20, text]}).to_parquet(tmp_path / "d.parquet")
    rows = audit(tmp_path / "d.parquet").duplicates_frame()
    assert rows[["where", "kept_where", "kind"]].values.tolist() == [["d.parquet row 4", "d.parquet row 1", "exact"]]


def test_the_html_page_shows_a_duplicates_line_breaks_as_breaks(tmp_path):
    """A cluster's previews keep their text on one line, line breaks marked (a table cell
    had shown them as a literal backslash-n)."""
    from scalelab.report.audit import audit_report

    doc = "first line of a document that repeats\nits second line, also repeated"
    corpus = tmp_path / "c.txt"
    corpus.write_text(f"{doc}\n\nsomething else entirely, said once\n\n{doc}\n")
    page = audit_report([audit(corpus)])
    assert "first line of a document that repeats ↵ its second line" in page
    assert "\\n" not in page.split("Largest clusters")[1]
