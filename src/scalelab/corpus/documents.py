"""Documents from a corpus: a text file (``.txt``, or ``.txt.xz``/``.gz``/``.bz2``/``.zst``:
documents are paragraphs separated by blank lines), a folder of text files (each file a
document; its first-level subfolder is its source), JSONL, CSV or TSV with a header row,
Parquet or Arrow (a saved Hugging Face dataset) with a text column (and optionally a source
column); a CSV in a folder without the text column is left out, as a JSONL one is. No
torch: the ladder tokenizes from here, the audit reads from here.
"""

from __future__ import annotations

import bz2
import csv
import gzip
import io
import json
import lzma
import zlib
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from scalelab.errors import InputError

HEAD_BYTES = 1 << 16


@dataclass
class ReadProgress:
    """How much of a corpus has been read, in bytes on disk (a compressed file counts its
    compressed bytes), for a progress bar: ``done`` of ``total``."""

    total: int = 0
    done: int = 0
    where: str = ""
    """Where the document just yielded is: a folder's file (its path inside the folder),
    ``FILE:LINE`` for a JSONL record, ``FILE row N`` for a Parquet row, ``FILE paragraph N``
    for a text file's N-th paragraph."""


def read_sourced(path: str | Path, text_col: str = "text", source_col: str | None = None,
                 progress: ReadProgress | None = None) -> Iterator[tuple[str, bytes]]:
    """``(source, document)`` pairs: the source is a folder's first-level subfolder (``.``
    for files at its top), the ``source_col`` field of JSONL, CSV, Parquet or Arrow rows, else the file's name.
    ``progress``, when given, is kept up to date as the files are read."""
    p = Path(path)
    progress = progress or ReadProgress()
    if not p.exists():
        raise InputError(f"corpus {str(p)!r} does not exist; give a text file, a folder of them, JSONL, CSV, Parquet or Arrow")
    if p.is_dir():
        files = folder_files(p)
        if not files:
            raise InputError(f"corpus folder {str(p)!r} holds no files")
        progress.total = sum(f.stat().st_size for f in files)
        skipped, other_tables, empty = [], [], []
        for f in files:
            rel = f.relative_to(p).parts
            source = rel[0] if len(rel) > 1 else "."
            if _is_table(f):
                if not _has_fields(f, text_col, source_col):
                    other_tables.append(str(f.relative_to(p)))  # a log or a table of something else, beside the corpus
                else:
                    rows = _table_rows(f, text_col, source_col, progress, label=str(f.relative_to(p)))
                    yield from ((source if source_col is None else s, d) for s, d in rows)
            else:
                data = _open(f)
                if not _looks_like_text(data[:HEAD_BYTES]):
                    skipped.append(str(f.relative_to(p)))  # an image or a compiled file in a source tree
                elif data.strip():
                    progress.where = str(f.relative_to(p))
                    yield source, data.strip()
                else:
                    empty.append(str(f.relative_to(p)))  # an __init__.py, a placeholder: no text to count
            progress.done += f.stat().st_size
        want = f"a {text_col!r}" + (f" and a {source_col!r}" if source_col else "")
        if other_tables and len(other_tables) == len(files):
            raise InputError(f"corpus folder {str(p)!r}: none of its {len(files)} JSONL, CSV, Parquet or Arrow files has {want} "
                             f"field (e.g. {other_tables[0]!r}); name the fields with --text-col / --source-col")
        if len(empty) == len(files):
            raise InputError(f"corpus folder {str(p)!r}: all of its {len(files)} files are empty")
        if len(skipped) + len(other_tables) + len(empty) == len(files):
            raise InputError(f"corpus folder {str(p)!r}: none of its {len(files)} files looks like text (binary or "
                             f"not UTF-8, e.g. {skipped[0]!r}); give UTF-8 text files, JSONL, CSV, Parquet or Arrow")
        import warnings

        from scalelab.errors import CorpusWarning

        for left, why in ((skipped, "are not text (binary or not UTF-8)"),
                          (other_tables, f"are JSONL, CSV, Parquet or Arrow without {want} field (--text-col / --source-col)"),
                          (empty, "are empty (or only white space)")):
            if left:
                warnings.warn(f"corpus folder {str(p)!r}: {len(left)} of its {len(files)} files {why} and were left "
                              f"out: {', '.join(left[:5])}{', ...' if len(left) > 5 else ''}", CorpusWarning, stacklevel=2)
        return
    progress.total = p.stat().st_size
    if _is_table(p):
        yield from _table_rows(p, text_col, source_col, progress)
        progress.done = progress.total
        return
    for doc in _paragraphs(p, progress):
        yield p.name, doc


