"""Built-in exporters of the access-review pack (a default plugin)."""

from __future__ import annotations

from ..hookspecs import hookimpl
from .governance import BatonExporter, BloodHoundExporter, VezaExporter
from .graph_files import GraphJsonExporter, GraphMLExporter
from .report_html import HtmlReportExporter
from .review_csv import ReviewCsvExporter
from .review_xlsx import ReviewXlsxExporter

BUILT_IN = [
    ReviewCsvExporter(),
    ReviewXlsxExporter(),
    GraphJsonExporter(),
    GraphMLExporter(),
    HtmlReportExporter(),
    BatonExporter(),
    BloodHoundExporter(),
    VezaExporter(),
]


@hookimpl
def register_exporters(register):
    for exporter in BUILT_IN:
        register(exporter)
