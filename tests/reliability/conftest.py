import pytest

from tests.postmark.fixtures import account, emulator

__all__ = ["account", "emulator"]  # the Postmark fixtures, shared with tests/postmark


def pytest_collection_modifyitems(items):
    """Everything under tests/reliability/ is marked `reliability` (`pytest -m reliability`)."""
    for item in items:
        if "/reliability/" in str(item.fspath).replace("\\", "/"):
            item.add_marker(pytest.mark.reliability)
