"""The `idgraph` command line."""

from __future__ import annotations

import gc
import json
import logging
import os
import sys
from pathlib import Path
from typing import Any

import click

from . import annotate_cli, attest_cli, evidence_cli, query_cli
from .answers import interrupted
from .cli_base import (
    EXIT_API,
    EXIT_BUSY,
    EXIT_CONFIG,
    EXIT_INCOMPLETE,
    EXIT_INTERRUPTED,
    EXIT_OK,
    EXIT_USAGE,
    INTERRUPTED_MESSAGE,
    Failure,
    RootGroup,
    click_options,
    db_option,
    email_option,
    force_option,
    json_option,
    needs_plugins,
    print_sync_summary,
    refuse_file,
    review_options,
    run_sync,
    sync_result_json,
    user_errors,
)
from .console import err_console, escape, out_console, table
from .output import chosen_format, emit_rows, format_option
from .plugins import describe_plugins, get_connectors, load_plugins
from .schema import registry
from .store import Run, Store
from .text import terminal_text

__all__ = [  # what tests and scripts import from here
    "EXIT_API",
    "EXIT_BUSY",
    "EXIT_CONFIG",
    "EXIT_INCOMPLETE",
    "EXIT_OK",
    "EXIT_USAGE",
    "Failure",
    "build_cli",
    "cli",
    "main",
]


