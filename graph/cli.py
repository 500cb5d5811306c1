"""The `idgraph` command line."""

from __future__ import annotations

import functools
import gc
import json
import logging
import os
import sqlite3
import sys
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager, nullcontext
from pathlib import Path
from typing import Any

import click
from pydantic import ValidationError

from .console import err_console, escape, out_console, table
from .interfaces import ConfigError, SourceError
from .output import chosen_format, emit_rows, format_option
from .plugins import describe_plugins, get_connectors, load_plugins
from .schema import registry
from .store import Run, RunNotFound, Store, StoreBusy, storage_error
from .sync import SyncResult, read_secret, sync
from .text import terminal_text

EXIT_OK = 0
EXIT_INCOMPLETE = 1  # the run finished partial or failed
EXIT_USAGE = 2  # click's own code for bad options
EXIT_CONFIG = 3  # missing or wrong configuration (env var, file)
EXIT_API = 4  # the API or network refused or failed
EXIT_BUSY = 5  # another run holds the database

log = logging.getLogger("idgraph")

db_option = click.option(
    "--db",
    "db_path",
    type=click.Path(path_type=Path),  # the store names a folder or bad file (exit 3)
    default="idgraph.db",
    envvar="IDGRAPH_DB",
    show_default=True,
    show_envvar=True,
    help="The SQLite file that keeps every run.",
)
json_option = click.option("--json", "as_json", is_flag=True, help="Print JSON for machines.")
force_option = click.option(
    "--force",
    is_flag=True,
    help="Replace files that already exist (never a link or a database).",
)


class Failure(click.ClickException):
    """A user-facing failure: one clear line on stderr and a meaningful exit code."""

    def __init__(self, message: str, exit_code: int) -> None:
        super().__init__(message)
        self.exit_code = exit_code

    def show(self, file: Any = None) -> None:
        click.echo(f"Error: {self.format_message()}", err=True)


@contextmanager
def user_errors(db_path: Path | None = None) -> Iterator[None]:
    """Turn the errors a user can cause into one line and an exit code, never a traceback.

    A database file that cannot be used is a `StoreError` (a ConfigError: exit 3); an SQLite
    error found later while reading `db_path` is described the same way."""
    try:
        yield
    except sqlite3.Error as exc:
        message = str(storage_error(db_path or Path("the database"), exc))
        raise Failure(message, EXIT_CONFIG) from None
    except ConfigError as exc:
        raise Failure(str(exc), EXIT_CONFIG) from None
    except StoreBusy as exc:
        raise Failure(str(exc), EXIT_BUSY) from None
    except RunNotFound as exc:
        raise Failure(str(exc), EXIT_CONFIG) from None
    except SourceError as exc:
        raise Failure(str(exc), EXIT_API) from None


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
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

    Exit codes: 0 done, 1 the run was partial or failed, 2 bad usage, 3 configuration
    (a missing token, a bad file), 4 the API or network failed, 5 the database is busy.
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


