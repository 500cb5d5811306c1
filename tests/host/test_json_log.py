"""`--log-format json` (graph/logjson.py): one object per line, a credential replaced by its
fingerprint (tests/postmark/test_query.py: a sync's whole log holds no secret)."""

import json


def test_json_log_formatter_replaces_a_credential_by_its_fingerprint():
    import logging

    from idgraph.graph.logjson import JsonFormatter
    from idgraph.graph.secrets import fingerprint

    record = logging.LogRecord(
        "idgraph.x", logging.INFO, __file__, 1, "sent %s", ("tok-123",), None
    )
    line = json.loads(JsonFormatter(["tok-123"]).format(record))
    assert line["message"] == f"sent {fingerprint('tok-123')}" and line["level"] == "info"
