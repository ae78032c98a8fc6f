"""Follow a growing log file: read only what was appended, survive truncation and rotation.

Each :meth:`Tailer.poll` reads from the last offset to the end of the file and returns
the complete new lines; an unfinished last line waits in a buffer until its newline
arrives. Its cost depends on what was appended, not on the file's length. When the file
shrinks (truncated) or is replaced (rotated: a new inode at the same path), the tailer
finishes the old file, then reads the new one from its start, and counts the event.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path


@dataclass
class TailStats:
    bytes_read: int = 0
    lines: int = 0
    rotations: int = 0
    truncations: int = 0
    events: list[str] = field(default_factory=list)


class Tailer:
    """Incremental reader of appended lines.

    Examples
    --------
    >>> import tempfile, os
    >>> p = os.path.join(tempfile.mkdtemp(), "log.jsonl")
    >>> _ = open(p, "w").write('{"step": 1}\\n{"ste')
    >>> t = Tailer(p)
    >>> t.poll()
    [b'{"step": 1}']
    >>> _ = open(p, "a").write('p": 2}\\n')
    >>> t.poll()
    [b'{"step": 2}']
    """

    def __init__(self, path: str | os.PathLike, from_start: bool = True, max_read: int = 256 * 2**20):
        self.path = Path(path)
        self.max_read = max_read
        self.stats = TailStats()
        self._fh = None
        self._inode = None
        self._offset = 0
        self._buffer = b""
        self._from_start = from_start

    def _open(self) -> bool:
        try:
            fh = self.path.open("rb")
        except (FileNotFoundError, PermissionError, IsADirectoryError):
            return False
        st = os.fstat(fh.fileno())
        self._fh, self._inode = fh, st.st_ino
        self._offset = 0 if self._from_start else st.st_size
        self._from_start = True  # a rotated-in file is read from its start
        return True

    def poll(self) -> list[bytes]:
        """New complete lines since the last call (without their newlines)."""
        if self._fh is None and not self._open():
            return []
        lines = self._read_available()
        try:
            st = self.path.stat()
        except FileNotFoundError:
            return lines  # rotated away and not yet replaced: keep the old file
        if st.st_ino != self._inode:
            lines += self._read_available()  # finish the old file
            if self._buffer:
                lines.append(self._buffer)  # the old file's unterminated last line is complete now
                self._buffer = b""
            self._fh.close()
            self.stats.rotations += 1
            self.stats.events.append(f"rotated at offset {self._offset}")
            self._fh = None
            if self._open():
                lines += self._read_available()
        elif st.st_size < self._offset:
            self.stats.truncations += 1
            self.stats.events.append(f"truncated from {self._offset} to {st.st_size} bytes")
            self._offset = 0
            self._buffer = b""
            lines += self._read_available()
        return lines

    def _read_available(self) -> list[bytes]:
        self._fh.seek(self._offset)
        data = self._fh.read(self.max_read)
        if not data:
            return []
        self._offset += len(data)
        self.stats.bytes_read += len(data)
        data = self._buffer + data
        cut = data.rfind(b"\n")
        if cut < 0:
            self._buffer = data
            return []
        self._buffer = data[cut + 1:]
        lines = [ln.rstrip(b"\r") for ln in data[:cut].split(b"\n")]
        self.stats.lines += len(lines)
        return lines

    @property
    def pending(self) -> bytes:
        """An unfinished last line waiting for its newline."""
        return self._buffer

    def close(self) -> None:
        if self._fh is not None:
            self._fh.close()
            self._fh = None
