import pytest

from trdpath.nlp.pipeline import build_pipeline


@pytest.fixture(scope="session")
def nlp():
    """One pipeline for the whole session: building it compiles every rule."""
    return build_pipeline()