HF_BOOKKEEPING = ("dataset_info.json", "state.json", "dataset_dict.json")
"""What Hugging Face ``datasets`` writes beside the Arrow files of a saved dataset."""


def folder_files(folder: Path) -> list[Path]:
    """The files of a corpus folder, sorted, leaving out hidden ones and everything under a
    hidden folder (``.git``, ``.venv``, ``.ipynb_checkpoints``): a checkout's version history
    is not its text; and a saved Hugging Face dataset's bookkeeping (``state.json`` beside
    its Arrow files, ``dataset_dict.json`` above its splits), which describes the text."""
    files = sorted(f for f in folder.rglob("*")
                   if f.is_file() and not any(part.startswith(".") for part in f.relative_to(folder).parts))
    arrow = {f.parent for f in files if f.name.lower().endswith(".arrow")}
    return [f for f in files if not (f.name in HF_BOOKKEEPING and (f.parent in arrow or any(
        d.parent == f.parent for d in arrow)))]


def _field(row: dict, name: str):
    """A record's field: ``name`` itself, else a nested one by its dotted path (The Pile's
    ``meta.pile_set_name``). KeyError or TypeError where there is none."""
    if name in row or "." not in name:
        return row[name]
    for part in name.split("."):
        row = row[part]
    return row


def _has_field(obj: dict, name: str) -> bool:
    try:
        _field(obj, name)
    except (KeyError, TypeError):
        return False
    return True


def _has_fields(path: Path, text_col: str, source_col: str | None) -> bool:
    """Whether a JSONL file's first record (a Parquet file's columns) has the fields a corpus
    reads; a file whose first line is not JSON counts as having them (reading it then says
    what is wrong)."""
    wanted = [c for c in (text_col, source_col) if c is not None]
    if _is_columnar(path):
        try:
            names = _columnar(path)[0]
        except InputError:  # not Parquet or Arrow after all: reading it reports that
            return True
        return all(c in names or c.split(".")[0] in names for c in wanted)
    try:  # the first record only: a shard can be gigabytes
        obj = json.loads(next((ln for ln in _lines(path) if ln.strip()), b""))
    except (ValueError, InputError):
        return True
    return not isinstance(obj, dict) or all(_has_field(obj, c) for c in wanted)


COMPRESSED = (".gz", ".xz", ".bz2", ".zst")
READ_ERRORS = (lzma.LZMAError, OSError, EOFError, zlib.error, ValueError)


def _decompressor(name: str):
    """A function that wraps a raw binary file in the decompression its name calls for
    (``.xz``, ``.gz``, ``.bz2``; ``.zst`` with the optional ``zstandard`` package), or
    returns it as it is; and the errors reading it can raise."""
    name = name.lower()
    if name.endswith(".xz"):
        return lzma.LZMAFile, READ_ERRORS
    if name.endswith(".gz"):
        return (lambda raw: gzip.GzipFile(fileobj=raw)), READ_ERRORS
    if name.endswith(".bz2"):
        return bz2.BZ2File, READ_ERRORS
    if name.endswith(".zst"):
        try:
            import zstandard
        except ImportError:
            raise InputError(f"{name!r} is compressed with zstd: pip install 'scalelab[zstd]' (the zstandard package) "
                             "to read it, or decompress it first (zstd -d)") from None
        return (lambda raw: io.BufferedReader(_ZstdReader(raw, zstandard))), (*READ_ERRORS, zstandard.ZstdError)
    return (lambda raw: raw), READ_ERRORS


