"""The hooks idgraph plugins implement (pluggy project name "idgraph")."""

from pluggy import HookimplMarker, HookspecMarker

hookspec = HookspecMarker("idgraph")
hookimpl = HookimplMarker("idgraph")


@hookspec
def register_connectors(register):
    """Register connectors: call register(connector) for each."""


@hookspec
def register_schemas(register):
    """Register the graph schema a connector yields: call register(ConnectorSchema)."""


@hookspec
def register_member_formats(register):
    """Register a connector's attested member-file format: call register(MemberFormat)."""


@hookspec
def register_exporters(register):
    """Register exporters of the review pack: call register(exporter) for each."""


@hookspec
def register_checks(register):
    """Register review checks: call register(check) for each."""


@hookspec
def register_commands(cli):
    """Add commands to the `idgraph` click group."""


@hookspec
def register_remediators(register):
    """Register remediators that turn a revoke decision into steps: call register(r)."""
