"""The database, its WAL and lock files are readable by the owner only."""

import os
import stat

from idgraph.graph.store import Store

from ..postmark.fixtures import sync_fixture


def test_database_files_are_owner_only(tmp_path, emulator):
    old = os.umask(0o022)
    try:
        store = Store(tmp_path / "idgraph.db")
        sync_fixture(store, emulator)
        files = [store.path, store.path.with_name("idgraph.db.lock")]
        files += [
            p
            for p in (
                store.path.with_name("idgraph.db-wal"),
                store.path.with_name("idgraph.db-shm"),
            )
            if p.exists()
        ]
        assert len(files) >= 3
        for path in files:
            assert stat.S_IMODE(path.stat().st_mode) == 0o600, path
        store.close()
    finally:
        os.umask(old)
