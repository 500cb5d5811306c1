"""`idgraph annotate template|import`: owners and purpose of resources and credentials."""

from __future__ import annotations

from pathlib import Path

import click

from .attest_cli import write_template_file
from .cli_base import db_option, email_option, force_option, refuse_file, user_errors
from .store import Store


@click.group("annotate")
def annotate_group() -> None:
    """Owners, purpose and expected end of resources and credentials."""


@annotate_group.command("template")
@db_option
@click.option(
    "--out",
    "out_file",
    type=click.Path(dir_okay=False, path_type=Path),
    help="Write the CSV here (default: stdout); an existing file only with --force.",
)
@force_option
def annotate_template(db_path: Path, out_file: Path | None, force: bool) -> None:
    """Every resource and credential of the latest complete run, one row each, with the
    owner, purpose and expected_until known so far: fill them in and import the file."""
    from .annotations import template_text

    with user_errors(db_path):
        store = Store(db_path, create=False)
        try:
            text = template_text(store)
        finally:
            store.close()
        if out_file is None:
            click.echo(text.lstrip("\ufeff"), nl=False)
            return
        write_template_file(out_file, text, force=force, database=db_path)
    click.echo(f"Annotations template: {out_file}")


@annotate_group.command("import")
@click.argument("file", type=click.Path(dir_okay=False, path_type=Path))
@click.option(
    "--annotated-by",
    required=True,
    callback=email_option,
    help="Your email: who vouches for the file.",
)
@db_option
def annotate_import(file: Path, annotated_by: str, db_path: Path) -> None:
    """Store a filled annotations file (CSV or .xlsx): checked whole first; on any problem
    every one is listed (file, row, column) and nothing is stored (exit 3)."""
    from .annotations import AnnotationsInvalid, import_annotations

    with user_errors(db_path):
        store = Store(db_path, create=False)
        try:
            result = import_annotations(store, file, annotated_by=annotated_by)
        except AnnotationsInvalid as exc:
            refuse_file(exc.problems)
        finally:
            store.close()
    click.echo(
        f"{result['annotations']} annotation(s) recorded by {result['annotated_by']} "
        f"at {result['annotated_at']}."
    )
