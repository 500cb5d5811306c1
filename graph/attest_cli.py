"""`idgraph attest`: team members read off a web UI, for any connector with a member format."""

from __future__ import annotations

import json
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import click

from .cli_base import (
    EXIT_USAGE,
    Failure,
    db_option,
    email_option,
    force_option,
    json_option,
    refuse_file,
    remediation_note,
    user_errors,
)
from .interfaces import ConfigError
from .plugins import get_member_formats
from .store import Store
from .text import terminal_text


def _member_format(connector_name: str) -> Any:
    formats = get_member_formats()
    if connector_name not in formats:
        known = ", ".join(sorted(formats)) or "none"
        raise Failure(
            f"connector {connector_name!r} has no member-file format (connectors with one: "
            f"{known})",
            EXIT_USAGE,
        )
    return formats[connector_name]


connector_argument = click.argument("connector_name", metavar="CONNECTOR")
label_option = click.option(
    "--account-label", help="The account (default: the connector's only account in the db)."
)


@contextmanager
def attestation_errors() -> Iterator[None]:
    """Every problem of a refused file on its own line; exit 3; nothing written."""
    from .attestation import AttestationInvalid

    try:
        with user_errors():
            yield
    except AttestationInvalid as exc:
        refuse_file(exc.problems)


@click.group("attest")
def attest_group() -> None:
    """Team members read off an app's web UI (for apps with no member API, e.g. Postmark)."""


@attest_group.command("template")
@connector_argument
@db_option
@label_option
@click.option(
    "--out",
    "out_file",
    type=click.Path(dir_okay=False, path_type=Path),
    help="Write the template here (.csv, or .xlsx with drop-downs) and FILE.notes.txt "
    "beside it; default: CSV on stdout. An existing file (perhaps one being filled) is "
    "replaced only with --force.",
)
@click.option(
    "--long",
    "long_form",
    is_flag=True,
    help="One row per person and resource with access (email, name, role, two_factor, "
    "resource, access) instead of a column per resource: for accounts with many (CSV).",
)
@force_option
def attest_template(
    connector_name: str,
    db_path: Path,
    account_label: str | None,
    out_file: Path | None,
    long_form: bool,
    force: bool,
) -> None:
    """A template of the account's members: a column per resource of the latest sync,
    pre-filled from the previous attestation so only differences need editing."""
    from .attestation import resolve_label, write_template, write_template_workbook
    from .files import check_writable, replacing

    fmt = _member_format(connector_name)
    workbook = out_file is not None and out_file.suffix.lower() == ".xlsx"
    if workbook and long_form:
        raise Failure("--long writes a CSV: give --out a .csv name", EXIT_USAGE)
    notes = None if out_file is None else out_file.with_name(out_file.name + ".notes.txt")
    with attestation_errors():
        if out_file is not None and notes is not None:  # before the store opens
            check_writable(out_file, force=force, database=db_path)
            check_writable(notes, force=True, database=db_path)  # idgraph's own text
        store = Store(db_path, create=False)
        try:
            label = resolve_label(store, fmt, account_label)
            if workbook:
                with cannot_be_written(out_file), replacing(force):
                    write_template_workbook(store, fmt, label, out_file)
            else:
                text = write_template(store, fmt, label, long=long_form)
        finally:
            store.close()
        if out_file is None or notes is None:
            click.echo(text.lstrip("\ufeff"), nl=False)
            click.echo(fmt.where_in_the_ui, err=True)
            return
        if not workbook:
            write_template_file(out_file, text, force=force, database=db_path)
        write_template_file(notes, fmt.where_in_the_ui, force=True, database=db_path)
    click.echo(f"Template for account {label!r}: {out_file} (where to read each value: {notes})")


@contextmanager
def cannot_be_written(path: Path) -> Iterator[None]:
    try:
        yield
    except OSError as exc:
        raise ConfigError(f"{path}: cannot be written ({exc.strerror or exc})") from None


def write_template_file(out_file: Path, text: str, *, force: bool, database: Path) -> None:
    from .files import safe_file

    with cannot_be_written(out_file), safe_file(out_file, force=force, database=database) as f:
        f.write(text)


