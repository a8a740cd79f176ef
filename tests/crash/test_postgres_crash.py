"""PostgreSQL with its durable defaults (fsync on, synchronous commit) under server
crashes: the postmaster and every backend are killed with SIGKILL at once, three times,
while four clients append and one reads, and the server is started again on the same data
directory and port (crash recovery replays the WAL). No acknowledged item is lost, the
invariants hold, appends resume: for a list of page rows (layout 1) and for one of entry
rows pushed through the tail counter (layout 2)."""

from __future__ import annotations

import shutil
import tempfile
from pathlib import Path

import pytest

from pagedlist.emulators.postgres import PostgresEmulator

from .harness import require, run_through_server_crashes


@pytest.mark.slow
@pytest.mark.parametrize("layout", [1, 2])
def test_postgres_killed_and_restarted(layout):
    # Not tmp_path: under root the server runs as an unprivileged user, who must be able
    # to reach its data directory (pytest's base temp directory is private to root).
    scratch = Path(tempfile.mkdtemp(prefix="pagedlist-pg-crash-"))
    scratch.chmod(0o711)
    emulator = PostgresEmulator(durable=True, data_dir=scratch / "data")
    require(emulator)
    try:
        with emulator.start(log_dir=scratch / "logs") as server:
            recoveries = []

            def crash(_round: int) -> None:
                server.kill()
                server.restart()
                recoveries.append(server.logs(limit=1_000_000).count("not properly shut down"))

            history = run_through_server_crashes(server.url, crash, rounds=3, layout=layout)
        # Each restart found the cluster crashed and ran recovery: the kills were real.
        assert recoveries == [1, 2, 3]
        failed = [e for e in history.events if e.kind == "append" and not e.ok]
        print(
            f"layout {layout}: {len(history.events)} calls through 3 PostgreSQL crashes, "
            f"{len(failed)} unacknowledged"
        )
    finally:
        shutil.rmtree(scratch, ignore_errors=True)