class _ZstdReader(io.RawIOBase):
    """zstd frames decompressed as a stream (one after another, as concatenated shards hold
    them). A file that ends inside a frame raises EOFError, as gzip and lzma do: zstandard's
    own stream reader returned nothing and no error for a cut file."""

    def __init__(self, raw, zstandard):
        self._raw, self._new = raw, zstandard.ZstdDecompressor
        self._d = self._new().decompressobj()
        self._buf, self._started = b"", False

    def readable(self) -> bool:
        return True

    def readinto(self, b) -> int:
        while not self._buf:
            data = self._raw.read(1 << 16)
            if not data:
                if self._started and not self._d.eof:
                    raise EOFError("the file ends inside a zstd frame (cut short?)")
                return 0
            self._started = True
            out = []
            while data:
                if self._d.eof:
                    self._d = self._new().decompressobj()
                out.append(self._d.decompress(data))
                data = self._d.unused_data if self._d.eof else b""
            self._buf = b"".join(out)
        n = min(len(b), len(self._buf))
        b[:n] = self._buf[:n]
        self._buf = self._buf[n:]
        return n


@contextmanager
def _reading(path: Path):
    """``(raw, stream)``: the file on disk and its decompressed bytes; errors name the file."""
    wrap, errors = _decompressor(path.name)
    try:
        with open(path, "rb") as raw:
            with wrap(raw) as fh:
                yield raw, fh
    except errors as exc:
        raise InputError(f"cannot read {str(path)!r}: {exc}") from None


def _paragraphs(path: Path, progress: ReadProgress, chunk: int = 1 << 20) -> Iterator[bytes]:
    """A text file's blank-line separated paragraphs, read a megabyte at a time (bounded memory)."""
    rest = b""
    first, n = True, 0
    with _reading(path) as (raw, fh):
        while True:
            block = fh.read(chunk)
            progress.done = raw.tell()
            if first:
                _check_text(path, block[:HEAD_BYTES])
                first = False
            if not block:
                break
            parts = (rest + block).replace(b"\r\n", b"\n").split(b"\n\n")
            if rest.endswith(b"\r") and block.startswith(b"\n"):
                parts = (rest[:-1] + block).replace(b"\r\n", b"\n").split(b"\n\n")
            rest = parts.pop()
            for doc in parts:
                if doc.strip():
                    n += 1
                    progress.where = f"{path.name} paragraph {n}"
                    yield doc.strip()
    if rest.strip():
        progress.where = f"{path.name} paragraph {n + 1}"
        yield rest.strip()


def read_documents(path: str | Path, text_col: str = "text") -> Iterator[bytes]:
    """Documents of a corpus as UTF-8 bytes (see the module docstring for the formats)."""
    for _source, doc in read_sourced(path, text_col):
        yield doc


def _is_table(p: Path) -> bool:
    """JSON lines (``.jsonl``/``.ndjson``, or ``.json`` whose first line is a JSON object
    by itself, as C4's and Dolma's ``.json.gz`` shards are; compressed or not), Parquet or Arrow."""
    name = p.name.lower()
    for ext in COMPRESSED:
        name = name.removesuffix(ext)
    if name.endswith((".jsonl", ".ndjson")) or _is_columnar(p):
        return True
    return name.endswith(".json") and p.is_file() and _first_line_is_object(p)


def _first_line_is_object(p: Path) -> bool:
    try:
        line = next((ln for ln in _lines(p) if ln.strip()), b"")
        return isinstance(json.loads(line), dict)
    except (ValueError, InputError):
        return False


def _is_columnar(p: Path) -> bool:
    """Parquet, Arrow (the files Hugging Face ``datasets`` saves and caches), or a CSV or TSV
    table (compressed or not) with a header row."""
    return p.name.lower().endswith((".parquet", ".arrow")) or _is_csv(p)


def _is_csv(p: Path) -> bool:
    name = p.name.lower()
    for ext in COMPRESSED:
        name = name.removesuffix(ext)
    return name.endswith((".csv", ".tsv"))


