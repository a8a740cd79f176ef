"""Local servers for tests and for trying a backend without an account or Docker.

``get_emulator("redis").start()`` starts a server on a free loopback port and returns a
:class:`~pagedlist.emulators.base.Running` with its store URL. The CLI puts the same
launchers behind ``pagedlist emulator start|stop|list``. Each backend's launcher is a module
of its own, registered here by name and imported on first use.
"""

from __future__ import annotations

import importlib

from pagedlist.emulators.base import Emulator, EmulatorError, Running, cache_dir

__all__ = ["EMULATORS", "Emulator", "EmulatorError", "Running", "cache_dir", "get_emulator"]

#: name -> "module:Class"
EMULATORS: dict[str, str] = {
    "redis": "pagedlist.emulators.redis:RedisEmulator",
    "redis-cluster": "pagedlist.emulators.redis:RedisClusterEmulator",
    "dynamodb": "pagedlist.emulators.dynamodb:DynamoDBLocalEmulator",
    "cosmos": "pagedlist.emulators.cosmos:CosmosServerEmulator",
    "oci-nosql": "pagedlist.emulators.oci:OCINoSQLEmulator",
    "postgres": "pagedlist.emulators.postgres:PostgresEmulator",
}


def get_emulator(name: str) -> Emulator:
    """The launcher registered as ``name``; ``EmulatorError`` lists the known names."""
    target = EMULATORS.get(name)
    if target is None:
        raise EmulatorError(
            f"no local server named {name!r}; known: {', '.join(sorted(EMULATORS))}"
        )
    module_name, _, class_name = target.partition(":")
    return getattr(importlib.import_module(module_name), class_name)()
