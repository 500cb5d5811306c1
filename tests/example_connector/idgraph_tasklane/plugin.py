"""The Tasklane connector: what it declares, how it collects, and its hooks.

Tasklane (invented) is a project-management SaaS: an organisation holds workspaces, a
workspace holds projects, API keys act on the whole organisation, and members are seen only
on the web UI (Settings > Members), so they are attested. Tasklane's admin page exports the
structure as JSON (Settings > Export > "Workspaces and keys"); the connector reads that file:

    {"organization": {"id": "org_1", "name": "Acme"},
     "workspaces": [{"id": "ws_1", "name": "Engineering",
                     "projects": [{"id": "p_1", "name": "Platform", "owner": "a@x.example"}]}],
     "api_keys": [{"id": "key_1", "name": "CI", "scope": "write", "last4": "9f2c"}]}

The key in TASKLANE_API_KEY tells the host which account this is (it fingerprints it, never
stores it); a connector calling Tasklane's API would send it.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from pydantic import Field

from idgraph.plugin import (
    CANONICAL_PERMISSIONS,
    Account,
    Collection,
    ConfigError,
    ConnectorSchema,
    Edge,
    EdgeKind,
    MemberFormat,
    Node,
    NodeKind,
    ProgressCallback,
    SyncOptions,
    canonical_email,
    hookimpl,
    node_id,
    person_id,
)

# Node kinds are namespaced by the connector (`<connector>:<kind>`); so are edge kinds with
# meaning of their own, since the host looks every kind up by name across all connectors.
# `person` and the `is` edge are the shared join.
ACCOUNT = "tasklane:account"
WORKSPACE = "tasklane:workspace"
PROJECT = "tasklane:project"
API_KEY = "tasklane:api_key"
MEMBER = "tasklane:member"
PERSON = "person"

ALL = CANONICAL_PERMISSIONS
READS = ("DataRead", "MetadataRead")


class TasklaneOptions(SyncOptions):
    """Options of `idgraph sync tasklane`: each field is a flag (`--export-file`)."""

    export_file: str = Field(
        ...,
        description="The JSON export of Settings > Export > Workspaces and keys.",
        json_schema_extra={"envvar": "TASKLANE_EXPORT_FILE"},
    )


SCHEMA = ConnectorSchema(
    connector="tasklane",
    title="Tasklane (example connector)",
    description="Declared by the example connector in tests/example_connector (docs/plugins.md).",
    nodes=(
        NodeKind(
            ACCOUNT,
            "the account label",
            "One Tasklane organisation, reached with one API key.",
            "the sync itself",
            {"label": "the account label", "name": "the organisation's name"},
            role="account",
            label="label",
        ),
        NodeKind(
            WORKSPACE,
            "the workspace ID",
            "A workspace: a group of projects.",
            "the export's workspaces",
            {"workspace_id": "Tasklane's ID", "name": "its name"},
            role="resource",
        ),
        NodeKind(
            PROJECT,
            "the project ID",
            "A project: what members get edit or read access to.",
            "the export's projects",
            {
                "project_id": "Tasklane's ID",
                "name": "its name",
                "workspace_id": "its workspace",
                "owner": "the owner's email, lower-cased",
            },
            role="resource",
        ),
        NodeKind(
            API_KEY,
            "the key ID",
            "An organisation API key: a non-human credential.",
            "the export's api_keys (the key itself is never in it)",
            {"key_id": "Tasklane's ID", "name": "its name", "suffix": "its last 4 characters"},
            role="credential",
        ),
        NodeKind(
            MEMBER,
            "the lower-cased email",
            "A member of the organisation, read off Settings > Members (source `attested`).",
            "`idgraph attest import tasklane`",
            {
                "email": "the member's email",
                "name": "the member's name",
                "role": "the role as the UI showed it",
                "role_level": "`owner`, `admin` or `member`",
                "two_factor": "`yes`, `no` or `unknown`",
                "project_access": "project ID -> `edit` or `read`",
            },
            role="member",
            label="email",
        ),
    ),
    edges=(
        EdgeKind("tasklane:has_workspace", "account -> workspace", "Its workspace.", "export"),
        EdgeKind("tasklane:has_project", "workspace -> project", "Its project.", "export"),
        EdgeKind(
            "tasklane:has_api_key",
            "account -> api_key",
            "The organisation holds the key.",
            "export",
            holds=True,
        ),
        EdgeKind(
            "tasklane:grants",
            "api_key -> account",
            "What the key may do across the organisation.",
            "export",
            {"scope": "`read`, `write` or `admin`"},
            access="scope",
            grant="scope",
            levels={
                "read": READS,
                "write": ("DataRead", "DataWrite", "MetadataRead"),
                "admin": ALL,
            },
            spans_account=frozenset({"read", "write", "admin"}),
        ),
        EdgeKind("tasklane:owned_by", "project -> person", "The project's owner.", "export"),
        EdgeKind(
            "tasklane:member_of",
            "member -> account",
            "The member belongs to the organisation.",
            "attested",
            {"role": "the role as the UI showed it", "role_level": "owner, admin or member"},
            access="role",
            grant="role",
            levels={"Owner": ALL, "Admin": ALL, "Member": ("MetadataRead",)},
            spans_account=frozenset({"Owner", "Admin"}),
        ),
        EdgeKind(
            "tasklane:can_access",
            "member -> project",
            "The member's access to a project.",
            "attested",
            {"permission": "`edit` or `read`"},
            access="permission",
            grant="resource",
            levels={"edit": ("DataRead", "DataWrite", "MetadataRead"), "read": READS},
        ),
    ),
)

MEMBER_FORMAT = MemberFormat(
    connector="tasklane",
    title="Tasklane",
    member_kind=MEMBER,
    account_kind=ACCOUNT,
    resource_kind=PROJECT,
    resource_key="project_id",
    roles={"Owner": "owner", "Admin": "admin", "Member": "member"},
    where_in_the_ui="""\
