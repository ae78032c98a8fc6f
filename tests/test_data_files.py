"""The test data are the files their README describes: listed, unchanged, nothing unlisted."""

import hashlib
import re
from pathlib import Path

DATA = Path(__file__).parent / "data"


def _listed() -> dict[str, str]:
    text = (DATA / "README.md").read_text()
    return dict((name, digest) for digest, name in re.findall(r"^([0-9a-f]{64})  (\S+)$", text, re.M))


def test_every_data_file_is_listed_with_its_checksum():
    listed = _listed()
    present = sorted(str(p.relative_to(DATA)) for p in DATA.rglob("*") if p.is_file() and p.name != "README.md")
    assert present == sorted(listed), "tests/data and its README's checksum list disagree"
    for name, digest in listed.items():
        assert hashlib.sha256((DATA / name).read_bytes()).hexdigest() == digest, f"{name} changed; update its source and checksum"