def _csv_columnar(p: Path):
    """A CSV or TSV table's column names (its header row) and record batches (see
    :func:`_columnar`), read as a stream by pyarrow: quoted values may hold new lines, every
    column is read as text."""
    import pyarrow as pa
    import pyarrow.csv as pacsv

    delimiter = "\t" if ".tsv" in p.name.lower() else ","
    with _reading(p) as (_raw, fh):
        header = fh.readline().decode("utf-8", "replace")
    names = [n.strip() for n in next(csv.reader([header], delimiter=delimiter), [])]
    if not names:
        raise InputError(f"{str(p)!r} is empty: a CSV corpus needs a header row and a row per document")

    def batches(cols):
        with _reading(p) as (_raw, fh):
            rows = pacsv.open_csv(fh, read_options=pacsv.ReadOptions(block_size=1 << 22),
                                  parse_options=pacsv.ParseOptions(delimiter=delimiter, newlines_in_values=True),
                                  convert_options=pacsv.ConvertOptions(include_columns=cols,
                                                                       column_types={c: pa.string() for c in cols}))
            try:
                yield from rows
            except pa.ArrowInvalid as exc:  # a row with too many fields, a quote never closed
                raise InputError(f"cannot read {str(p)!r} as CSV: {exc}") from None

    return names, batches


def _columnar(p: Path):
    """A Parquet or Arrow file's column names, and a function giving its record batches of
    some columns, a batch at a time (a shard of gigabytes is never held whole). Arrow is read
    as the streaming format Hugging Face ``datasets`` writes, else as the file format."""
    try:
        if _is_csv(p):
            return _csv_columnar(p)
        if p.name.lower().endswith(".parquet"):
            import pyarrow.parquet as pq

            pf = pq.ParquetFile(p)
            return pf.schema_arrow.names, lambda cols: pf.iter_batches(batch_size=4096, columns=cols)
        import pyarrow as pa

        try:
            names = pa.ipc.open_stream(p).schema.names

            def batches(cols):
                for batch in pa.ipc.open_stream(p):
                    yield batch.select(cols)
        except pa.ArrowInvalid:
            reader = pa.ipc.open_file(p)
            names = reader.schema.names

            def batches(cols):
                for i in range(reader.num_record_batches):
                    yield reader.get_batch(i).select(cols)
        return names, batches
    except InputError:
        raise
    except Exception as exc:  # noqa: BLE001 - pyarrow's errors name no common class
        kind = "CSV" if _is_csv(p) else "Parquet" if p.name.lower().endswith(".parquet") else "Arrow"
        raise InputError(f"cannot read {str(p)!r} as {kind}: {exc}") from None


def _table_rows(p: Path, text_col: str, source_col: str | None, progress: ReadProgress | None = None,
                label: str | None = None) -> Iterator[tuple[str, bytes]]:
    """A JSONL, CSV, Parquet or Arrow file's ``(source, text)`` rows, read a line (a Parquet record
    batch) at a time: a shard of gigabytes is never held whole. ``progress.where`` names
    each row's place (``label``, default the file's name, with its line or row)."""
    progress = progress or ReadProgress()
    label = label or p.name
    if _is_columnar(p):
        names, batches = _columnar(p)
        top = {}  # each field's top-level column (a struct's, for a dotted path into it)
        for col, flag in ((text_col, "--text-col"), (source_col, "--source-col")):
            if col is None:
                continue
            top[col] = col if col in names else col.split(".")[0]
            if top[col] not in names:
                raise InputError(f"{str(p)!r} has no column {col!r}; columns: {', '.join(names)}; name it with {flag}")

        def values(batch, col):
            vals = batch.column(top[col]).to_pylist()
            if top[col] == col:
                return vals
            try:
                return [None if v is None else _field({top[col]: v}, col) for v in vals]
            except (KeyError, TypeError):
                raise InputError(f"{str(p)!r}: column {top[col]!r} has no field {col[len(top[col]) + 1:]!r}") from None

        row = 0
        for batch in batches(sorted(set(top.values()))):
            texts = values(batch, text_col)
            sources = values(batch, source_col) if source_col else [p.name] * len(texts)
            for text, source in zip(texts, sources):
                row += 1
                if text:
                    progress.where = f"{label} row {row}"
                    yield str(source), str(text).encode()
        return
    bad, rows, first_bad = 0, 0, None
    for i, line in enumerate(_lines(p)):
        if not line.strip():
            continue
        rows += 1
        try:
            row = json.loads(line)
            text = _field(row, text_col)
            source = str(_field(row, source_col)) if source_col else p.name
        except (ValueError, KeyError, TypeError):
            bad += 1  # a cut last line, a record of another kind: left out, said at the end
            first_bad = (i, line) if first_bad is None else first_bad
            continue
        if text is not None and text != "":  # a record without text is no document (as in Parquet)
            progress.where = f"{label}:{i + 1}"
            yield source, str(text).encode()
    if bad:
        i, line = first_bad
        want = (f"{text_col!r} and {source_col!r} fields" if source_col else f"a {text_col!r} field")
        has = ""
        try:
            obj = json.loads(line)
            has = f" (its fields: {', '.join(map(str, list(obj)[:12]))})" if isinstance(obj, dict) else ""
        except ValueError:
            pass
        what = f"not a JSON object with {want}{has}"
        if bad == rows:
            raise InputError(f"{str(p)!r} line {i + 1}: {what}; name the fields with --text-col / --source-col")
        import warnings

        from scalelab.errors import CorpusWarning

        warnings.warn(f"{str(p)!r}: {bad:,} of its {rows:,} lines {'was' if bad == 1 else 'were'} left out, the first at line {i + 1}: {what}",
                      CorpusWarning, stacklevel=2)


