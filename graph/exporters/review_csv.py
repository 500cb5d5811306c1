"""review.csv: one row per decision (a member on a resource, a credential), with empty
decision columns (as Entra and Okta)."""

from __future__ import annotations

from pathlib import Path

from ..review import REVIEW_COLUMNS, ReviewContext
from ._files import write_csv


class ReviewCsvExporter:
    name = "review-csv"
    filename = "review.csv"
    description = (
        "One row per decision (a member on a resource, a credential), decision columns empty "
        "(plus access-removed.csv)"
    )

    def export(self, context: ReviewContext, out_dir: Path) -> Path:
        # a BOM: spreadsheets then read the file as UTF-8 (names with accents, the `…` of
        # a token fingerprint), and `review import` accepts it either way
        if context.changes is not None:
            write_csv(
                out_dir / "access-removed.csv",
                REVIEW_COLUMNS,
                (row.values() for row in context.removed),
                bom=True,
            )
        return write_csv(
            out_dir / self.filename,
            REVIEW_COLUMNS,
            (row.values() for row in context.review_rows),
            bom=True,
        )
