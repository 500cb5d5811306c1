"""The Postmark API emulator: a real HTTP server on 127.0.0.1 for tests, the demo and curl,
with the fixture account and a synthetic-account generator. Imported only by `demo`,
`emulator serve`, tests and benchmarks, never by a sync."""

from .server import Fault, PostmarkEmulator, load_fixture

__all__ = ["Fault", "PostmarkEmulator", "load_fixture"]
