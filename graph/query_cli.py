"""`idgraph access` and `idgraph nodes`: asking the graph from the command line.

`access` reads the access engine (graph/access.py), `nodes` the SQL views of
graph/store/views.py, as of the latest complete run or with `--run N` as of a past one; the
views state the engine's rules in SQL, so the command line and a SQL client agree.
"""

from __future__ import annotations

import difflib
from pathlib import Path
from typing import Any

import click

from .access import kind_fact_rows, read_access
from .cli_base import EXIT_CONFIG, EXIT_USAGE, Failure, db_option, needs_plugins, user_errors
from .output import chosen_format, emit_rows, format_option
from .schema import registry
from .store import Store
from .store import versions as stored_versions
from .text import terminal_text

run_option = click.option(
    "--run", "run_id", type=int, help="As of this complete run (default: the latest)."
)

TO_COLUMNS = [
    "principal",
    "principal_name",
    "principal_type",
    "access",
    "access_kind",
    "grant",
    "how",
    "source",
]
OF_COLUMNS = [
    "resource",
    "resource_name",
    "resource_kind",
    "access",
    "access_kind",
    "grant",
    "how",
    "source",
]
NODE_COLUMNS = ["id", "kind", "name", "email", "scope", "source", "first_seen"]


def open_query_store(db_path: Path, run_id: int | None) -> tuple[Store, int]:
    """The store with its kind facts up to date and, with `run_id`, its views as of that
    complete run; returns the store and the run the answers are as of."""
    if not db_path.exists():
        raise Failure(f"{db_path} does not exist: run `idgraph sync` first", EXIT_CONFIG)
    store = Store(db_path, create=False)
    try:
        store.refresh_views(kind_fact_rows(registry()))
        run = store.complete_run(run_id)
        if run_id is not None:
            store.use_views_as_of(run.id)
    except BaseException:
        store.close()
        raise
    return store, run.id


def _candidates(store: Store, principals: bool) -> list[dict[str, Any]]:
    return store.node_candidates(principals)


def known_kind(kind: str) -> str:
    """A node kind as stored: `server` is `<connector>:server` when one connector declares it;
    an unknown kind is a usage error listing the known ones."""
    declared = sorted(registry().nodes)
    if kind in declared:
        return kind
    short = [k for k in declared if k.rpartition(":")[2] == kind]
    if len(short) == 1:
        return short[0]
    raise Failure(
        f"--kind {kind!r}: "
        + (f"means {' or '.join(short)}: give one" if short else "no such node kind")
        + f"; known kinds: {', '.join(declared)}",
        EXIT_USAGE,
    )


def resolve(store: Store, text: str, *, principals: bool, what: str) -> dict[str, Any]:
    """The one node `text` names: its id, name, email, fingerprint or last 4 characters, its
    key (the id's last part), else a unique part of its name or id. Ambiguous: exit 2 listing
    candidates; unknown: exit 3 with close matches."""
    nodes = _candidates(store, principals)
    folded = text.casefold()
    stages = [
        lambda n: n["id"] == text,
        lambda n: (n["name"] or "").casefold() == folded or (n["email"] or "").casefold() == folded,
        lambda n: (
            n["fingerprint"] in (text, f"sha256:{text}")
            or (n["suffix"] is not None and n["suffix"] == text)
        ),
        lambda n: n["id"].rsplit(":", 1)[-1] == text,  # a key: a server's ID, say
        lambda n: (
            folded in (n["name"] or "").casefold()
            or folded in (n["email"] or "").casefold()
            or folded in n["id"].casefold()
        ),
    ]
    for matches in stages:
        found = [n for n in nodes if matches(n)]
        if len(found) == 1:
            return found[0]
        if found:
            for node in found:
                line = f"  {node['id']}  {node['name']}  ({node['kind']})"
                click.echo(terminal_text(line), err=True)
            raise Failure(
                f"{text!r} matches {len(found)} {what}s (listed above): give an id or more "
                "of the name",
                EXIT_USAGE,
            )
    gone = stored_versions.last_seen_of(store.db.conn, text)
    if gone is not None:
        ident, last_run, removed_in = gone
        raise Failure(
            f"no {what} matches {text!r} now: {ident} was last seen in run {last_run} "
            f"(gone as of run {removed_in})",
            EXIT_CONFIG,
        )
    names = {str(n["name"]): n["id"] for n in nodes if n["name"]}
    close = difflib.get_close_matches(text, [*names, *(n["id"] for n in nodes)], n=5)
    hint = f"; did you mean: {', '.join(close)}?" if close else ""
    raise Failure(f"no {what} matches {text!r}{hint}", EXIT_CONFIG)


