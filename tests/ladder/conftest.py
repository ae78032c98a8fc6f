import pytest

from scalelab.data import bundled_path


@pytest.fixture(scope="session")
def shards(tmp_path_factory):
    from scalelab.ladder.data import prepare

    return prepare(bundled_path("austen"), tmp_path_factory.mktemp("shards"), max_bytes=1_500_000)
