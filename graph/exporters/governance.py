"""The formats governance platforms load, from the same review rows and the schema registry.

- ConductorOne `baton-file`: ONE flat CSV (`baton-file.csv`) with a `record_type` column:
  `user` (members as humans, credentials as services), `resource` (each with a trait),
  `entitlement` and `direct_user_grant` rows, as docs/csv_instructions.md of baton-file says.
- BloodHound OpenGraph (`bloodhound-opengraph.json`): kinds in `Prefix_Name` form
  (`IDG_PostmarkServer`, from the kind string), source kind `IDG_Base` (on every node), flat
  properties; and `bloodhound-custom-nodes.json`, the icon for each node kind.
- Veza OAA custom application (`veza-oaa.json`), built with Veza's own `oaaclient`
  (`pip install 'idgraph[veza]'`): without it the exporter raises ExporterUnavailable.

Only the schema's declarations are read (node `role`, edge `grant` / `levels` /
`spans_account`), never a connector's names. docs/exports.md maps each field.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from ..access import AccessRow, fold, name_from, spans
from ..interfaces import ExporterUnavailable
from ..review import ReviewContext
from ._files import json_items, write_chunks, write_csv, write_text

PREFIX = "IDG"
SOURCE_KIND = f"{PREFIX}_Base"
MFA_PROPERTY = "two_factor"  # a member's 2FA as attested: yes / no / unknown


def _slug(text: str) -> str:
    return re.sub(r"[^A-Za-z0-9]+", "_", text).strip("_").lower() or "x"


def _kind_name(kind: str) -> str:
    """`app:server_token` -> `AppServerToken`."""
    return "".join(part[:1].upper() + part[1:] for part in re.split(r"[^A-Za-z0-9]+", kind) if part)


def opengraph_kind(kind: str) -> str:
    """A kind in OpenGraph's `Prefix_Name` form: `app:server` -> `IDG_AppServer`."""
    return f"{PREFIX}_{_kind_name(kind) or 'Node'}"


def _role(context: ReviewContext, kind: str) -> str | None:
    declared = context.schema.node(kind)
    return declared.role if declared else None


def _kind_of(context: ReviewContext, node: str) -> str:
    return str(context.node(node).get("kind", ""))


def _short_type(kind: str) -> str:
    """A resource type: the kind's last part (`app:server` -> `server`)."""
    return kind.rsplit(":", 1)[-1] or "resource"


# -- ConductorOne baton-file -----------------------------------------------------------------

BATON_COLUMNS = [
    "record_type",
    "id",
    "display_name",
    "email",
    "status",
    "type",
    "login",
    "mfa_enabled",
    "resource_type",
    "trait",
    "description",
    "parent_resource",
    "created_at",
    "expires_at",
    "created_by",
    "identity",
    "resource_id",
    "entitlement_slug",
    "principal_id",
    "profile.idgraph_kind",
    "profile.source",
]
BATON_TRAITS = {"account": "app", "resource": "app", "credential": "secret"}
SECRET_SUFFIX = "#secret"


def _mfa(value: Any) -> str:
    text = str(value or "").strip().lower()
    return {"yes": "true", "true": "true", "no": "false", "false": "false"}.get(text, "")


def _baton_principals(context: ReviewContext) -> dict[str, AccessRow]:
    """Whoever receives a grant, each with its first review row."""
    principals: dict[str, AccessRow] = {}
    for row in context.rows:
        principals.setdefault(row.principal, row)
    return principals


def _baton_users(context: ReviewContext, principals: dict[str, AccessRow]) -> list[dict[str, str]]:
    """`user` records: attested members (human) and credentials (service)."""
    records: list[dict[str, str]] = []
    for node, row in sorted(principals.items()):
        data = context.node(node)
        human = row.principal_type == "human"
        email = str(data.get("email") or "") if human else ""
        records.append(
            {
                "record_type": "user",
                "id": node,
                "display_name": str(data.get("name") or row.principal_name)
                if human
                else row.principal_name,
                "email": email,
                "login": email,
                "status": "enabled",
                "type": "human" if human else "service",
                "mfa_enabled": _mfa(data.get(MFA_PROPERTY)) if human else "",
                "profile.idgraph_kind": str(data.get("kind", "")),
                "profile.source": row.source,
            }
        )
    return records


def _baton_parent(
    accounts: set[str], preds: dict[str, list[str]], node: str, holding: set[str]
) -> str:
    """The account a resource sits in (by an edge that is not a holding one), or empty."""
    for pred, kinds in preds.items():
        if pred in accounts and any(kind not in holding for kind in kinds):
            return pred if pred != node else ""
    return ""


