import os

from scalelab.watch.tail import Tailer


def test_partial_lines_wait_for_their_newline(tmp_path):
    p = tmp_path / "log.jsonl"
    p.write_bytes(b'{"step": 1}\n{"st')
    t = Tailer(p)
    assert t.poll() == [b'{"step": 1}'] and t.pending == b'{"st'
    with p.open("ab") as fh:
        fh.write(b'ep": 2}\n')
    assert t.poll() == [b'{"step": 2}'] and t.pending == b""
    assert t.poll() == []


def test_reads_only_what_was_appended_whatever_the_file_size(tmp_path):
    """Per-update cost: bytes read equal the bytes appended, for a small and a large file."""
    for size in (1_000, 5_000_000):
        p = tmp_path / f"log{size}.jsonl"
        p.write_bytes(b"x" * (size - 1) + b"\n")
        t = Tailer(p)
        t.poll()
        before = t.stats.bytes_read
        with p.open("ab") as fh:
            fh.write(b'{"step": 10}\n')
        assert t.poll() == [b'{"step": 10}']
        assert t.stats.bytes_read - before == len(b'{"step": 10}\n')


def test_truncation_restarts_from_the_top(tmp_path):
    p = tmp_path / "log.jsonl"
    p.write_bytes(b"a\nb\nc\n")
    t = Tailer(p)
    assert t.poll() == [b"a", b"b", b"c"]
    p.write_bytes(b"d\n")  # truncated and rewritten
    assert t.poll() == [b"d"]
    assert t.stats.truncations == 1


def test_rotation_finishes_the_old_file_then_reads_the_new(tmp_path):
    p = tmp_path / "log.jsonl"
    p.write_bytes(b"1\n2\n")
    t = Tailer(p)
    assert t.poll() == [b"1", b"2"]
    with p.open("ab") as fh:
        fh.write(b"3\n4")  # written just before rotation, the last line unterminated
    os.rename(p, tmp_path / "log.jsonl.1")
    p.write_bytes(b"5\n")
    assert t.poll() == [b"3", b"4", b"5"]
    assert t.stats.rotations == 1


def test_missing_file_waits(tmp_path):
    p = tmp_path / "later.jsonl"
    t = Tailer(p)
    assert t.poll() == []
    p.write_bytes(b"x\n")
    assert t.poll() == [b"x"]
