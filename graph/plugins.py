"""The plugin manager: built-in default plugins plus the "idgraph" entry-point group."""

from __future__ import annotations

import functools
import importlib
import os
import sys
from importlib.metadata import EntryPoint, entry_points
from typing import TYPE_CHECKING, Any

import pluggy

from . import hookspecs
from .interfaces import Check, Connector, Exporter

if TYPE_CHECKING:
    from .store import Store

ENTRY_POINT_GROUP = "idgraph"
DEFAULT_PLUGINS: tuple[str, ...] = ("idgraph.graph.exporters", "idgraph.graph.checks")

pm = pluggy.PluginManager("idgraph")
pm.add_hookspecs(hookspecs)

_loaded = False


@functools.cache
def _entry_points() -> tuple[EntryPoint, ...]:
    """The "idgraph" entry points, read once: each reading scans every installed package."""
    return tuple(entry_points(group=ENTRY_POINT_GROUP))


def load_plugins() -> pluggy.PluginManager:
    """Load the default plugins and the entry points once; IDGRAPH_LOAD_PLUGINS narrows them.

    Under pytest, entry points of other installed packages are skipped unless
    IDGRAPH_LOAD_PLUGINS names them, so a developer's environment cannot change test results;
    the Postmark connector is this distribution's own entry point and always loads.
    """
    global _loaded
    if _loaded:
        return pm
    _loaded = True
    wanted = os.environ.get("IDGRAPH_LOAD_PLUGINS")
    names = None if wanted is None else {n.strip() for n in wanted.split(",") if n.strip()}
    for entry_point in _entry_points():
        own = entry_point.dist is not None and entry_point.dist.name == "idgraph"
        if names is not None and entry_point.name not in names:
            continue
        if names is None and "pytest" in sys.modules and not own:
            continue
        if pm.get_plugin(entry_point.name) is None:
            pm.register(entry_point.load(), name=entry_point.name)
    for module_name in DEFAULT_PLUGINS:
        if pm.get_plugin(module_name) is None:
            pm.register(importlib.import_module(module_name), name=module_name)
    return pm


def _collect(hook_name: str) -> list[Any]:
    load_plugins()
    found: list[Any] = []
    getattr(pm.hook, hook_name)(register=found.append)
    return found


def get_connectors() -> dict[str, Connector]:
    return {connector.name: connector for connector in _collect("register_connectors")}


def get_exporters() -> dict[str, Exporter]:
    return {exporter.name: exporter for exporter in _collect("register_exporters")}


def get_checks() -> dict[str, Check]:
    return {check.name: check for check in _collect("register_checks")}


def get_schemas_by_plugin() -> list[tuple[str, Any]]:
    """(plugin name, schema) of every schema registered, to name whose is whose."""
    load_plugins()
    found: list[tuple[str, Any]] = []
    for impl in pm.hook.register_schemas.get_hookimpls():
        impl.function(register=lambda schema, name=impl.plugin_name: found.append((name, schema)))
    return found


def get_member_formats() -> dict[str, Any]:
    formats: dict[str, Any] = {}
    for member_format in _collect("register_member_formats"):
        if member_format.connector in formats:
            raise ValueError(f"two member-file formats for connector {member_format.connector!r}")
        formats[member_format.connector] = member_format
    return formats


def get_remediators() -> list[Any]:
    return _collect("register_remediators")


def plugin_versions() -> dict[str, str]:
    """name -> version of every loaded plugin (its distribution's version)."""
    load_plugins()
    versions = {}
    dists = {ep.name: ep.dist for ep in _entry_points()}
    for name, plugin in pm.list_name_plugin():
        dist = dists.get(name)
        if dist is None and name in DEFAULT_PLUGINS:
            from idgraph import __version__

            versions[name] = f"{__version__} (built-in)"
        else:
            versions[name] = dist.version if dist else getattr(plugin, "__version__", "")
    return versions


def describe_plugins() -> list[dict[str, Any]]:
    """Every loaded plugin with its hooks and version, for `idgraph plugins`."""
    versions = plugin_versions()
    rows = []
    for name, plugin in pm.list_name_plugin():
        hooks = sorted(h.name for h in pm.get_hookcallers(plugin) or [])
        rows.append({"name": name, "hooks": hooks, "version": versions.get(name, "")})
    return sorted(rows, key=lambda r: r["name"])


def missing_plugins(store: Store) -> dict[str, list[int]]:
    """connector -> its complete runs (syncs and attestations), for each connector whose
    graph the database holds but no loaded plugin provides (no connector, schema or member
    format of that name): its kinds would be read as unknown, its rows silently left out."""
    loaded = {*get_connectors(), *get_member_formats()}
    loaded |= {schema.connector for _plugin, schema in get_schemas_by_plugin()}
    return {
        connector: runs
        for connector, runs in store.complete_runs_by_connector().items()
        if connector not in loaded
    }
