"""The formats governance platforms load, from the same review rows.

- ConductorOne Baton `baton-file`: four sheets (users, resources, entitlements, grants), here
  as four CSV files with the documented headers.
- BloodHound OpenGraph: `{"metadata": {"source_kind"}, "graph": {"nodes", "edges"}}`, node
  and edge kinds prefixed, properties flat.
- Veza OAA custom application: local users, local roles, resources, local access
  credentials and identity_to_permissions.
docs/exports.md maps each field.
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

from ..review import ReviewContext, ReviewRow, node_name
from ._files import write_csv, write_text

PREFIX = "IDG"


def _slug(text: str) -> str:
    return re.sub(r"[^A-Za-z0-9]+", "_", text).strip("_").lower() or "x"


def _kind_name(kind: str) -> str:
    """`postmark:server_token` -> `PostmarkServerToken`."""
    return "".join(part.capitalize() for part in re.split(r"[:_\-]", kind) if part)


def _resources(context: ReviewContext) -> dict[str, str]:
    """Every node that is the resource of a review row: id -> kind."""
    return {row.resource: context.graph.nodes[row.resource].get("kind", "") for row in context.rows}


class BatonExporter:
    name = "baton"
    filename = "baton"
    description = "ConductorOne baton-file: users, resources, entitlements and grants CSVs"

    def export(self, context: ReviewContext, out_dir: Path) -> Path:
        folder = out_dir / self.filename
        folder.mkdir(exist_ok=True)
        graph = context.graph
        principals = {row.principal: row for row in context.rows}
        write_csv(
            folder / "users.csv",
            [
                "Name",
                "Display Name",
                "Email",
                "Status",
                "Type",
                "Profile: idgraph_id",
                "Profile: source",
            ],
            [
                [
                    node,
                    row.principal_name,
                    graph.nodes[node].get("email", ""),
                    "enabled",
                    "human" if row.principal_type == "human" else "service",
                    node,
                    row.source,
                ]
                for node, row in sorted(principals.items())
            ],
        )
        resources = _resources(context)
        write_csv(
            folder / "resources.csv",
            [
                "Resource Type",
                "Resource Function",
                "Name",
                "Display Name",
                "Description",
                "Parent Resource",
            ],
            [
                [
                    kind.split(":")[-1],
                    "app" if _role(context, kind) == "account" else "",
                    node,
                    node_name(graph, node),
                    kind,
                    "",
                ]
                for node, kind in sorted(resources.items())
            ],
        )
        entitlements = sorted(
            {(row.resource, _slug(row.access), row.access) for row in context.rows}
        )
        write_csv(
            folder / "entitlements.csv",
            ["Resource Name", "Entitlement", "Entitlement Display Name", "Entitlement Description"],
            [
                [resource, slug, access, f"{access} on {node_name(graph, resource)}"]
                for resource, slug, access in entitlements
            ],
        )
        write_csv(
            folder / "grants.csv",
            ["Principal Receiving Grant", "Entitlement Granted to Principal"],
            [[row.principal, f"{row.resource}:{_slug(row.access)}"] for row in context.rows],
        )
        return folder


def _flat(data: dict[str, Any]) -> dict[str, Any]:
    """OpenGraph properties: primitives or lists of primitives; no nulls, no objects."""
    flat: dict[str, Any] = {}
    for key, value in data.items():
        if value is None:
            continue
        if isinstance(value, bool | int | float | str):
            flat[key] = value
        elif isinstance(value, list) and all(isinstance(v, str | int | float) for v in value):
            flat[key] = value
        else:
            flat[key] = json.dumps(value, sort_keys=True, default=str)
    return flat


class BloodHoundExporter:
    name = "bloodhound"
    filename = "bloodhound-opengraph.json"
    description = "BloodHound OpenGraph JSON (source_kind idgraph, kinds prefixed IDG)"

    def export(self, context: ReviewContext, out_dir: Path) -> Path:
        graph = context.graph
        nodes = [
            {
                "id": node,
                "kinds": [PREFIX + _kind_name(data.get("kind", "node")), PREFIX + "Base"],
                "properties": _flat(
                    {
                        "name": node_name(graph, node),
                        "objectid": node,
                        **{k: v for k, v in data.items() if k != "kind"},
                    }
                ),
            }
            for node, data in graph.nodes(data=True)
        ]
        edges = [
            {
                "kind": PREFIX + _kind_name(data["kind"]),
                "start": {"value": u, "match_by": "id"},
                "end": {"value": v, "match_by": "id"},
                "properties": _flat({k: val for k, val in data.items() if k != "kind"}),
            }
            for u, v, data in graph.edges(data=True)
        ]
        payload = {
            "metadata": {"source_kind": PREFIX + "Base"},
            "graph": {"nodes": nodes, "edges": edges},
        }
        return write_text(out_dir / self.filename, json.dumps(payload, indent=1))


class VezaExporter:
    name = "veza"
    filename = "veza-oaa.json"
    description = "Veza OAA custom application payload (servers as resources, tokens as "
    "access credentials, team roles as local roles)"

    def export(self, context: ReviewContext, out_dir: Path) -> Path:
        graph = context.graph
        accounts = sorted(
            {row.resource for row in context.rows if row.grant == "role"}
            | {n for n, _d in context.nodes_with_role("account")}
        )
        app_name = "idgraph " + ", ".join(node_name(graph, a) for a in accounts)
        users: dict[str, dict[str, Any]] = {}
        creds: dict[str, dict[str, Any]] = {}
        roles: dict[str, dict[str, Any]] = {}
        permissions: dict[str, dict[str, Any]] = {}
        identities: dict[str, dict[str, Any]] = {}
        resources = {
            node: {
                "id": node,
                "name": node_name(graph, node),
                "resource_type": kind.split(":")[-1],
                "description": kind,
            }
            for node, kind in _resources(context).items()
            if _role(context, kind) != "account"
        }

        def identity(row: ReviewRow) -> dict[str, Any]:
            kind = "local_user" if row.principal_type == "human" else "local_access_creds"
            return identities.setdefault(
                row.principal, {"identity": row.principal, "identity_type": kind}
            )

        for row in context.rows:
            data = graph.nodes[row.principal]
            if row.principal_type == "human":
                users.setdefault(
                    row.principal,
                    {
                        "id": row.principal,
                        "name": row.principal_name,
                        "identities": [data.get("email", row.principal_name)],
                        "is_active": True,
                        "custom_properties": {"two_factor": str(data.get("two_factor", ""))},
                    },
                )
            else:
                creds.setdefault(
                    row.principal,
                    {
                        "id": row.principal,
                        "name": row.principal_name,
                        "is_active": True,
                        "can_expire": False,
                    },
                )
            entry = identity(row)
            if row.grant == "role":
                role_id = _slug(row.access)
                roles.setdefault(
                    role_id, {"id": role_id, "name": row.access, "permissions": [row.access]}
                )
                permissions.setdefault(
                    row.access,
                    {
                        "name": row.access,
                        "permission_type": _ROLE_TYPES,
                        "apply_to_sub_resources": True,
                    },
                )
                entry.setdefault("role_assignments", []).append(
                    {"application": app_name, "role": role_id, "apply_to_application": True}
                )
            else:
                permissions.setdefault(
                    row.access,
                    {
                        "name": row.access,
                        "permission_type": _permission_types(context, row),
                        "apply_to_sub_resources": False,
                    },
                )
                grant = {"application": app_name, "permission": row.access}
                if row.resource in resources:
                    grant["resources"] = [row.resource]
                else:
                    grant["apply_to_application"] = True
                entry.setdefault("application_permissions", []).append(grant)
        payload = {
            "applications": [
                {
                    "name": app_name,
                    "application_type": "idgraph",
                    "description": f"idgraph run {context.run.id}",
                    "local_users": list(users.values()),
                    "local_groups": [],
                    "local_roles": list(roles.values()),
                    "local_access_creds": list(creds.values()),
                    "resources": list(resources.values()),
                    "tags": [],
                    "custom_properties": {},
                }
            ],
            "permissions": list(permissions.values()),
            "identity_to_permissions": list(identities.values()),
        }
        return write_text(out_dir / self.filename, json.dumps(payload, indent=1))


_ROLE_TYPES = ["DataRead", "DataWrite", "MetadataRead", "MetadataWrite", "NonData"]


def _role(context: ReviewContext, kind: str) -> str | None:
    declared = context.schema.node(kind)
    return declared.role if declared else None


def _permission_types(context: ReviewContext, row: ReviewRow) -> list[str]:
    """The canonical permissions the schema declares for this row's access value."""
    edge = context.schema.edge(row.access_kind)
    levels = {k.lower(): v for k, v in (edge.levels if edge else {}).items()}
    return list(levels.get(row.access.lower(), ("NonData",)))
