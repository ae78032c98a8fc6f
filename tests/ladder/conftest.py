from importlib.util import find_spec

import pytest

from scalelab.data import bundled_path


@pytest.fixture(scope="session")
def shards(tmp_path_factory):
    from scalelab.ladder.data import prepare

    return prepare(bundled_path("austen"), tmp_path_factory.mktemp("shards"), max_bytes=1_500_000)


@pytest.fixture(autouse=True)
def cpu_unless_marked_gpu(request, monkeypatch):
    """Tests of exact equality train on the CPU even where a GPU is visible."""
    if request.node.get_closest_marker("gpu") is None and find_spec("torch") is not None:
        from scalelab.ladder import train

        monkeypatch.setattr(train, "distributed_ranks", lambda: train.Ranks(device="cpu"))