@click.command("access")
@needs_plugins
@click.option("--to", "to", metavar="RESOURCE", help="Who reaches it: an id, name or part.")
@click.option(
    "--of", "of", metavar="PRINCIPAL", help="What it reaches: an email, fingerprint or last 4."
)
@run_option
@db_option
@format_option
def access_command(
    to: str | None,
    of: str | None,
    run_id: int | None,
    db_path: Path,
    output_format: str,
    as_json: bool,
) -> None:
    """Who can reach a resource (--to), or what a person or token can reach (--of): each
    path with its access and how (a role, a per-resource grant, a token's scope, or an
    account-wide role that implies every resource of the account)."""
    if (to is None) == (of is None):
        raise Failure("give exactly one of --to RESOURCE or --of PRINCIPAL", EXIT_USAGE)
    fmt = chosen_format(output_format, as_json)
    with user_errors():
        store, as_of = open_query_store(db_path, run_id)
        try:
            if to is not None:
                node = resolve(store, to, principals=False, what="resource")
                columns, key = TO_COLUMNS, "resource"
            else:
                node = resolve(store, of or "", principals=True, what="principal")
                columns, key = OF_COLUMNS, "principal"
            rows = access_answer(store, as_of, key, node["id"])
        finally:
            store.close()
    emit_rows(
        rows,
        columns,
        fmt,
        title=f"{key} {node['name']} ({node['id']}), as of run {as_of}",
        document={"run": as_of, key: node["id"], "name": node["name"], "rows": rows},
    )


def access_answer(store: Store, run_id: int, key: str, node: str) -> list[dict[str, Any]]:
    """The access engine's rows (explicit and implied) of a complete run that have `node`
    as their `key` (principal or resource), as `access` prints them."""

    nodes: dict[str, dict[str, Any]] = {}
    access = read_access(store, store.complete_run(run_id), registry(), nodes=nodes)
    rows = [
        {
            "principal": r.principal,
            "principal_name": r.principal_name,
            "principal_type": r.principal_type,
            "resource": r.resource,
            "resource_name": r.resource_name,
            "resource_kind": nodes.get(r.resource, {}).get("kind"),
            "access": r.access,
            "access_kind": r.access_kind,
            "grant": r.grant,
            "how": r.how,
            "source": r.source,
        }
        for r in access.all_rows()
        if getattr(r, key) == node
    ]
    if key == "resource":
        order = ("principal_type", "principal", "access_kind", "how")
    else:
        order = ("resource_kind", "resource", "access_kind", "how")
    return sorted(rows, key=lambda row: tuple(str(row[c] or "") for c in order))


@click.command("nodes")
@needs_plugins
@click.option("--kind", "kinds", multiple=True, help="Only this kind (repeat).")
@click.option("--search", "text", help="Words in a node's name, email or id.")
@run_option
@db_option
@format_option
def nodes_command(
    kinds: tuple[str, ...],
    text: str | None,
    run_id: int | None,
    db_path: Path,
    output_format: str,
    as_json: bool,
) -> None:
    """The nodes of the graph (as of a complete run), by kind or words in their names."""
    fmt = chosen_format(output_format, as_json)
    with user_errors():
        store, as_of = open_query_store(db_path, run_id)
        try:
            rows = store.find_nodes(
                kinds=tuple(known_kind(kind) for kind in kinds),
                text=text,
                search_index=run_id is None,
            )
        finally:
            store.close()
    emit_rows(rows, NODE_COLUMNS, fmt, title=f"{len(rows)} nodes as of run {as_of}")


@click.command("datasette-metadata")
@db_option
def datasette_metadata_command(db_path: Path) -> None:
    """Datasette metadata (view titles and descriptions) for the database at --db, under
    the name Datasette gives it (its file name without .db): `idgraph datasette-metadata
    --db q4.db > q4.json; datasette q4.db -m q4.json`."""
    import json

    from .datasette import datasette_metadata

    click.echo(json.dumps(datasette_metadata(db_path.stem), indent=2))
