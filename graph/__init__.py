"""The idgraph host: hookspecs, plugin manager, graph model, store, and CLI."""
