"""DynamoDB Local with ``-dbPath`` under server crashes: the JVM is killed with SIGKILL
and restarted on the same directory and port, twice, while four clients append and one
reads. No acknowledged item is lost, the invariants hold, appends resume."""

from __future__ import annotations

import contextlib
import os
import signal

import pytest

from pagedlist.emulators.dynamodb import DynamoDBLocalEmulator

from .harness import require, run_through_server_crashes


@pytest.mark.slow
def test_dynamodb_local_killed_and_restarted(tmp_path):
    emulator = DynamoDBLocalEmulator(db_path=tmp_path / "data")
    require(emulator)
    servers = [emulator.start(log_dir=tmp_path / "logs")]
    try:

        def crash(_round: int) -> None:
            current = servers[-1]
            for proc in current.procs:
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(proc.pid, signal.SIGKILL)
                proc.wait(timeout=30)
            servers.append(emulator.start(ports=current.ports, log_dir=tmp_path / "logs"))

        # A JVM restart takes seconds on a loaded machine: give each call room to ride it out.
        history = run_through_server_crashes(servers[0].url, crash, rounds=2, deadline=180)
    finally:
        servers[-1].stop()
    failed = [e for e in history.events if e.kind == "append" and not e.ok]
    print(f"{len(history.events)} calls through 2 DynamoDB Local crashes, {len(failed)} failed")