def _progress_reporter(enabled: bool) -> tuple[Callable[[str, int, int | None], None], Any]:
    if not enabled:
        return (lambda *_: None), None
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

    progress = Progress(
        TextColumn("{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        console=err_console.console,
        transient=True,
    )
    tasks: dict[str, Any] = {}

    def report(step: str, done: int, total: int | None) -> None:
        if step not in tasks:
            tasks[step] = progress.add_task(step, total=total)
        progress.update(tasks[step], completed=done, total=total)

    return report, progress


def run_sync(
    connector_name: str,
    db_path: Path,
    *,
    environ: Mapping[str, str],
    options: Mapping[str, Any] | None = None,
    account_label: str | None = None,
    show_progress: bool = False,
    lock_wait: float = 30.0,
) -> SyncResult:
    """Sync one account of a connector into `db_path`: the credential comes from the
    connector's environment variable in `environ`, the options are validated by its class."""
    connectors = get_connectors()
    if connector_name not in connectors:
        known = ", ".join(sorted(connectors)) or "none"
        raise Failure(f"no connector named {connector_name!r} (loaded: {known})", EXIT_USAGE)
    connector = connectors[connector_name]
    secret = read_secret(connector, environ)
    try:
        validated = connector.options_class.model_validate(dict(options or {}))
    except ValidationError as exc:
        raise Failure(_validation_message(connector_name, exc), EXIT_USAGE) from None
    report, progress = _progress_reporter(show_progress)
    store = Store(db_path)
    try:
        with progress if progress is not None else nullcontext():
            return sync(
                store,
                connector,
                secret=secret,
                options=validated,
                account_label=account_label,
                progress=report,
                lock_wait=lock_wait,
            )
    finally:
        store.close()


def _validation_message(connector_name: str, exc: ValidationError) -> str:
    problems = [
        f"--{'.'.join(str(p) for p in error['loc']).replace('_', '-')}: "
        + error["msg"].removeprefix("Value error, ")
        for error in exc.errors()
    ]
    return f"{connector_name} options: " + "; ".join(problems)


WHAT = ("nodes", "edges")


def _summary_rows(result: SyncResult) -> list[tuple[str, str, int, int, int]]:
    rows = []
    for what in WHAT:
        counts = result.counts.get(what, {})
        kinds = set()
        for change in ("created", "changed", "removed"):
            kinds |= set(counts.get(change, {}))
        for kind in sorted(kinds):
            rows.append(
                (
                    what,
                    kind,
                    *(counts.get(c, {}).get(kind, 0) for c in ("created", "changed", "removed")),
                )
            )
    return rows


def print_sync_summary(result: SyncResult, db_path: Path, *, verbose: bool = False) -> None:
    """Two lines at most: the run and its totals; the per-kind table only with -v."""
    collection = result.collection
    style = {"complete": "green", "partial": "yellow", "failed": "red"}[result.status]
    stats = collection.stats
    requests = (  # only a connector that reports requests (one reading a file has none)
        f", {stats['requests']} API requests ({stats.get('retries', 0)} retried)"
        if "requests" in stats
        else ""
    )
    out_console.print(
        f"Run {result.run_id} [{style}]{result.status}[/{style}] ({escape(result.account.scope)}): "
        f"{len(collection.nodes)} nodes, {len(collection.edges)} edges seen{requests} "
        f"-> {escape(str(db_path))}"
    )
    if result.status == "complete":
        rows = _summary_rows(result)
        totals = [sum(row[i] for row in rows) for i in (2, 3, 4)]
        rotation = (
            f"; credential rotated (was {result.rotated_from})" if result.rotated_from else ""
        )
        if any(totals):
            nodes, edges = (sum(r[2] + r[3] + r[4] for r in rows if r[0] == w) for w in WHAT)
            out_console.print(
                f"Changes: {totals[0]} created, {totals[1]} changed, {totals[2]} removed"
                f"{rotation} ({nodes} of them nodes, {edges} edges; seen is what the source "
                "returned now, a change what differs from the previous complete run, so a "
                "first sync creates everything it sees; details: `idgraph -v sync ...` or "
                "`idgraph diff`)"
            )
        else:
            out_console.print(f"No changes since the previous complete run{rotation}.")
        if verbose and rows:
            shown = table("", "kind", "created", "changed", "removed", title="Changes recorded")
            for row in rows:
                shown.add_row(*(str(v) for v in row))
            out_console.print(shown)
    else:
        out_console.print("Nothing was applied: the graph stays as of the last complete run.")
    remediation_note(db_path)
    ctx = click.get_current_context(silent=True)
    if ctx is not None and ctx.find_root().params.get("log_format") == "json":
        for level, event, texts in (
            (logging.WARNING, "sync_warning", collection.warnings),
            (logging.ERROR, "sync_error", collection.errors),
        ):
            for text in texts:
                log.log(level, "%s", text, extra={"event": event, "run": result.run_id})
        return
    for warning in collection.warnings:
        err_console.print(f"[yellow]warning:[/yellow] {escape(terminal_text(warning))}")
    for error in collection.errors:
        err_console.print(f"[red]error:[/red] {escape(terminal_text(error))}")


def remediation_note(db_path: Path) -> None:
    """The one line a run ends with while remediation items are still open."""
    from .remediation import open_line_of

    line = open_line_of(db_path)
    if line:
        out_console.print(line, markup=False)


def sync_result_json(result: SyncResult) -> dict[str, Any]:
    return {
        "run_id": result.run_id,
        "status": result.status,
        "scope": result.account.scope,
        "account_label": result.account.label,
        "rotated_from": result.rotated_from,
        "nodes_seen": len(result.collection.nodes),
        "edges_seen": len(result.collection.edges),
        "counts": result.counts,
        "errors": result.collection.errors,
        "warnings": result.collection.warnings,
        "stats": result.collection.stats,
    }


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


def _click_options(model: type[Any]) -> list[click.Option]:
    """A click option per field of a pydantic options class (llm-style declarations)."""
    params = []
    for name, field in model.model_fields.items():
        flag = "--" + name.replace("_", "-")
        extra = field.json_schema_extra if isinstance(field.json_schema_extra, dict) else {}
        envvar = extra.get("envvar")
        bounds = {
            key: getattr(meta, key)
            for meta in field.metadata
            for key in ("ge", "le")
            if getattr(meta, key, None) is not None
        }
        kind: Any = str
        if field.annotation is bool:
            params.append(
                click.Option(
                    [flag, name], is_flag=True, default=field.default, help=field.description
                )
            )
            continue
        if field.annotation is int:
            kind = click.IntRange(bounds.get("ge"), bounds.get("le")) if bounds else int
        elif field.annotation is float:
            kind = click.FloatRange(bounds.get("ge"), bounds.get("le")) if bounds else float
        # a field without a default is a required option (given, or from its env var);
        # no `default` at all then: click 8.3 takes an explicit None as a value
        required = field.is_required()
        default = {} if required else {"default": field.default, "show_default": True}
        params.append(
            click.Option(
                [flag, name],
                type=kind,
                required=required,
                envvar=envvar,
                show_envvar=bool(envvar),
                help=field.description,
                **default,
            )
        )
    return params


def sync_command_for(connector: Any) -> click.Command:
    name = connector.name

    def callback(
        db_path: Path, account_label: str | None, lock_wait: float, as_json: bool, **values: Any
    ) -> None:
        verbose = click.get_current_context().find_root().params.get("verbose", 0)
        try:
            with user_errors():
                result = run_sync(
                    name,
                    db_path,
                    environ=os.environ,
                    options=values,
                    account_label=account_label,
                    show_progress=not as_json and err_console.is_terminal,
                    lock_wait=lock_wait,
                )
        except Failure as failure:
            if as_json:  # a script reading stdout gets an answer too (the line stays on stderr)
                answer = {"status": "error", "exit_code": failure.exit_code}
                click.echo(json.dumps({**answer, "error": failure.message}, indent=2))
            raise
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
        *_click_options(connector.options_class),
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


@cli.group("sync", cls=SyncGroup)
def sync_group() -> None:
    """Read an account through a connector's API and record the run (`idgraph sync
    postmark`); only a complete run changes the graph."""


# -- history and inspection -----------------------------------------------------------------


def needs_plugins(command: Callable[..., Any]) -> Callable[..., Any]:
    """Adds --allow-missing-plugins to a command that reads the graph of `db_path`: a
    database holding the graph of a connector whose plugin is not loaded is refused (exit 3),
    since that connector's rows would be left out without a word."""

    @functools.wraps(command)
    def checked(*args: Any, allow_missing_plugins: bool, **kwargs: Any) -> Any:
        _check_plugins_loaded(kwargs["db_path"], allow_missing_plugins)
        return command(*args, **kwargs)

    return click.option(
        "--allow-missing-plugins",
        is_flag=True,
        help="Go on when the database holds the graph of a connector whose plugin is not "
        "loaded (its kinds are then left out).",
    )(checked)


def _check_plugins_loaded(db_path: Path, allow_missing: bool) -> None:
    from .plugins import missing_plugins

    if not db_path.exists():
        return  # the command says so in its own words
    with user_errors(db_path):
        store = Store(db_path, create=False)
        try:
            missing = missing_plugins(store.conn)
        finally:
            store.close()
    if not missing:
        return
    named = ", ".join(
        f"{connector!r} (runs {', '.join(map(str, runs[:3]))}{', ...' if len(runs) > 3 else ''})"
        for connector, runs in sorted(missing.items())
    )
    if allow_missing:
        err_console.print(
            terminal_text(f"warning: plugin(s) not loaded: {named}: their kinds are left out"),
            markup=False,
        )
        return
    raise Failure(
        terminal_text(
            f"{db_path} holds the graph of connector(s) whose plugin is not loaded: {named}; "
            "install the plugin (`idgraph plugins` lists what is loaded; IDGRAPH_LOAD_PLUGINS "
            "narrows it), or pass --allow-missing-plugins to go on without their rows"
        ),
        EXIT_CONFIG,
    )


@cli.command("runs")
@db_option
@click.option("--limit", type=int, default=20, show_default=True)
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


@cli.command("show")
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
        out_console.print(terminal_text(f"  {key}: {value}"), markup=False)
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


@cli.command("plugins")
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


def review_options(command: Callable[..., Any]) -> Callable[..., Any]:
    """Options that tune the review checks."""
    command = click.option(
        "--max-admins",
        type=click.IntRange(0),
        default=3,
        show_default=True,
        help="Flag an account with more owners/admins than this.",
    )(command)
    return click.option(
        "--allow-domain",
        "allow_domains",
        multiple=True,
        help="A domain webhooks may send to (repeat); default: the account's own domains.",
    )(command)


@cli.command("export")
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
    help="Only these exporters (repeat); default: all. See `idgraph plugins`.",
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
    force: bool,
    allow_domains: tuple[str, ...],
    max_admins: int,
    as_json: bool,
) -> None:
    """Write the access-review pack of a complete run.

    review.csv and review.xlsx (one row per access path, decision columns empty),
    report.html, graph.json, graph.graphml, and the formats governance platforms load
    (baton-file.csv, bloodhound-opengraph.json, veza-oaa.json with the `veza` extra). A run
    that is not complete is refused: a file missing rows would read as "access removed"
    downstream. A pack already in the folder (perhaps a review.xlsx being filled) is
    replaced only with --force.
    """
    from .attestation import unattested
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
        )
        if by_reviewer:
            from .exporters.review_xlsx import write_by_reviewer

            written += [str(p) for p in write_by_reviewer(context, out_dir, force=force)]
    with user_errors(db_path):
        store = Store(db_path, create=False)
        try:
            missing = unattested(store, context.run.id)
        finally:
            store.close()
    summary = {
        "run": context.run.id,
        "since": since,
        "rows": context.row_count,
        "removed": len(context.removed),
        "findings": len(context.findings),
        "files": written,
        "skipped": skipped,
        "unattested": [
            {k: row[k] for k in ("connector", "account_label", "status", "state")}
            for row in missing
        ],
    }
    if as_json:
        click.echo(json.dumps(summary, indent=2))
        return
    out_console.print(
        f"Review pack of run {context.run.id}: {context.row_count} rows to decide, "
        f"{len(context.findings)} findings -> {out_dir}"
    )
    for path in written:
        out_console.print(f"  {path}", markup=False)
    for reason in skipped:
        err_console.print(f"note: {reason}", markup=False)
    for row in missing:
        err_console.print(f"note: {row['note']}", markup=False)


