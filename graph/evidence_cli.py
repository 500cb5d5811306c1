"""`idgraph keygen` and `idgraph verify`: the pack's signing key, and checking a pack or the
run ledger of a database (docs/evidence.md)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import click

from .cli_base import (
    EXIT_INCOMPLETE,
    EXIT_USAGE,
    Failure,
    force_option,
    json_option,
    user_errors,
)
from .console import out_console
from .text import terminal_text


@click.command("keygen")
@click.option(
    "--out",
    "out",
    type=click.Path(dir_okay=False, path_type=Path),
    required=True,
    help="The private key file to write (0600); the public key goes to OUT.pub.",
)
@force_option
def keygen_command(out: Path, force: bool) -> None:
    """Make an Ed25519 key pair for `idgraph export --sign` (PEM, as `openssl genpkey
    -algorithm ed25519` makes): give the public part, OUT.pub, to whoever verifies packs."""
    from .evidence import keygen

    with user_errors():
        private, public = keygen(out, force=force)
    out_console.print(
        f"private key: {private} (keep it secret)\npublic key: {public}", markup=False
    )


def _pack_result(pack: Path, key: Path | None) -> dict[str, Any]:
    from .evidence import verify_pack

    verdict = verify_pack(pack, key)
    return {
        "pack": str(pack),
        "ok": not verdict.problems,
        "files": verdict.files,
        "problems": verdict.problems,
        "notes": verdict.notes,
        "ledger": verdict.predicate.get("ledger"),
        "decisions": verdict.predicate.get("decisions"),
    }


def _db_result(db_path: Path, pack: dict[str, Any] | None) -> dict[str, Any]:
    from .store import Store
    from .store.chain import ledger_digests, verify_chain

    pack_ledger = pack.get("ledger") if pack else None

    store = Store(db_path, create=False)
    try:
        checked, broken = verify_chain(store.conn)
        problems = [broken.message] if broken else []
        if pack_ledger and pack_ledger.get("run") is not None:
            run_id = int(pack_ledger["run"])
            stored = ledger_digests(store.conn, [run_id]).get(run_id)
            if stored != pack_ledger.get("digest"):
                problems.append(
                    f"run {run_id}: the pack's ledger digest is not the database's "
                    "(the pack was not exported from this database's run)"
                )
        problems += _decisions_problems(store, pack.get("decisions") if pack else None)
    finally:
        store.close()
    return {"db": str(db_path), "ok": not problems, "runs": checked, "problems": problems}


def _decisions_problems(store: Any, recorded: dict[str, Any] | None) -> list[str]:
    """The pack's decisions against the database's: a decision edited, added or removed
    since the pack was exported no longer gives the digest the predicate recorded."""
    from .evidence import decisions_digest
    from .store.chain import decisions_of_run

    if not recorded or recorded.get("run") is None:
        return []
    run_id = int(recorded["run"])
    if decisions_digest(decisions_of_run(store.conn, run_id)) == recorded.get("rowsSha256"):
        return []
    return [
        f"run {run_id}: the review decisions stored in the database are not the ones the "
        "pack recorded (edited, added or removed since it was exported)"
    ]


@click.command("verify")
@click.argument(
    "pack", required=False, type=click.Path(file_okay=False, exists=False, path_type=Path)
)
@click.option(
    "--key",
    type=click.Path(dir_okay=False, path_type=Path),
    help="The signer's Ed25519 public key (PEM): check the manifest's signature.",
)
@click.option(
    "--db",
    "db_path",
    type=click.Path(path_type=Path),
    help="Recompute this database's run ledger (with PACK: and tie the pack to it).",
)
@json_option
def verify_command(
    pack: Path | None, key: Path | None, db_path: Path | None, as_json: bool
) -> None:
    """Check a review pack (every file's SHA-256 against manifest.intoto.json and, with
    --key, its signature) and/or a database's run ledger (--db). Exit 0 when all matches;
    exit 1 naming each changed, missing or added file, a bad signature, or the first run
    whose stored content no longer matches its ledger digest."""
    if pack is None and db_path is None:
        raise Failure("give a PACK folder to verify, or --db DB, or both", EXIT_USAGE)
    results: list[dict[str, Any]] = []
    with user_errors(db_path):
        if pack is not None:
            results.append(_pack_result(pack, key))
        if db_path is not None:
            results.append(_db_result(db_path, results[0] if results else None))
    if as_json:
        click.echo(json.dumps(results, indent=2))
    else:
        _print_results(results)
    if not all(result["ok"] for result in results):
        raise SystemExit(EXIT_INCOMPLETE)


def _print_results(results: list[dict[str, Any]]) -> None:
    for result in results:
        for problem in result["problems"]:
            click.echo(f"FAIL {terminal_text(problem)}", err=True)
        for note in result.get("notes", []):
            click.echo(f"note: {terminal_text(note)}")
        if "pack" in result and result["ok"]:
            click.echo(f"OK {result['pack']}: {result['files']} file(s) match the manifest")
        if "db" in result and result["ok"]:
            click.echo(f"OK {result['db']}: the ledger of {result['runs']} run(s) matches")