def _baton_resources(context: ReviewContext, resource_type: dict[str, str]) -> list[dict[str, str]]:
    """`resource` records: the account as the app and every resource node; fills
    `resource_type` (node -> its short type) for the secrets that follow."""
    accounts = {n for n, _ in context.nodes_with_role("account")}
    kept = accounts | {n for n, _ in context.nodes_with_role("resource")}
    kept |= {row.resource for row in context.rows}
    holding = context.schema.edge_kinds_with(holds=True)
    preds = context.in_edge_kinds(kept)
    records: list[dict[str, str]] = []
    for node in sorted(kept):
        kind = _kind_of(context, node)
        role = _role(context, kind)
        resource_type[node] = _short_type(kind)
        records.append(
            {
                "record_type": "resource",
                "id": node,
                "display_name": context.name(node),
                "resource_type": resource_type[node],
                "trait": BATON_TRAITS.get(role or "", "app"),
                "description": kind,
                "parent_resource": ""
                if role == "account"
                else _baton_parent(accounts, preds[node], node, holding),
                "profile.idgraph_kind": kind,
                "profile.source": str(context.node(node).get("source", "")),
            }
        )
    return records


def _baton_secrets(
    context: ReviewContext, principals: dict[str, AccessRow], resource_type: dict[str, str]
) -> list[dict[str, str]]:
    """`resource` records with the `secret` trait: every credential, under what holds it."""
    holding = context.schema.edge_kinds_with(holds=True)
    credentials = sorted(n for n, row in principals.items() if row.principal_type != "human")
    preds = context.in_edge_kinds(credentials)
    records: list[dict[str, str]] = []
    for node in credentials:
        row = principals[node]
        data = context.node(node)
        holder = next(
            (
                pred
                for pred, kinds in preds[node].items()
                if pred in resource_type and any(kind in holding for kind in kinds)
            ),
            "",
        )
        created_by = str(data.get("created_by") or "")
        records.append(
            {
                "record_type": "resource",
                "id": node + SECRET_SUFFIX,
                "display_name": row.principal_name,
                "resource_type": _short_type(str(data.get("kind", ""))),
                "trait": "secret",
                "description": f"{data.get('kind', '')}: the credential itself",
                "parent_resource": holder,
                "created_by": f"user:{created_by}" if created_by in principals else "",
                "identity": f"{resource_type[holder]}:{holder}" if holder else "",
                "profile.idgraph_kind": str(data.get("kind", "")),
                "profile.source": str(data.get("source", "")),
            }
        )
    return records


def _baton_entitlements(context: ReviewContext) -> list[dict[str, str]]:
    """`entitlement` records: one per resource and access."""
    entitlements: dict[tuple[str, str], AccessRow] = {}
    for row in context.rows:
        entitlements.setdefault((row.resource, _slug(row.access)), row)
    return [
        {
            "record_type": "entitlement",
            "resource_id": resource,
            "entitlement_slug": slug,
            "display_name": row.access,
            "description": f"{row.access} ({row.grant or row.access_kind}) on {row.resource_name}",
        }
        for (resource, slug), row in sorted(entitlements.items())
    ]


def _baton_grants(context: ReviewContext) -> list[dict[str, str]]:
    """`direct_user_grant` records: one per review row."""
    return [
        {
            "record_type": "direct_user_grant",
            "principal_id": row.principal,
            "resource_id": row.resource,
            "entitlement_slug": _slug(row.access),
        }
        for row in context.rows
    ]


def baton_records(context: ReviewContext) -> list[dict[str, str]]:
    """The records of baton-file.csv, each a dict of BATON_COLUMNS (missing = empty)."""
    principals = _baton_principals(context)
    resource_type: dict[str, str] = {}
    return [
        *_baton_users(context, principals),
        *_baton_resources(context, resource_type),
        *_baton_secrets(context, principals, resource_type),
        *_baton_entitlements(context),
        *_baton_grants(context),
    ]


class BatonExporter:
    name = "baton"
    filename = "baton-file.csv"
    description = "ConductorOne baton-file: one CSV of users, resources, entitlements, grants"

    def export(self, context: ReviewContext, out_dir: Path) -> Path:
        return write_csv(
            out_dir / self.filename,
            BATON_COLUMNS,
            ([record.get(c, "") for c in BATON_COLUMNS] for record in baton_records(context)),
        )


# -- BloodHound OpenGraph --------------------------------------------------------------------


def _flat(data: dict[str, Any]) -> dict[str, Any]:
    """OpenGraph properties: primitives or arrays of one primitive type; no nulls, no
    objects (as JSON strings), no empty arrays."""
    flat: dict[str, Any] = {}
    for key, value in data.items():
        if value is None:
            continue
        if isinstance(value, bool | int | float | str):
            flat[key] = value
        elif (
            isinstance(value, list)
            and value
            and all(isinstance(v, str | int | float | bool) for v in value)
            and len({type(v) for v in value}) == 1
        ):
            flat[key] = value
        elif isinstance(value, list) and not value:
            continue
        else:
            flat[key] = json.dumps(value, sort_keys=True, default=str)
    return flat


