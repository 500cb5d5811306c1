"""The example Tasklane connector (tests/example_connector, docs/plugins.md) as the host's
tests use it: installed only through the "idgraph" entry-point group (its dist-info on
PYTHONPATH) and run through the real `idgraph` command, so no test imports it."""

import csv
import io
import json
import os
import subprocess
import sys
from pathlib import Path

EXAMPLE = Path(__file__).resolve().parents[1] / "example_connector"
EXPORT = EXAMPLE / "tasklane-export.json"
IDGRAPH = Path(sys.executable).parent / "idgraph"
DANA = "dana.ops@acme-corp.example"


class Cli:
    """The installed `idgraph` command, with the example plugin on PYTHONPATH."""

    def __init__(self, env: dict[str, str], cwd: Path) -> None:
        self.env, self.cwd = env, cwd

    def __call__(self, *args: str, code: int = 0) -> subprocess.CompletedProcess:
        result = subprocess.run(
            [str(IDGRAPH), *args],
            env=self.env,
            cwd=self.cwd,
            capture_output=True,
            text=True,
            encoding="utf-8",
            check=False,
        )
        assert result.returncode == code, (args, result.stdout, result.stderr)
        return result

    def json(self, *args: str) -> object:
        return json.loads(self(*args, "--json").stdout)


def example_cli(folder: Path, plugins: str, **env: str) -> Cli:
    """`idgraph` on `folder/idgraph.db` loading the plugins named (e.g. "tasklane")."""
    environment = {
        **os.environ,
        "PYTHONPATH": os.pathsep.join(
            [str(EXAMPLE), *filter(None, [os.environ.get("PYTHONPATH")])]
        ),
        "IDGRAPH_LOAD_PLUGINS": plugins,
        "IDGRAPH_DB": str(folder / "idgraph.db"),
        "TASKLANE_API_KEY": "tl-example-key-0001",
        **env,
    }
    environment.pop("TASKLANE_EXPORT_FILE", None)
    return Cli(environment, folder)


def sync_and_attest_tasklane(cli: Cli) -> dict:
    """Sync the example export as account `acme`, then attest three members through the
    host's template: {"tasklane": the sync, "header": the template's, "imported": ...}."""
    tasklane = cli.json("sync", "tasklane", "--export-file", str(EXPORT), "--account-label", "acme")
    template = cli("attest", "template", "tasklane").stdout
    header = next(csv.reader(io.StringIO(template.lstrip("\ufeff"))))
    members = {
        DANA: ["Dana Ops", "Owner", "yes"],
        "lee.dev@acme-corp.example": ["Lee Dev", "Member", "no"],
        "sam.contractor@outside.example": ["Sam Contractor", "Member", ""],
    }
    access = {  # per project column, for the members that are not the owner
        "lee.dev@acme-corp.example": {"Platform": "edit", "Mobile App": "edit"},
        "sam.contractor@outside.example": {"Mobile App": "read", "Incident Response": "none"},
    }
    with (cli.cwd / "members.csv").open("w", newline="", encoding="utf-8") as f:
        writer = csv.writer(f)
        writer.writerow(header)
        for email, (name, role, two_factor) in members.items():
            given = access.get(email, {})
            # a column is `project:<id> <name>`
            projects = [given.get(c.split(" ", 1)[1], "") for c in header[4:]]
            writer.writerow([email, name, role, two_factor, *projects])
    imported = cli.json(
        "attest",
        "import",
        "tasklane",
        str(cli.cwd / "members.csv"),
        "--attested-by",
        "reviewer@acme-corp.example",
    )
    return {"tasklane": tasklane, "header": header, "imported": imported}
