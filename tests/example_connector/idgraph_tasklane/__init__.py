"""idgraph-tasklane: an example connector for Tasklane, an invented project-management SaaS.

A whole idgraph plugin in one small package, written as a third party would: it imports only
`idgraph.plugin`, and registers through the "idgraph" entry-point group (see the
`*.dist-info` folder beside it, what `pip install` would write). docs/plugins.md walks
through it.
"""

__version__ = "0.1.0"