IMPLIED_KIND = f"{PREFIX}_ImpliedAccess"  # an account-wide role's reach, from the engine


def _access_of(granted: dict[tuple[str, str, str], str], u: str, kind: str, v: str) -> dict:
    """An access edge's `access` property: the engine's value for it (no other edge has one)."""
    value = granted.get((u, kind, v))
    return {} if value is None else {"access": value}


_ICONS = {  # font-awesome icon and colour per node role
    "account": ("building", "#4B6584"),
    "resource": ("server", "#20BF6B"),
    "member": ("user", "#F7B731"),
    "credential": ("key", "#EB3B5A"),
    "identity": ("id-card", "#A55EEA"),
    "endpoint": ("globe", "#45AAF2"),
}


class BloodHoundExporter:
    name = "bloodhound"
    filename = "bloodhound-opengraph.json"
    extension_filename = "bloodhound-custom-nodes.json"
    description = (
        f"BloodHound OpenGraph JSON (kinds {PREFIX}_<Kind>, source kind {SOURCE_KIND}) and "
        "the icons of its node kinds"
    )

    def export(self, context: ReviewContext, out_dir: Path) -> Path:
        """Streamed: each node and edge is made and written in chunks, never the whole
        payload in memory (at 100,000 nodes it was gigabytes)."""
        node_kinds = {str(data.get("kind", "node")) for _n, data in context.graph_nodes()}
        custom = {"custom_types": {}}
        for kind in sorted(node_kinds | set(context.schema.nodes)):
            icon, color = _ICONS.get(_role(context, kind) or "", ("circle", "#778CA3"))
            custom["custom_types"][opengraph_kind(kind)] = {
                "icon": {"type": "font-awesome", "name": icon, "color": color}
            }
        custom["custom_types"][SOURCE_KIND] = {
            "icon": {"type": "font-awesome", "name": "circle-nodes", "color": "#778CA3"}
        }
        write_text(out_dir / self.extension_filename, json.dumps(custom, indent=1))

        def chunks() -> Iterator[str]:
            yield '{"metadata":' + json.dumps({"source_kind": SOURCE_KIND})
            yield ',"graph":{"nodes":['
            yield from json_items(_opengraph_nodes(context))
            yield '],"edges":['
            yield from json_items(_opengraph_edges(context))
            yield "]}}"

        return write_chunks(out_dir / self.filename, chunks())


def _name(context: ReviewContext, node: str, data: dict[str, Any]) -> str:
    """`context.name`, from the node's graph attributes when the review did not read it
    (no graph loaded for one name)."""
    return (
        context.name(node) if context.node_exists(node) else name_from(data, node, context.schema)
    )


def _opengraph_nodes(context: ReviewContext) -> Iterator[dict[str, Any]]:
    for node, data in context.graph_nodes():
        yield {
            "id": node,
            "kinds": [opengraph_kind(str(data.get("kind", "node"))), SOURCE_KIND],
            "properties": _flat(
                {
                    **{k: v for k, v in data.items() if k != "kind"},
                    "name": _name(context, node, data),
                    "objectid": node,
                    "idgraph_kind": data.get("kind", ""),
                }
            ),
        }


def _opengraph_edges(context: ReviewContext) -> Iterator[dict[str, Any]]:
    access = context.access
    granted = {(r.principal, r.access_kind, r.resource): r.access for r in access.explicit}
    for u, v, _key, data in context.graph_edges():
        yield {
            "kind": opengraph_kind(data["kind"]),
            "start": {"value": u, "match_by": "id"},
            "end": {"value": v, "match_by": "id"},
            "properties": _flat(
                {k: val for k, val in data.items() if k != "kind"}
                | _access_of(granted, u, data["kind"], v)
            ),
        }
    for row in access.implied:
        yield {
            "kind": IMPLIED_KIND,
            "start": {"value": row.principal, "match_by": "id"},
            "end": {"value": row.resource, "match_by": "id"},
            "properties": {"access": row.access, "how": row.how, "source": row.source},
        }


# -- Veza OAA ----------------------------------------------------------------------------------

VEZA_INSTALL = "pip install 'idgraph[veza]'"


def _veza_resources(context: ReviewContext, app: Any, property_type: Any) -> dict[str, Any]:
    """Every resource-role node as an application resource, by node id."""
    definitions = app.property_definitions
    resources = {}
    for node, data in context.nodes_with_role("resource"):
        resource_type = _short_type(str(data.get("kind", "")))
        if resource_type not in {r.resource_type for r in resources.values()}:
            definitions.define_resource_property(resource_type, "kind", property_type.STRING)
        resource = app.add_resource(
            name=context.name(node),
            resource_type=resource_type,
            description=str(data.get("kind", "")),
            unique_id=node,
        )
        resource.set_property("kind", str(data.get("kind", "")))
        resources[node] = resource
    return resources


