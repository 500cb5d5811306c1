"""What every command shares, the host's and a plugin's: exit codes, common options,
`user_errors` (an error a user can cause as one line and an exit code), options from a
pydantic class, `run_sync` and its summary. `idgraph.plugin.cli` re-exports it for plugins;
`graph/cli.py` builds the `idgraph` command line on it."""

from __future__ import annotations

import functools
import logging
import sqlite3
import sys
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager, nullcontext
from pathlib import Path
from typing import Any, NoReturn

import click
from pydantic import ValidationError

from .answers import EXIT_INTERRUPTED, INTERRUPTED_MESSAGE, answer_error, interrupted
from .console import err_console, escape, out_console, table
from .host import sync_account
from .interfaces import ConfigError, SourceError
from .plugins import get_connectors
from .store import RunNotFound, Store, StoreBusy, storage_error
from .sync import SyncResult, read_secret
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
    """A user-facing failure: one clear line on stderr and a meaningful exit code.
    `details` go into the JSON answer of a command run with --json (a failed run's id)."""

    def __init__(
        self, message: str, exit_code: int, details: Mapping[str, Any] | None = None
    ) -> None:
        super().__init__(message)
        self.exit_code = exit_code
        self.details = dict(details or {})

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
        raise Failure(str(exc), EXIT_CONFIG, _run_of(exc)) from None
    except StoreBusy as exc:
        raise Failure(str(exc), EXIT_BUSY) from None
    except RunNotFound as exc:
        raise Failure(str(exc), EXIT_CONFIG) from None
    except SourceError as exc:
        raise Failure(str(exc), EXIT_API, _run_of(exc)) from None


def _run_of(exc: ConfigError | SourceError) -> dict[str, int]:
    """The run a failed sync recorded, for the JSON answer ({} when none was started)."""
    return {} if exc.run_id is None else {"run_id": exc.run_id}


class RootGroup(click.Group):
    """`idgraph`: every error that ends a command is one line on stderr and its exit code
    (Ctrl-C: 130, not click's "Aborted!" and 1), and with --json also a JSON answer on
    stdout (`{"status": "error", "exit_code": N, "error": "...", "run_id": N}`), for every
    command, usage errors included."""

    def main(self, args: Sequence[str] | None = None, *rest: Any, **kwargs: Any) -> Any:
        if kwargs.get("standalone_mode", True) is False:
            return super().main(args, *rest, **kwargs)
        argv = list(sys.argv[1:] if args is None else args)
        try:
            code = super().main(argv, *rest, **{**kwargs, "standalone_mode": False})
        except click.ClickException as exc:
            answer_error(argv, exc.exit_code, exc.format_message(), getattr(exc, "details", {}))
            _show(exc)
            sys.exit(exc.exit_code)
        except click.Abort as exc:
            if not isinstance(exc.__cause__, KeyboardInterrupt):  # end of input at a prompt
                click.echo("Aborted!", err=True)
                sys.exit(EXIT_INCOMPLETE)
            interrupted(argv)  # while the command line was parsed
        sys.exit(code if isinstance(code, int) else EXIT_OK)

    def invoke(self, ctx: click.Context) -> Any:
        try:
            return super().invoke(ctx)
        except KeyboardInterrupt:  # every command's; before click's handler prints a blank
            raise Failure(INTERRUPTED_MESSAGE, EXIT_INTERRUPTED) from None  # line, "Aborted!"


def _show(exc: click.ClickException) -> None:
    """One line: a usage error names where its help is instead of click's usage block."""
    if isinstance(exc, click.UsageError) and exc.ctx is not None:
        where = exc.ctx.command_path
        click.echo(f"Error: {exc.format_message()} (see `{where} --help`)", err=True)
    else:
        exc.show()


def email_option(ctx: click.Context, param: click.Parameter, value: str | None) -> str | None:
    """An option naming a person (--reviewer, --attested-by ...): an email, else exit 2."""
    from .csvinput import EMAIL
    from .normalise import canonical_email

    if value is not None and not EMAIL.match(canonical_email(value)):
        raise click.BadParameter(f"{value!r} is not an email address")
    return value


def refuse_file(problems: list[str]) -> NoReturn:
    """A refused input file: its problems on stderr (the first 50, then how many more), one
    line saying nothing was imported, exit 3."""
    from .csvinput import shown_problems

    shown = shown_problems(problems)
    for problem in shown:
        click.echo(f"error: {problem}", err=True)
    message = f"{len(problems)} problem(s): nothing was imported"
    raise Failure(message, EXIT_CONFIG, {"problems": shown})


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
    with progress if progress is not None else nullcontext():
        return sync_account(
            db_path,
            connector,
            secret=secret,
            options=validated,
            account_label=account_label,
            progress=report,
            lock_wait=lock_wait,
        )


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


def _throttling(stats: dict) -> str:
    """What rate limiting did to a run, from a client's stats: the answers that were 429s,
    and how far the requests in flight were cut ("" when nothing was refused)."""
    if not stats.get("throttled"):
        return ""
    said = f"; {stats['throttled']} answered 429, rate limited"
    if stats.get("concurrency_cuts"):
        said += f"; at most {stats.get('lowest_concurrency')} at once at the slowest"
    return said


def print_sync_summary(result: SyncResult, db_path: Path, *, verbose: bool = False) -> None:
    """Two lines at most: the run and its totals; the per-kind table only with -v."""
    collection = result.collection
    style = {"complete": "green", "partial": "yellow", "failed": "red"}[result.status]
    stats = collection.stats
    requests = (  # only a connector that reports requests (one reading a file has none)
        f", {stats['requests']} API requests ({stats.get('retries', 0)} retried"
        f"{_throttling(stats)})"
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
        first = totals[0] == len(collection.nodes) + len(collection.edges) and not any(
            totals[1:]
        )  # everything seen is new: the account's first complete sync, nothing to diff yet
        nodes, edges = (sum(r[2] + r[3] + r[4] for r in rows if r[0] == w) for w in WHAT)
        if first:
            out_console.print(
                f"Changes: {totals[0]} created ({nodes} of them nodes, {edges} edges: every node "
                "and edge seen, the account's first complete sync; a first sync creates "
                f"everything it sees){rotation}; `idgraph -v sync ...` lists them by kind"
            )
        elif any(totals):
            out_console.print(
                f"Changes: {totals[0]} created, {totals[1]} changed, {totals[2]} removed"
                f"{rotation} ({nodes} of them nodes, {edges} edges; seen is what the source "
                "returned now, a change what differs from the previous complete run; details: "
                "`idgraph -v sync ...` or `idgraph diff`)"
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


def click_options(model: type[Any]) -> list[click.Option]:
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
            missing = missing_plugins(store)
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
