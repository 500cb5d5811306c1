"""The Postmark fixtures (tests/postmark/fixtures.py) for the connector's tests."""

from tests.postmark.fixtures import account, emulator

__all__ = ["account", "emulator"]