def _veza_identity(context: ReviewContext, app: Any, row: AccessRow) -> Any:
    """A row's principal as a local user (a member) or an access credential."""
    data = context.node(row.principal)
    if row.principal_type == "human":
        user = app.add_local_user(
            name=row.principal_name,
            identities=[str(data.get("email") or row.principal_name)],
            unique_id=row.principal,
        )
        user.is_active = True
        user.set_property(MFA_PROPERTY, str(data.get(MFA_PROPERTY, "unknown")))
        user.set_property("source", str(data.get("source", "")))
        user.set_property("attested_at", str(data.get("attested_at", "")))
    else:
        user = app.add_access_cred(unique_id=row.principal, name=row.principal_name)
        user.is_active = True
        user.set_property("kind", str(data.get("kind", "")))
    return user


class _VezaPermissions:
    """The custom permission of each edge kind and access value, added to `app` once."""

    def __init__(self, context: ReviewContext, app: Any, permission_type: Any) -> None:
        self.context, self.app, self.permission_type = context, app, permission_type
        self.names: dict[tuple[str, str, bool], str] = {}

    def __call__(self, row: AccessRow, *, account_wide: bool) -> str:
        key = (row.access_kind, row.access, account_wide)
        if key not in self.names:
            edge = self.context.schema.edge(row.access_kind)
            levels = {fold(k): v for k, v in (edge.levels if edge else {}).items()}
            types = [self.permission_type(t) for t in levels.get(fold(row.access), ("NonData",))]
            name = row.access if row.grant != "role" else f"role: {row.access}"
            if name in (p for p in self.names.values()):
                name = f"{name} ({row.access_kind}{', account-wide' if account_wide else ''})"
            self.app.add_custom_permission(name, types, apply_to_sub_resources=account_wide)
            self.names[key] = name
        return self.names[key]


def veza_application(context: ReviewContext) -> Any:
    """The review as an oaaclient `CustomApplication` (raises ExporterUnavailable without
    oaaclient). Every resource-role node is a resource; an access edge's value maps to the
    canonical permissions its schema `levels` declares (view = reads only); an account-wide
    role is granted on the application, reaching every resource only if the schema says it
    spans the account; per-resource access is granted on its resource."""
    try:
        from oaaclient.templates import CustomApplication, OAAPermission, OAAPropertyType
    except ImportError:
        raise ExporterUnavailable("veza", f"needs oaaclient: {VEZA_INSTALL}") from None

    accounts = [n for n, _ in context.nodes_with_role("account")]
    app = CustomApplication(
        name="idgraph " + ", ".join(context.name(a) for a in accounts),
        application_type="idgraph",
        description=f"idgraph run {context.run.id}",
    )
    definitions = app.property_definitions
    definitions.define_local_user_property(MFA_PROPERTY, OAAPropertyType.STRING)
    definitions.define_local_user_property("source", OAAPropertyType.STRING)
    definitions.define_local_user_property("attested_at", OAAPropertyType.STRING)
    definitions.define_access_cred_property("kind", OAAPropertyType.STRING)
    resources = _veza_resources(context, app, OAAPropertyType)
    permission = _VezaPermissions(context, app, OAAPermission)
    identities: dict[str, Any] = {}
    for row in context.rows:
        if row.principal not in identities:
            identities[row.principal] = _veza_identity(context, app, row)
        identity = identities[row.principal]
        on_account = _role(context, _kind_of(context, row.resource)) == "account"
        if row.grant == "role":
            name = permission(row, account_wide=spans(context.schema, row.access_kind, row.access))
            role_id = _slug(row.access)
            if role_id not in app.local_roles:
                app.add_local_role(row.access, permissions=[name], unique_id=role_id)
            identity.add_role(role_id, apply_to_application=True)
        elif row.resource in resources:
            granted = permission(row, account_wide=False)
            identity.add_permission(granted, resources=[resources[row.resource]])
        else:  # on the account itself: the whole application and what is in it
            identity.add_permission(
                permission(row, account_wide=on_account), apply_to_application=True
            )
    return app


class VezaExporter:
    name = "veza"
    filename = "veza-oaa.json"
    description = f"Veza OAA custom application payload, built with oaaclient ({VEZA_INSTALL})"

    def export(self, context: ReviewContext, out_dir: Path) -> Path:
        payload = veza_application(context).get_payload()
        # written as it is encoded: `json.dumps` held every piece and then the whole text
        # (about 130 MB at 100,000 nodes, the export's peak); the same bytes
        pieces = json.JSONEncoder(indent=1, default=str).iterencode(payload)
        return write_chunks(out_dir / self.filename, pieces)
