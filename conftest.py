"""Collection settings for the whole repository (tests/ and the package's doctests)."""

from importlib.util import find_spec

# Without the `train` extra the modules that import torch at their top cannot be imported
# for their doctests; the tests in tests/ladder skip themselves.
collect_ignore = [] if find_spec("torch") else [
    "src/scalelab/ladder/model.py", "src/scalelab/ladder/train.py", "src/scalelab/ladder/worker.py",
]
# the Trainer callback needs the `hf` extra (its test skips itself without it)
if not find_spec("transformers"):
    collect_ignore.append("src/scalelab/watch/hf.py")