def check_corpus(path: str | Path, text_col: str = "text") -> None:
    """A quick look before anything is designed or trained: the corpus exists, a folder holds
    a file, and the first file (or the file) starts like text, JSONL (whose first record has
    ``text_col``) or Parquet. Reads at most its first 64 KiB (decompressed), so a design
    answers at once on a large corpus."""
    p = Path(path)
    if not p.exists():
        raise InputError(f"corpus {str(p)!r} does not exist; give a text file, a folder of them, JSONL, CSV, Parquet or Arrow")
    if p.is_dir():
        files = folder_files(p)
        if not files:
            raise InputError(f"corpus folder {str(p)!r} holds no files; give a folder of text files")
        if (p / "dataset_dict.json").is_file():  # a saved Hugging Face DatasetDict: every split would be trained on
            import warnings

            from scalelab.errors import CorpusWarning

            splits = sorted({f.relative_to(p).parts[0] for f in files if len(f.relative_to(p).parts) > 1})
            if len(splits) > 1:
                train = next((x for x in splits if x == "train"), splits[0])
                warnings.warn(f"corpus {str(p)!r} is a saved dataset of {len(splits)} splits ({', '.join(splits)}), "
                              f"all of which would be read; for one split give its folder, e.g. --corpus "
                              f"{str(p / train)}", CorpusWarning, stacklevel=2)
        for f in files:  # the first with text (reading leaves out the rest)
            if _has_fields(f, text_col, None) if _is_table(f) else _looks_like_text(h := _head(f)) and h.strip():
                p = f
                break
        else:
            if not any(_head(f).strip() for f in files):
                raise InputError(f"corpus folder {str(p)!r}: all of its files are empty")
            raise InputError(f"corpus folder {str(p)!r}: none of its {len(files)} files is text, JSONL, CSV, Parquet or Arrow with "
                             f"a {text_col!r} field (binary or not UTF-8, e.g. {str(files[0].relative_to(p))!r}); give "
                             "UTF-8 text files, JSONL, CSV, Parquet or Arrow")
    if _is_columnar(p):
        names = _columnar(p)[0]  # refuses a file that is not what its name says
        if text_col not in names and text_col.split(".")[0] not in names:
            raise InputError(f"{str(p)!r} has no column {text_col!r}; columns: {', '.join(names)}; name it with "
                             "--text-col")
        return
    head = _head(p, strict=True)
    if not head.strip():
        raise InputError(f"corpus {str(p)!r} is empty")
    _check_text(p, head)
    if _is_table(p) and b"\n" in head:
        _check_record(p, head.split(b"\n", 1)[0], text_col)
    if p == Path(path) and not _is_table(p) and len(head) == HEAD_BYTES and b"\n\n" not in head.replace(b"\r\n", b"\n"):
        import warnings

        from scalelab.errors import PlanWarning

        warnings.warn(f"corpus {str(p)!r}: no blank line in its first {HEAD_BYTES // 1024} KiB, and in a text file a "
                      "blank line ends a document; if it holds one document per line, put a blank line between "
                      "them (sed G) or give JSONL", PlanWarning, stacklevel=2)


