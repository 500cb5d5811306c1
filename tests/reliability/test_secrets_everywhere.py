"""Every secret the fixtures and the generator plant, searched for everywhere we write."""

import logging
from pathlib import Path

import click
from click.testing import CliRunner
from idgraph.connector.postmark.emulator import PostmarkEmulator
from idgraph.connector.postmark.emulator.synthetic import synthetic_account
from idgraph.graph.cli import cli

from ..postmark.fixtures import fixture_secrets, leaked_secrets

MEMBERS = Path(__file__).resolve().parents[2] / "connector/postmark/emulator/fixtures/members.csv"


def _written_bytes(folder: Path) -> dict[str, bytes]:
    return {str(p): p.read_bytes() for p in folder.rglob("*") if p.is_file()}


def test_planted_secrets_are_found_nowhere(tmp_path, account, caplog):
    caplog.set_level(logging.DEBUG)
    synthetic = synthetic_account(40, senders=50, domains=10, seed=9)
    secrets = fixture_secrets(account) | fixture_secrets(synthetic)
    kinds = {
        "tokens": [s for s in secrets if s.count("-") == 4 and len(s) == 36],
        "passwords": [s for s in secrets if s.startswith("pw-")],
        "header values": [s for s in secrets if s.startswith("hdr-")],
        "query-string values": [s for s in secrets if s.startswith(("s3cr3t-qs", "qs-"))],
    }
    assert all(kinds.values()), {k: len(v) for k, v in kinds.items()}
    db = tmp_path / "idgraph.db"
    runner = CliRunner()
    outputs: list[str] = []
    with PostmarkEmulator(account) as fixture_emu, PostmarkEmulator(synthetic) as synth_emu:
        for label, emu in (("acme", fixture_emu), ("synth", synth_emu)):
            env = {"POSTMARK_ACCOUNT_TOKEN": emu.account_tokens[0], "POSTMARK_API_URL": emu.url}
            args = ["-vv", "sync", "postmark", "--db", str(db), "--account-label", label]
            outputs.append(runner.invoke(cli, args, env=env).output)
            emu.inject("status", "GET /webhooks", 10_000, status=503)  # a failing run too
            outputs.append(
                runner.invoke(cli, [*args, "--retries", "1", "--backoff", "0.01"], env=env).output
            )
            emu.faults.clear()
            outputs.append(runner.invoke(cli, args, env=env).output)
            wrong = dict(env, POSTMARK_ACCOUNT_TOKEN=emu.servers()[0]["ApiTokens"][0])
            outputs.append(runner.invoke(cli, args, env=wrong).output)  # wrong token kind
            outputs.append(
                runner.invoke(
                    cli,
                    ["token", "check", "--env", "T"],
                    env=dict(env, T=wrong["POSTMARK_ACCOUNT_TOKEN"]),
                ).output
            )
    attested = runner.invoke(
        cli,
        [
            "attest",
            "import",
            "postmark",
            str(MEMBERS),
            "--attested-by",
            "a@acme-corp.example",
            "--db",
            str(db),
            "--account-label",
            "acme",
        ],
    )
    outputs.append(attested.output)
    pack = tmp_path / "pack"
    outputs.append(runner.invoke(cli, ["export", "--db", str(db), "--out", str(pack)]).output)
    for command in (
        ["runs", "--json"],
        ["findings", "--json"],
        ["diff", "--json"],
        ["show", "postmark:webhook:11001/501", "--json"],
    ):
        outputs.append(runner.invoke(cli, [*command, "--db", str(db)]).output)
    written = _written_bytes(tmp_path)  # the database, its WAL, every export, the report
    assert any(name.endswith("report.html") for name in written)
    assert any(name.endswith(".db") for name in written)
    text = "\n".join(outputs) + caplog.text
    found = leaked_secrets(secrets, (text,), tuple(written.values()))
    assert found == {}, f"{len(found)} of {len(secrets)} planted secrets leaked: {found}"


def _walk(command: click.Command, path: str = ""):
    yield path or "idgraph", command
    if isinstance(command, click.Group):
        for name, sub in command.commands.items():
            yield from _walk(sub, f"{path} {name}".strip())


def test_no_command_takes_a_secret_as_an_argument():
    words = ("token", "password", "secret", "apikey", "api-key")
    for path, command in _walk(cli):
        for param in command.params:
            names = [n.lower() for n in (param.opts + [param.name or ""])]
            # a flag, or a path where a secret is written (--token-file), takes no secret
            takes_value = not getattr(param, "is_flag", False) and not isinstance(
                param.type, click.Path
            )
            # --token-rate-limit takes a rate (2/s,1), not a token
            suspicious = [
                n
                for n in names
                if any(w in n for w in words) and not n.replace("_", "-").endswith("rate-limit")
            ]
            assert not (suspicious and takes_value), f"{path}: {param.opts} takes a secret"
