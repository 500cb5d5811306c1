"""idgraph: an identity graph for apps with no user API."""

from typing import Any

__all__ = ["__version__"]


def __getattr__(name: str) -> Any:
    # looked up when first asked for: reading the installed metadata costs every command
    # a few hundredths of a second, and few commands print the version
    if name != "__version__":
        raise AttributeError(f"module 'idgraph' has no attribute {name!r}")
    from importlib.metadata import PackageNotFoundError, version

    try:
        found = version("idgraph")
    except PackageNotFoundError:  # running from a source tree that is not installed
        found = "0.0.0"
    globals()["__version__"] = found
    return found