def _check_record(path: Path, line: bytes, text_col: str) -> None:
    try:
        obj = json.loads(line)
    except ValueError:
        raise InputError(f"{str(path)!r} line 1 is not JSON; a JSONL corpus holds one JSON object per line") from None
    if not isinstance(obj, dict) or text_col not in obj:
        has = f" (its fields: {', '.join(map(str, list(obj)[:12]))})" if isinstance(obj, dict) else ""
        raise InputError(f"{str(path)!r} line 1 has no {text_col!r} field{has}; name the text's field with --text-col")


def _looks_like_text(head: bytes) -> bool:
    bad = head.decode("utf-8", "replace").count("\ufffd")
    return b"\x00" not in head and bad <= 0.01 * max(len(head), 1) + 4


def _head(path: Path, strict: bool = False) -> bytes:
    """The first ``HEAD_BYTES`` of a file, decompressed; an unreadable file raises when
    ``strict``, else reads as binary."""
    try:
        with _reading(path) as (_raw, fh):
            return fh.read(HEAD_BYTES)
    except InputError:
        if strict:
            raise
        return b"\x00"


def _check_text(path: Path, head: bytes) -> None:
    if not _looks_like_text(head):
        raise InputError(f"{str(path)!r} does not look like text (binary or not UTF-8); give UTF-8 text files, "
                         "JSONL, CSV, Parquet or Arrow")


def _lines(path: Path) -> Iterator[bytes]:
    """A (possibly compressed) file's lines, read as a stream."""
    with _reading(path) as (_raw, fh):
        yield from fh


def _open(path: Path) -> bytes:
    with _reading(path) as (_raw, fh):
        return fh.read()


SAMPLE_BYTES = 1 << 20  # of a compressed file, decompressed to measure its ratio


def estimate_bytes(path: str | Path, text_col: str = "text") -> tuple[float, bool]:
    """About how many bytes of text a corpus holds, without reading it through: a plain
    file's size; a compressed one's size times the ratio of its first megabyte (exact when
    that is the whole file); a Parquet file's uncompressed text column (its metadata); a
    folder, the sum over its files (the ratio measured on the first 20 compressed ones).
    Returns ``(bytes, exact)``. For a ladder's design to see a corpus too small for its
    rungs in a moment, where reading en-mix through takes half a minute."""
    p = Path(path)
    files = folder_files(p) if p.is_dir() else [p]
    total, exact, ratios = 0.0, True, []
    for f in files:
        size = f.stat().st_size
        name = f.name.lower()
        if name.endswith(".arrow"):  # uncompressed columns: about the text, with the other columns
            total += size
            exact = False
            continue
        if name.endswith(".parquet"):
            try:
                import pyarrow.parquet as pq

                meta = pq.ParquetFile(f).metadata
                names = [meta.schema.column(i).name for i in range(meta.num_columns)]
                col = names.index(text_col) if text_col in names else None
                total += sum(meta.row_group(g).column(col).total_uncompressed_size
                             for g in range(meta.num_row_groups)) if col is not None else size
            except Exception:  # noqa: BLE001 - a file reading will refuse, with its own message
                total += size
            exact = False
            continue
        if not name.endswith(COMPRESSED):
            total += size
            continue
        if len(ratios) < 20:
            out, used = 0, size
            try:
                with _reading(f) as (raw, fh):
                    while raw.tell() < SAMPLE_BYTES:  # a megabyte of it on disk (as far as the reader has read)
                        block = fh.read(1 << 16)
                        if not block:
                            break
                        out += len(block)
                    used = raw.tell()
                    whole = not block
            except InputError:
                out, whole = size, True  # not what its name says: reading it will say so
            if whole:
                total += out
                continue
            ratios.append(out / max(used, 1))
        total += size * sum(ratios) / len(ratios)
        exact = False
    return total, exact
