"""Redis with an append-only file (``appendfsync always``) under server crashes: the
server is killed with SIGKILL and restarted on its data, three times, while four clients
append and one reads. No acknowledged item is lost, the invariants hold, appends resume."""

from __future__ import annotations

import pytest

from pagedlist.emulators.redis import RedisEmulator

from .harness import require, run_through_server_crashes


@pytest.mark.slow
def test_redis_server_killed_and_restarted(tmp_path):
    emulator = RedisEmulator(appendonly=True, appendfsync="always", data_dir=tmp_path)
    require(emulator)
    with emulator.start() as server:

        def crash(_round: int) -> None:
            server.stop_node(0, hard=True)
            server.start_node(0)

        history = run_through_server_crashes(server.url, crash, rounds=3)
    failed = [e for e in history.events if e.kind == "append" and not e.ok]
    retried = [e for e in history.events if e.end - e.start > 0.05]
    print(
        f"{len(history.events)} calls through 3 Redis crashes, {len(failed)} unacknowledged, "
        f"{len(retried)} retried through an outage"
    )