@attest_group.command("import")
@connector_argument
@click.argument("file", type=click.Path(dir_okay=False, path_type=Path))
@click.option(
    "--attested-by",
    required=True,
    callback=email_option,
    help="Your email: who read the web UI.",
)
@click.option("--evidence", help="A screenshot or export file (kept as its SHA-256), or a URL.")
@click.option(
    "--valid-days",
    type=click.IntRange(1, 3660),
    default=90,
    show_default=True,
    help="Days until the attestation goes stale.",
)
@click.option(
    "--encoding",
    help="The file's text encoding when it is not UTF-8 (e.g. cp1252 for Excel's plain CSV).",
)
@db_option
@label_option
@json_option
def attest_import(
    connector_name: str,
    file: Path,
    attested_by: str,
    evidence: str | None,
    valid_days: int,
    encoding: str | None,
    db_path: Path,
    account_label: str | None,
    as_json: bool,
) -> None:
    """Import a filled member file. The whole file is checked first; on any problem every
    one is listed (file, row, column), nothing is stored, and the exit code is 3."""
    from .host import attest_file

    fmt = _member_format(connector_name)
    with attestation_errors():
        result = attest_file(
            db_path,
            connector_name,
            file,
            attested_by=attested_by,
            evidence=evidence,
            valid_days=valid_days,
            account_label=account_label,
            encoding=encoding,
        )
    label = result["account_label"]
    if as_json:
        click.echo(json.dumps(result, indent=2))
        return
    click.echo(
        f"Attestation {result['run_id']} of {fmt.title} account {label!r}: "
        f"{result['members']} members, valid until {result['expires_at']}."
    )
    for email in result["added"]:
        click.echo(f"  + {email}")
    for email in result["removed"]:
        click.echo(f"  - {email} (no longer in the UI: recorded as removed)")
    remediation_note(db_path)


@attest_group.command("status")
@db_option
@json_option
def attest_status(db_path: Path, as_json: bool) -> None:
    """Accounts with no, a valid, or a stale attestation."""
    from .attestation import attestation_status

    with user_errors():
        store = Store(db_path, create=False)
        try:
            rows = attestation_status(store, get_member_formats())
        finally:
            store.close()
    if as_json:
        click.echo(json.dumps(rows, indent=2))
        return
    if not rows:
        click.echo("No account with a member-file format synced yet.")
    for row in rows:
        name = f"{row['connector']} account {row['account_label']}"
        if row["status"] == "none":
            click.echo(f"{name}: NO attestation of team members")
        else:
            click.echo(
                f"{name}: {row['status'].upper()} attestation "
                f"{row['import_id']} by {row['attested_by']} on {row['attested_at']}, "
                f"expires {row['expires_at']} ({row['members']} members)"
            )


@attest_group.command("corroborate")
@connector_argument
@db_option
@label_option
@click.option(
    "--limit",
    type=click.IntRange(0),
    default=20,
    show_default=True,
    help="Items listed per group (the summary counts them all; --json lists every one).",
)
@json_option
def attest_corroborate(
    connector_name: str, db_path: Path, account_label: str | None, limit: int, as_json: bool
) -> None:
    """Attested members against the people the connector's API shows: a summary line,
    then each group's first --limit items."""
    from .attestation import corroborate, resolve_label

    fmt = _member_format(connector_name)
    with attestation_errors():
        store = Store(db_path, create=False)
        try:
            report = corroborate(store, fmt, resolve_label(store, fmt, account_label))
        finally:
            store.close()
    if as_json:
        click.echo(json.dumps(report, indent=2))
        return
    groups = {k.replace("_", " "): v for k, v in report.items() if isinstance(v, list)}
    click.echo("Summary: " + ", ".join(f"{len(v)} {k}" for k, v in groups.items()) + ".")
    for key, value in groups.items():
        click.echo(f"{key} ({len(value)}):")
        for item in value[:limit]:
            click.echo(f"  {terminal_text(str(item))}")
        if len(value) > limit:
            click.echo(f"  ... and {len(value) - limit} more (--limit, or --json for all)")
