"""Built-in exporters of the access-review pack (a default plugin).

The exporter modules are imported when the hook runs, not when the plugin is registered:
a sync never pays for Jinja2, openpyxl or the governance formats.
"""

from __future__ import annotations

from typing import Any

from ..hookspecs import hookimpl

_CLASSES = {
    "ReviewCsvExporter": "review_csv",
    "ReviewXlsxExporter": "review_xlsx",
    "GraphJsonExporter": "graph_files",
    "GraphMLExporter": "graph_files",
    "HtmlReportExporter": "report_html",
    "BatonExporter": "governance",
    "BloodHoundExporter": "governance",
    "VezaExporter": "governance",
}
__all__ = sorted(_CLASSES)


def __getattr__(name: str) -> Any:
    module = _CLASSES.get(name)
    if module is None:
        raise AttributeError(name)
    from importlib import import_module

    return getattr(import_module(f"{__name__}.{module}"), name)


@hookimpl
def register_exporters(register):
    for name in _CLASSES:
        register(__getattr__(name)())