@click.group(cls=RootGroup, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(package_name="idgraph", prog_name="idgraph")
@click.option("-v", "--verbose", count=True, help="Log more to stderr (-v info, -vv debug).")
@click.option(
    "--log-format",
    type=click.Choice(["text", "json"]),
    default="text",
    show_default=True,
    help="json: one JSON object per log line on stderr (time, level, event, run, counts), "
    "at info level unless -vv.",
)
def cli(verbose: int, log_format: str) -> None:
    """idgraph: the identity graph of apps with no user API (Postmark first).

    Sync what the API can tell about access, add the team members only the web UI shows as
    attested facts, keep every run in SQLite, and export the access-review pack.

    Exit codes: 0 done, 1 the run was partial or failed (verify: something does not
    match), 2 bad usage, 3 configuration
    (a missing token, a bad file), 4 the API or network failed, 5 the database is busy,
    130 interrupted (Ctrl-C). With --json, an error that ends a command is also a JSON
    answer on stdout.
    """
    with user_errors():  # two plugins declaring one kind: refused at load, exit 3
        registry()
    level = {0: logging.WARNING, 1: logging.INFO}.get(verbose, logging.DEBUG)
    if log_format == "json":
        from .logjson import use_json_logs

        use_json_logs(min(level, logging.INFO), sys.stderr)
        return
    from .logjson import use_text_logs

    use_text_logs()
    logging.basicConfig(
        level=level, format="%(levelname)s %(name)s: %(message)s", stream=sys.stderr
    )


# -- sync -----------------------------------------------------------------------------------


class SyncGroup(click.Group):
    """`idgraph sync CONNECTOR`: one subcommand per loaded connector, its options built from
    the connector's options class."""

    def list_commands(self, ctx: click.Context) -> list[str]:
        return sorted(get_connectors())

    def get_command(self, ctx: click.Context, name: str) -> click.Command | None:
        connector = get_connectors().get(name)
        return None if connector is None else sync_command_for(connector)

    def parse_args(self, ctx: click.Context, args: list[str]) -> list[str]:
        # `idgraph sync --db x`: the options belong to a connector's command, named first
        if args and args[0].startswith("-") and args[0] not in ("--help", "-h"):
            connectors = ", ".join(sorted(get_connectors())) or "none installed"
            raise click.UsageError(
                f"name the connector before its options: `idgraph sync NAME {' '.join(args)}` "
                f"(connectors: {connectors})",
                ctx,
            )
        return super().parse_args(ctx, args)


def sync_command_for(connector: Any) -> click.Command:
    name = connector.name

    def callback(
        db_path: Path, account_label: str | None, lock_wait: float, as_json: bool, **values: Any
    ) -> None:
        verbose = click.get_current_context().find_root().params.get("verbose", 0)
        # an error's JSON answer (--json) is RootGroup's, as for every command
        with user_errors():
            try:
                result = run_sync(
                    name,
                    db_path,
                    environ=os.environ,
                    options=values,
                    account_label=account_label,
                    show_progress=not as_json and err_console.is_terminal,
                    lock_wait=lock_wait,
                )
            except KeyboardInterrupt as exc:  # a run's write is one transaction: all or none
                message = f"{INTERRUPTED_MESSAGE}: the run changed nothing"
                run = getattr(exc, "run_id", None)  # set once the run was recorded failed
                details = {} if run is None else {"run_id": run}
                raise Failure(message, EXIT_INTERRUPTED, details) from None
        if as_json:
            click.echo(json.dumps(sync_result_json(result), indent=2))
        else:
            print_sync_summary(result, db_path, verbose=bool(verbose))
        if result.status != "complete":
            raise SystemExit(EXIT_INCOMPLETE)

    command = click.Command(
        name,
        callback=callback,
        help=f"{connector.description}.\n\nThe credential comes from {connector.secret_env} "
        "(never an argument). Exit 0 only for a complete run; a partial or failed run is "
        "recorded but changes nothing.",
        short_help=connector.description,
    )
    command.params = [
        *click_options(connector.options_class),
        click.Option(
            ["--account-label"],
            help="A name for the account. Default: the account this credential is already "
            "known as, or for a first account the credential's fingerprint.",
        ),
        click.Option(
            ["--lock-wait"],
            type=click.FloatRange(0),
            default=30.0,
            show_default=True,
            help="Seconds to wait for another run on the same database to finish.",
        ),
    ]
    db_option(command)
    json_option(command)
    return command


@click.group("sync", cls=SyncGroup)
def sync_group() -> None:
    """Read an account through a connector's API and record the run (`idgraph sync
    postmark`); only a complete run changes the graph."""


# -- history and inspection -----------------------------------------------------------------


@click.command("runs")
@db_option
@click.option(
    "--limit",
    type=click.IntRange(min=1),
    default=20,
    show_default=True,
    help="How many runs, the newest.",
)
@format_option
def runs_command(db_path: Path, limit: int, output_format: str, as_json: bool) -> None:
    """The run history, newest first."""
    with user_errors(db_path):
        store = Store(db_path, create=False)
        try:
            runs = store.runs(limit)
        finally:
            store.close()
    fmt = chosen_format(output_format, as_json)
    if fmt != "table":
        rows = [run.__dict__ for run in runs]
        emit_rows(rows, list(rows[0]) if rows else ["id"], fmt)
        return
    shown = table(
        "run", "kind", "scope", "started", "finished", "status", "changes", "errors", "note"
    )
    for run in runs:
        changes = sum(
            n for part in run.counts.values() for change in part.values() for n in change.values()
        )
        shown.add_row(
            str(run.id),
            run.kind,
            escape(terminal_text(run.scope)),
            run.started,
            run.finished or "",
            run.status,
            str(changes),
            str(len(run.errors)),
            escape(terminal_text(_run_note(run))),
        )
    out_console.print(shown)


def _run_note(run: Run) -> str:
    """`idgraph runs`' note: a rotation, else a run that is not complete's first error."""
    if run.rotated_from:
        return f"credential rotated (was {run.rotated_from})"
    if run.status != "complete" and run.errors:
        more = f" (+{len(run.errors) - 1} more)" if len(run.errors) > 1 else ""
        return run.errors[0][:120] + more
    return ""


@click.command("show")
@needs_plugins
@click.argument("node_id")
@db_option
@click.option("--run", "run_id", type=int, help="As of this complete run (default: the latest).")
@json_option
def show_command(node_id: str, db_path: Path, run_id: int | None, as_json: bool) -> None:
    """A node with its attributes and edges, as of a complete run."""
    from .view import load_graph

    with user_errors(db_path):
        store = Store(db_path, create=False)
        try:
            run, graph = load_graph(store, run_id)
        finally:
            store.close()
    if node_id not in graph:
        raise Failure(f"no node {node_id!r} in run {run.id}{_suggest(graph, node_id)}", EXIT_CONFIG)
    out_edges = [
        {"kind": d["kind"], "to": v, **{k: x for k, x in d.items() if k not in ("kind",)}}
        for _u, v, d in graph.out_edges(node_id, data=True)
    ]
    in_edges = [
        {"kind": d["kind"], "from": u, **{k: x for k, x in d.items() if k not in ("kind",)}}
        for u, _v, d in graph.in_edges(node_id, data=True)
    ]
    data = {
        "id": node_id,
        "run": run.id,
        "attributes": dict(graph.nodes[node_id]),
        "out_edges": out_edges,
        "in_edges": in_edges,
    }
    if as_json:
        click.echo(json.dumps(data, indent=2, default=str))
        return
    # Values come from the API: control characters are shown escaped, never sent raw.
    out_console.print(f"[bold]{escape(terminal_text(node_id))}[/bold] (as of run {run.id})")
    for key, value in sorted(data["attributes"].items()):
        shown = "(not set)" if value is None else value  # not Python's None
        out_console.print(terminal_text(f"  {key}: {shown}"), markup=False)
    for label, edges, end in (("out", out_edges, "to"), ("in", in_edges, "from")):
        for edge in edges:
            arrow = "->" if label == "out" else "<-"
            out_console.print(terminal_text(f"  {arrow} {edge['kind']} {edge[end]}"), markup=False)


def _suggest(graph: Any, wanted: str) -> str:
    """'; did you mean: ...' with the ids (or the ids of names) closest to `wanted`."""
    import difflib

    by_name: dict[str, str] = {}
    for node, data in graph.nodes(data=True):
        for key in ("name", "email", "fingerprint", "host", "label"):
            if isinstance(data.get(key), str):
                by_name.setdefault(data[key], node)
    close = difflib.get_close_matches(wanted, list(graph.nodes), n=5)
    close += [
        by_name[name]
        for name in difflib.get_close_matches(wanted, list(by_name), n=5)
        if by_name[name] not in close
    ]
    return f"; did you mean: {', '.join(close[:5])}?" if close else ""


@click.command("plugins")
@json_option
def plugins_command(as_json: bool) -> None:
    """The loaded plugins, their hooks and versions."""
    rows = describe_plugins()
    if as_json:
        click.echo(json.dumps(rows, indent=2))
        return
    shown = table("name", "hooks", "version")
    for row in rows:
        shown.add_row(row["name"], ", ".join(row["hooks"]), row["version"])
    out_console.print(shown)


# -- the review pack ------------------------------------------------------------------------


@click.command("export")
@needs_plugins
@db_option
@click.option("--run", "run_id", type=int, help="A complete run (default: the latest).")
@click.option(
    "--out",
    "out_dir",
    type=click.Path(file_okay=False, path_type=Path),
    required=True,
    help="The folder to write the pack into.",
)
@click.option(
    "--format",
    "formats",
    multiple=True,
    help="Only these exporters (repeat): review-csv, review-xlsx, html, graph-json, graphml, "
    "baton, bloodhound, veza, and any a plugin adds (an unknown name lists them); default: all.",
)
@click.option(
    "--since",
    "since",
    type=int,
    help="A complete run: fill 'change since last review' and list access removed.",
)
@click.option(
    "--scope",
    "row_scope",
    type=click.Choice(["all", "changed"]),
    default="all",
    show_default=True,
    help="changed: review rows new or changed since the baseline, and every open item.",
)
@click.option(
    "--by-reviewer",
    is_flag=True,
    help="Also one review-<reviewer>.xlsx per suggested reviewer (the resource's owner; "
    "review-unassigned.xlsx for rows with none); `review import` takes them all at once.",
)
@click.option(
    "--sign",
    "sign_key",
    type=click.Path(dir_okay=False, path_type=Path),
    help="Sign manifest.intoto.json with this Ed25519 private key (PEM; `idgraph keygen`).",
)
@force_option
@review_options
@json_option
def export_command(
    db_path: Path,
    run_id: int | None,
    out_dir: Path,
    formats: tuple[str, ...],
    since: int | None,
    row_scope: str,
    by_reviewer: bool,
    sign_key: Path | None,
    force: bool,
    allow_domains: tuple[str, ...],
    max_admins: int,
    as_json: bool,
) -> None:
    """Write the access-review pack of a complete run.

    review.csv and review.xlsx (one row per decision: a member's access to a resource, or a
    credential; decision columns empty), report.html, graph.json, graph.graphml, and the
    formats governance platforms load (baton-file.csv, bloodhound-opengraph.json with its
    icons in bloodhound-custom-nodes.json, veza-oaa.json with the `veza` extra), and
    manifest.intoto.json: every file's SHA-256 and where the population came from, signed
    with --sign (docs/evidence.md; `idgraph verify` checks it). A run that is not complete
    is refused: a file missing rows would read as "access removed" downstream. A pack
    already in the folder (perhaps a review.xlsx being filled) is replaced only with --force.
    """
    from .host import write_review_pack
    from .plugins import get_exporters

    exporters = get_exporters()
    unknown = [f for f in formats if f not in exporters]
    if unknown:
        raise Failure(
            f"unknown format(s) {', '.join(unknown)}; known: {', '.join(sorted(exporters))}",
            EXIT_USAGE,
        )
    with user_errors(db_path):
        context, written, skipped = write_review_pack(
            db_path,
            out_dir,
            formats=formats,
            run_id=run_id,
            since=since,
            options={
                "allow_domains": list(allow_domains),
                "max_admins": max_admins,
                "scope": row_scope,
            },
            force=force,
            sign_key=sign_key,
            by_reviewer=by_reviewer,
        )
    missing = _unattested_sources(db_path, context.run.id)
    if as_json:
        summary = _export_summary(context, since, written, skipped, sign_key, missing)
        click.echo(json.dumps(summary, indent=2))
        return
    _print_export(context, out_dir, written, skipped, sign_key, missing)


def _unattested_sources(db_path: Path, run_id: int) -> list[dict[str, Any]]:
    """The run's sources whose population is not attested (`export`'s notes)."""
    from .attestation import unattested

    with user_errors(db_path):
        store = Store(db_path, create=False)
        try:
            return unattested(store, run_id)
        finally:
            store.close()


def _export_summary(
    context: Any,
    since: int | None,
    written: list[str],
    skipped: list[str],
    sign_key: Path | None,
    missing: list[dict[str, Any]],
) -> dict[str, Any]:
    """`export --json`'s summary of the pack written."""
    return {
        "run": context.run.id,
        "since": since,
        "rows": context.row_count,
        "removed": len(context.removed),
        "findings": len(context.findings),
        "files": written,
        "signed": sign_key is not None,
        "skipped": skipped,
        "unattested": [
            {k: row[k] for k in ("connector", "account_label", "status", "state")}
            for row in missing
        ],
    }


def _print_export(
    context: Any,
    out_dir: Path,
    written: list[str],
    skipped: list[str],
    sign_key: Path | None,
    missing: list[dict[str, Any]],
) -> None:
    """`export`'s report of the pack written: the files, then the notes."""
    out_console.print(
        f"Review pack of run {context.run.id}: {context.row_count} rows to decide, "
        f"{len(context.findings)} findings -> {out_dir}"
    )
    for path in written:
        out_console.print(f"  {path}", markup=False)
    for reason in skipped:
        err_console.print(f"note: {reason}", markup=False)
    if sign_key is None:
        err_console.print(
            "note: manifest.intoto.json is not signed (export --sign KEY signs it)", markup=False
        )
    for row in missing:
        err_console.print(f"note: {row['note']}", markup=False)


@click.command("findings")
@needs_plugins
@db_option
@click.option("--run", "run_id", type=int, help="A complete run (default: the latest).")
@click.option(
    "--fail-on",
    type=click.Choice(["high", "medium", "low"]),
    help="Exit 1 when a finding of this severity or worse exists (for a CI job).",
)
@review_options
@format_option
def findings_command(
    db_path: Path,
    run_id: int | None,
    fail_on: str | None,
    allow_domains: tuple[str, ...],
    max_admins: int,
    output_format: str,
    as_json: bool,
) -> None:
    """The review checks' findings on a complete run, most severe first. With --fail-on,
    exit 1 when any finding is that severe or worse."""
    from .review import build_review

    with user_errors(db_path):
        store = Store(db_path, create=False)
        try:
            context = build_review(
                store,
                run_id,
                options={"allow_domains": list(allow_domains), "max_admins": max_admins},
            )
        finally:
            store.close()
    fmt = chosen_format(output_format, as_json)
    if fmt != "table":
        rows = [f.__dict__ for f in context.findings]
        emit_rows(rows, ["severity", "check", "node", "message"], fmt)
    else:
        shown = table("severity", "check", "node", "finding")
        for finding in context.findings:
            shown.add_row(
                finding.severity,
                finding.check,
                escape(terminal_text(finding.node)),
                escape(terminal_text(finding.message)),
            )
        out_console.print(shown)
    if fail_on is not None:
        from .review import SEVERITY_RANK

        worst = [f for f in context.findings if SEVERITY_RANK[f.severity] >= SEVERITY_RANK[fail_on]]
        if worst:
            err_console.print(
                f"{len(worst)} finding(s) of severity {fail_on} or worse", markup=False
            )
            raise SystemExit(EXIT_INCOMPLETE)


@click.command("diff")
@needs_plugins
@click.argument("run_a", type=int, required=False)
@click.argument("run_b", type=int, required=False)
@click.option(
    "--attested",
    is_flag=True,
    help="Named no runs: compare the latest two attestations (default: the latest two syncs).",
)
@db_option
@format_option
def diff_command(
    run_a: int | None,
    run_b: int | None,
    attested: bool,
    db_path: Path,
    output_format: str,
    as_json: bool,
) -> None:
    """What appeared, disappeared and changed between two complete runs. Named none: the
    latest two complete syncs of the account synced last (--attested: its latest two
    attestations), that account only; one: from it to the latest run of its kind. Attested
    changes come first, per member (role, access), with each import's provenance (who,
    when, evidence, file digests) on one line."""
    from .diff import count_changes, diff_runs, flat_rows

    with user_errors(db_path):
        store = Store(db_path, create=False)
        try:
            result = diff_runs(store, run_a, run_b, attested=attested)
        finally:
            store.close()
    fmt = chosen_format(output_format, as_json)
    if fmt != "table":
        columns = ["from_run", "to_run", "source", "what", "change", "id", "kind", "scope"]
        emit_rows(flat_rows(result), [*columns, "attributes"], fmt, document=result)
        return
    which = f" ({result['kind']}s of {result['scope']})" if result["scope"] else ""
    out_console.print(
        f"Changes from run {result['from_run']} to run {result['to_run']}{which}: "
        f"{count_changes(result)}",
        markup=False,
    )
    _print_member_changes(result)
    for source in ("api", "attested"):
        for part in ("nodes", "edges"):
            for change, items in sorted(result[part][source].items()):
                out_console.print(f"\n[bold]{source} {part} {change}[/bold] ({len(items)})")
                for item in items:
                    detail = _told(item.get("attributes"))
                    out_console.print(f"  {item['id']}{detail and '  ' + detail}", markup=False)


def _told(attributes: dict[str, list[Any]] | None) -> str:
    return ", ".join(f"{k}: {v[0]!r} -> {v[1]!r}" for k, v in (attributes or {}).items())


def _print_member_changes(result: dict[str, Any]) -> None:
    """Per member first (role and access), then each import's provenance on one line."""
    if result["members"]:
        out_console.print(f"\n[bold]attested members[/bold] ({len(result['members'])})")
    for member in result["members"]:
        out_console.print(
            f"  {member['id']} {member['change']}: {_told(member['attributes'])}", markup=False
        )
    for line in result["provenance"]:
        out_console.print(
            f"\n[bold]attested provenance[/bold] import {line['from_import']} -> "
            f"{line['to_import']} ({line['members']} members)"
        )
        out_console.print(f"  {_told(line['fields'])}", markup=False)


@click.group("review")
def review_group() -> None:
    """Access-review decisions."""


@review_group.command("import")
@needs_plugins
@click.argument("files", nargs=-1, required=True, type=click.Path(dir_okay=False, path_type=Path))
@click.option(
    "--reviewer",
    required=True,
    callback=email_option,
    help="Your email (used where a row names none).",
)
@click.option(
    "--out",
    "out_dir",
    type=click.Path(file_okay=False, path_type=Path),
    help="Where to write remediation.md (default: beside the first FILE).",
)
@click.option(
    "--encoding",
    help="A CSV's text encoding when it is not UTF-8 (e.g. cp1252 for Excel's plain CSV).",
)
@click.option(
    "--sign-off",
    help="The statement you accept, kept with the decisions and shown in report.html, e.g. "
    '"I reviewed every access path of run 12; the decisions are mine."',
)
@force_option
@db_option
@json_option
def review_import(
    files: tuple[Path, ...],
    reviewer: str,
    out_dir: Path | None,
    encoding: str | None,
    sign_off: str | None,
    force: bool,
    db_path: Path,
    as_json: bool,
) -> None:
    """Read a filled review.xlsx or review.csv back (or several: the workbooks of `export
    --by-reviewer`, imported together): every row is checked against the run it came
    from; on any problem each is listed (file, row, column) and nothing is stored
    (exit 3), and so is a missing or unwritable --out folder. Writes remediation.md: the
    exact step for each revoke, and for each modify the change to make (none is executed);
    an existing one is replaced only with --force. The decisions are stored only once
    remediation.md is on disk: a full disk stores nothing."""
    from .decisions import DecisionsInvalid, import_decisions

    with user_errors(db_path):
        store = Store(db_path, create=False)
    try:
        with user_errors(db_path):
            result = import_decisions(
                store,
                list(files),
                reviewer=reviewer,
                out_dir=out_dir,
                encoding=encoding,
                force=force,
                sign_off=sign_off,
            )
    except DecisionsInvalid as exc:
        refuse_file(exc.problems)
    finally:
        store.close()
    if as_json:
        click.echo(json.dumps(result, indent=2))
        return
    counts = result["decisions"]
    out_console.print(
        f"Decisions for run {result['run_id']}: {counts['keep']} keep, "
        f"{counts['revoke']} revoke, {counts['modify']} modify. "
        f"Steps: {result['remediation']}",
        markup=False,
    )
    for flag in result["self_reviews"]:
        err_console.print(f"warning: self-review: {terminal_text(flag)}", markup=False)


STATUS_COLUMNS = [
    "id",
    "status",
    "decision",
    "principal",
    "resource",
    "access",
    "decided_run",
    "age_days",
    "evidence_run",
    "evidence_at",
    "fixed_run",
]


@review_group.command("status")
@db_option
@click.option(
    "--fail-on",
    type=click.Choice(["open", "overdue"]),
    help="Exit 1 when an item is open (or reappeared), or open for more than --due days.",
)
@click.option(
    "--due",
    type=click.IntRange(0),
    default=30,
    show_default=True,
    help="Days an item may stay open before it is overdue.",
)
@format_option
def review_status(
    db_path: Path, fail_on: str | None, due: int, output_format: str, as_json: bool
) -> None:
    """The remediation items: each revoke or modify decision, and whether a later sync (for
    API-visible access) or attestation (for team members) showed it done (fixed, with the
    run), still there (open) or back (reappeared); with its age in days."""
    from .remediation import status_rows

    with user_errors(db_path):
        store = Store(db_path, create=False)
        try:
            rows = status_rows(store)
        finally:
            store.close()
    fmt = chosen_format(output_format, as_json)
    if fmt == "table" and not rows:
        out_console.print("No remediation items: no revoke or modify decision imported yet.")
    elif fmt == "table":
        emit_rows(rows, STATUS_COLUMNS, fmt, title="Remediation items")
    else:
        emit_rows(rows, [*STATUS_COLUMNS, "justification", "summary"], fmt)
    still = [r for r in rows if r["status"] in ("open", "reappeared")]
    failing = still if fail_on == "open" else [r for r in still if r["age_days"] > due]
    if fail_on is not None and failing:
        what = "open" if fail_on == "open" else f"open for more than {due} days"
        err_console.print(f"{len(failing)} remediation item(s) {what}", markup=False)
        raise SystemExit(EXIT_INCOMPLETE)


# Every command of the host, in one place (a plugin adds its own in `register_commands`)
HOST_COMMANDS: tuple[click.Command, ...] = (
    sync_group,
    runs_command,
    show_command,
    plugins_command,
    export_command,
    findings_command,
    diff_command,
    review_group,
    attest_cli.attest_group,
    query_cli.access_command,
    query_cli.nodes_command,
    query_cli.datasette_metadata_command,
    annotate_cli.annotate_group,
    evidence_cli.keygen_command,
    evidence_cli.verify_command,
)
for _command in HOST_COMMANDS:
    cli.add_command(_command)

_plugin_commands_registered = False


def build_cli() -> click.Group:
    """The `idgraph` group with every plugin's commands added (once)."""
    global _plugin_commands_registered
    if not _plugin_commands_registered:
        _plugin_commands_registered = True
        load_plugins().hook.register_commands(cli=cli)
    return cli


def main() -> None:  # pragma: no cover - console-script entry
    try:
        _main()
    except KeyboardInterrupt:  # while starting (imports, plugins): RootGroup answers after
        interrupted(sys.argv[1:])


def _main() -> None:
    # `import httpx` imports httpx's own command line (rich, pygments, click: some 70
    # modules, a tenth of a second on every start) unless that import fails, when httpx
    # falls back to a stub; idgraph never runs httpx's command line
    sys.modules.setdefault("httpx._main", None)  # type: ignore[arg-type]
    command = build_cli()
    # What is imported by now lives as long as the process: the garbage collector need not
    # walk it again on every full collection, nor at exit (60 ms of a sync, measured)
    gc.freeze()
    try:
        command()
    finally:
        gc.freeze()
