"""``scalelab data audit``: what a corpus is worth in unique tokens, its duplicates and diversity."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Annotated, Optional

import typer
from rich.markup import escape
from rich.table import Table

from scalelab.cli.common import Json, app, err, out, print_json, run
from scalelab.errors import ScalelabError

data_app = typer.Typer(add_completion=False, rich_markup_mode=None, no_args_is_help=True,
                       help="Corpora: duplicates, diversity and the unique tokens a corpus is worth.",
                       epilog="""\b
Examples:
  scalelab data audit corpus/ --out audit.json
  scalelab data audit human.jsonl synthetic.jsonl --source-col source
""")
app.add_typer(data_app, name="data")


@data_app.command("audit", epilog="""\b
Examples:
  scalelab data audit corpus.txt.xz
  scalelab data audit corpus/ --out audit.json --duplicates removed.csv
  scalelab data audit human.jsonl synthetic.jsonl --source-col source --threshold 0.7 --html audit.html
""")
def data_audit(
    paths: Annotated[list[Path], typer.Argument(help="Corpora (text file, folder, JSONL, CSV, Parquet, Arrow: a saved Hugging Face dataset); two or more are shown side by side.", show_default=False, metavar="CORPUS...")],
    text_col: Annotated[str, typer.Option("--text-col", help="Text field of JSONL/CSV/Parquet/Arrow rows (a nested one by its path: doc.text).")] = "text",
    source_col: Annotated[Optional[str], typer.Option("--source-col", help="Field naming each row's source, nested ones by their path (The Pile's meta.pile_set_name) [default: a folder's subfolders, else the file].")] = None,
    tokenizer: Annotated[str, typer.Option("--tokenizer", help="byte, or a Hugging Face tokenizer.json to count tokens with.")] = "byte",
    shingle: Annotated[int, typer.Option("--shingle", help="MinHash shingles: word n-grams of this length.")] = 5,
    bands: Annotated[int, typer.Option("--bands", help="LSH bands.")] = 14,
    rows: Annotated[int, typer.Option("--rows", help="Hash functions per band (bands x rows in all).")] = 8,
    threshold: Annotated[float, typer.Option("--threshold", help="Estimated Jaccard similarity to the kept document that makes a near duplicate.")] = 0.8,
    max_memory_gb: Annotated[float, typer.Option("--max-memory-gb", help="Refuse a corpus whose signatures would need more memory than this.")] = 2.0,
    out_path: Annotated[Optional[Path], typer.Option("--out", help="Also write the audit as JSON (what --json prints; plan --corpus-audit reads it).")] = None,
    html_path: Annotated[Optional[Path], typer.Option("--html", help="Write a one-page HTML report (the corpora side by side, with figures).")] = None,
    duplicates_path: Annotated[Optional[Path], typer.Option("--duplicates", help="Write every removed document with the kept document it duplicates to this CSV, each with where it is (file, line, row or paragraph) and its first 100 bytes (one corpus).")] = None,
    as_json: Json = False,
) -> None:
    """Audit corpora: documents, bytes, tokens, exact and near-duplicate documents (MinHash
    LSH), clusters with the kept document each duplicates, overlap between sources,
    compression ratio and n-gram diversity per source, and the unique tokens left after
    deduplication -- the figure `scalelab plan --corpus-audit` takes."""
    from scalelab.corpus import Settings, audit

    settings = Settings(shingle=shingle, bands=bands, rows=rows, threshold=threshold, tokenizer=tokenizer,
                        max_memory_gb=max_memory_gb)

    def go():
        from scalelab.io import check_writable

        check_writable(out_path)
        check_writable(duplicates_path)
        check_writable(html_path)
        if html_path is not None and html_path.suffix.lower() not in (".html", ".htm"):
            raise ScalelabError(f"--html {html_path}: give a .html file")
        if duplicates_path is not None and len(paths) > 1:
            raise ScalelabError("--duplicates lists one corpus's duplicates: audit one corpus at a time")
        results = []
        for p in paths:
            if as_json or not sys.stderr.isatty():
                results.append(audit(p, settings=settings, text_col=text_col, source_col=source_col))
                continue
            from rich.progress import BarColumn, DownloadColumn, Progress, TextColumn, TimeRemainingColumn

            with Progress(TextColumn("auditing {task.description}"), BarColumn(), DownloadColumn(),
                          TimeRemainingColumn(), console=err, transient=True) as bar:
                task = bar.add_task(str(p), total=None)
                results.append(audit(p, settings=settings, text_col=text_col, source_col=source_col,
                                     progress=lambda done, total: bar.update(task, completed=done, total=total)))
        return results

    audits = run(go)
    docs = [a.to_dict() for a in audits]
    doc = docs[0] if len(docs) == 1 else docs
    from scalelab.io import atomic_write_text

    if out_path is not None:
        from scalelab.cli.common import json_text

        run(lambda: atomic_write_text(out_path, json_text(doc)))
    if html_path is not None:
        from scalelab.report.audit import audit_report

        run(lambda: atomic_write_text(html_path, audit_report(audits)))
    if duplicates_path is not None:
        from scalelab.io import write_table

        run(lambda: write_table(audits[0].duplicates_frame(), duplicates_path))
    if as_json:
        print_json(doc)
        return
    from scalelab.corpus.audit import summary_rows

    s = settings
    t = Table("", *[escape(str(a.path)) for a in audits])
    for label, cells in summary_rows(audits):
        t.add_row(label, *cells)
    out.print(t)
    out.print(f"near duplicates: MinHash of word {s.shingle}-grams, {s.bands} bands x {s.rows} rows ({s.num_perm} hashes; "
              f"a pair becomes a candidate with probability 1/2 at Jaccard {s.s_curve_midpoint:.2f}, "
              f"{s.candidate_probability(s.threshold):.0%} at {s.threshold:g}); a candidate is a near duplicate when the "
              f"Jaccard similarity of its shingles to the kept document's is >= {s.threshold:g}")
    for a in audits:
        if len(a.sources) > 1:
            st = Table("source", "documents", "tokens", "exact dup.", "near dup.", "unique tokens", "compression",
                       "diversity", title=f"sources of {escape(a.path)}")
            for name, v in a.sources.items():
                st.add_row(escape(name), f"{v.documents:,}", f"{v.tokens:,}", f"{v.exact_duplicate_documents:,}",
                           f"{v.near_duplicate_documents:,}", f"{v.unique_tokens_estimate:,}", f"{v.compression_ratio:.2f}",
                           f"{v.ngram_diversity:.2f}")
            out.print(st)
        if a.overlap:
            pairs = sorted(((x, y, f) for x, row in a.overlap.items() for y, f in row.items()), key=lambda r: -r[2])[:5]
            out.print("overlap: " + "; ".join(f"{f:.1%} of {escape(x)}'s documents duplicate {escape(y)}'s"
                                              for x, y, f in pairs))
        for c in a.largest_clusters[:3]:
            out.print(f"cluster of {c['size']} ({c['kinds']['exact']} exact, {c['kinds']['near']} near) kept "
                      f"document {c['kept_document']} ({escape(c['kept_where'])}): {escape(repr(c['kept_preview'][:70]))}; "
                      f"a duplicate ({escape(c['duplicate_where'])}): {escape(repr(c['duplicate_preview'][:70]))}")
        for w in a.warnings:
            err.print(f"warning: {w}", markup=False)
    for p in (out_path, html_path, duplicates_path):
        if p is not None:
            out.print(f"wrote {p}")
