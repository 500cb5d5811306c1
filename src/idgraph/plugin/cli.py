"""What a plugin's own commands use of the host's command line (`register_commands`):

- `Failure` (one line on stderr and an exit code) and the `EXIT_*` codes (0 ok, 1 partial
  run, 2 usage, 3 configuration or a bad file, 4 the API, 5 the database busy);
- `user_errors` (an error a user can cause as a `Failure`, never a traceback);
- the common options `db_option`, `json_option`, `force_option`, and `click_options`
  (a click option per field of a pydantic options class);
- `out_console` (stdout, as the host prints);
- the host services: `run_sync` and `print_sync_summary`, `attest_file`,
  `write_review_pack`, `record_write`.

It imports click; `idgraph.plugin` (the types) does not.
"""

from idgraph.graph.cli_base import (
    EXIT_API,
    EXIT_BUSY,
    EXIT_CONFIG,
    EXIT_INCOMPLETE,
    EXIT_OK,
    EXIT_USAGE,
    Failure,
    click_options,
    db_option,
    force_option,
    json_option,
    print_sync_summary,
    run_sync,
    user_errors,
)
from idgraph.graph.console import out_console
from idgraph.graph.host import attest_file, record_write, write_review_pack

__all__ = [
    "EXIT_API",
    "EXIT_BUSY",
    "EXIT_CONFIG",
    "EXIT_INCOMPLETE",
    "EXIT_OK",
    "EXIT_USAGE",
    "Failure",
    "attest_file",
    "click_options",
    "db_option",
    "force_option",
    "json_option",
    "out_console",
    "print_sync_summary",
    "record_write",
    "run_sync",
    "user_errors",
    "write_review_pack",
]
