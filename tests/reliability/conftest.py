import pytest


def pytest_collection_modifyitems(items):
    """Everything under tests/reliability/ is marked `reliability` (`pytest -m reliability`)."""
    for item in items:
        if "/reliability/" in str(item.fspath).replace("\\", "/"):
            item.add_marker(pytest.mark.reliability)
