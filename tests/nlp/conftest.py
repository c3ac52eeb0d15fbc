import pytest

from trdpath.nlp.pipeline import build_pipeline


@pytest.fixture(scope="session")
def nlp():
    """One pipeline for the whole session: building it compiles every rule."""
    return build_pipeline()


def pytest_configure(config):
    # medspaCy's PhraseMatcher is empty by design (all our rules are token patterns).
    config.addinivalue_line("filterwarnings", "ignore:.*W036")