@cli.command("findings")
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


@cli.command("diff")
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


@cli.group("review")
def review_group() -> None:
    """Access-review decisions."""


@review_group.command("import")
@needs_plugins
@click.argument("files", nargs=-1, required=True, type=click.Path(dir_okay=False, path_type=Path))
@click.option("--reviewer", required=True, help="Your email (used where a row names none).")
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
@force_option
@db_option
@json_option
def review_import(
    files: tuple[Path, ...],
    reviewer: str,
    out_dir: Path | None,
    encoding: str | None,
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
    from .csvinput import shown_problems
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
            )
    except DecisionsInvalid as exc:
        for problem in shown_problems(exc.problems):
            click.echo(f"error: {problem}", err=True)
        raise Failure(
            f"{len(exc.problems)} problem(s): nothing was imported", EXIT_CONFIG
        ) from None
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


_commands_registered = False


def build_cli() -> click.Group:
    """The `idgraph` group with every plugin's commands added (once)."""
    global _commands_registered
    if not _commands_registered:
        from . import (
            annotate_cli,  # noqa: F401 - adds `idgraph annotate`
            attest_cli,  # noqa: F401 - adds `idgraph attest`
            query_cli,  # noqa: F401 - adds `idgraph access` and `idgraph nodes`
        )

        _commands_registered = True
        load_plugins().hook.register_commands(cli=cli)
    return cli


def main() -> None:  # pragma: no cover - console-script entry
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