Read in Tasklane's web UI, Settings > Members (as an Owner or Admin):
- email, name, role (Owner, Admin or Member; exactly one Owner), two_factor (the shield icon:
  yes, no, or blank if not shown);
- project:<id> <name> columns: open the member > Projects: edit, read or none. Owners and Admins
  reach every project: leave their cells empty.
Then: idgraph attest import tasklane FILE --attested-by YOUR_EMAIL
""",
    resource_prefix="project:",
    access_values=("edit", "read", "none"),
    full_access="edit",
    access_property="project_access",
    member_edge="tasklane:member_of",
    access_edge="tasklane:can_access",
    identity_edge="is",
)


def read_export(path: Path) -> dict[str, Any]:
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except OSError as exc:
        raise ConfigError(f"--export-file {path}: cannot be read ({exc.strerror})") from None
    except ValueError as exc:
        raise ConfigError(f"--export-file {path}: not JSON ({exc})") from None
    if not isinstance(data, dict) or not isinstance(data.get("workspaces"), list):
        raise ConfigError(f"--export-file {path}: not a Tasklane export (no workspaces)")
    return data


def transform(data: dict[str, Any], label: str) -> tuple[list[Node], list[Edge]]:
    """The export -> nodes and edges of one account."""
    account = node_id(ACCOUNT, label)
    org = data.get("organization") or {}
    nodes = [Node(id=account, kind=ACCOUNT, attrs={"label": label, "name": org.get("name")})]
    edges: list[Edge] = []
    persons: dict[str, Node] = {}
    for workspace in data["workspaces"]:
        ws = node_id(WORKSPACE, workspace["id"])
        nodes.append(
            Node(
                id=ws,
                kind=WORKSPACE,
                attrs={"workspace_id": workspace["id"], "name": workspace["name"]},
            )
        )
        edges.append(Edge(src=account, dst=ws, kind="tasklane:has_workspace"))
        for project in workspace.get("projects", []):
            pid = node_id(PROJECT, project["id"])
            owner = canonical_email(project.get("owner") or "")  # NFC, case-folded
            nodes.append(
                Node(
                    id=pid,
                    kind=PROJECT,
                    attrs={
                        "project_id": project["id"],
                        "name": project["name"],
                        "workspace_id": workspace["id"],
                        "owner": owner or None,
                    },
                )
            )
            edges.append(Edge(src=ws, dst=pid, kind="tasklane:has_project"))
            if owner:
                person = person_id(owner)
                persons.setdefault(person, Node(id=person, kind=PERSON, attrs={"email": owner}))
                edges.append(Edge(src=pid, dst=person, kind="tasklane:owned_by"))
    nodes.extend(persons.values())
    for key in data.get("api_keys", []):
        kid = node_id(API_KEY, key["id"])
        nodes.append(
            Node(
                id=kid,
                kind=API_KEY,
                attrs={"key_id": key["id"], "name": key["name"], "suffix": key.get("last4")},
            )
        )
        edges.append(Edge(src=account, dst=kid, kind="tasklane:has_api_key"))
        edges.append(
            Edge(src=kid, dst=account, kind="tasklane:grants", attrs={"scope": key["scope"]})
        )
    return nodes, edges


class TasklaneConnector:
    name = "tasklane"
    description = "Tasklane (example): workspaces, projects and API keys from an export file"
    secret_env = "TASKLANE_API_KEY"
    secret_description = "an organisation API key (Settings > API keys)"
    options_class = TasklaneOptions

    def collect(
        self,
        *,
        account: Account,
        secret: str,
        options: TasklaneOptions,
        progress: ProgressCallback,
    ) -> Collection:
        progress("reading the export", 0, None)
        data = read_export(Path(options.export_file))
        nodes, edges = transform(data, account.label)
        progress("reading the export", 1, 1)
        return Collection(scope=account.scope, nodes=nodes, edges=edges)


@hookimpl
def register_connectors(register):
    register(TasklaneConnector())


@hookimpl
def register_schemas(register):
    register(SCHEMA)


@hookimpl
def register_member_formats(register):
    register(MEMBER_FORMAT)
