"""What both register stores need of their Redis client, beside the plans: the client
check, command packing for the hot read path, and Redis Cluster routing of the few keyless
commands. The plans (`plans`) stay free of any client."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import timedelta
from typing import Any, Final, cast

import hiredis
import redis.asyncio.cluster
import redis.cluster

from enforcement.register.redis.plans import Command, RegisterPlans
from enforcement.register.redis.urls import AsyncClient, SyncClient

__all__ = ["KEYLESS", "cluster_reply", "cluster_target", "is_cluster", "pack", "plans_for"]

# -- Redis Cluster ---------------------------------------------------------------------------
# Every keyed command of a plan names keys of one slot (the hash tags of `plans`), so a
# Cluster pipeline routes it whole. The few keyless commands are sent apart, to the node
# they need.

#: Keyless commands a plan sends; all others carry their keys.
KEYLESS: Final = frozenset({"SCAN", "INFO", "SCRIPT"})


def cluster_target(client: Any, command: Command) -> Any:
    """The node(s) a keyless command goes to: a SCAN's MATCH pattern carries its hash tag
    (so the one node of that slot); INFO every primary; SCRIPT LOAD the client's default
    (every primary)."""
    name = command[0]
    if name == "SCAN":
        return client.get_node_from_key(command[command.index("MATCH") + 1])
    if name == "INFO":
        return client.get_primaries()
    return None


def cluster_reply(command: Command, reply: Any) -> Any:
    """A keyless command's Cluster reply in the shape of a single node's."""
    name = command[0]
    if name == "SCAN":
        cursors, keys = reply  # ({node: cursor}, keys)
        return [next(iter(cursors.values())), keys]
    if name == "INFO":
        return {"used_memory": sum(int(info["used_memory"]) for info in reply.values())}
    return reply


def is_cluster(client: object) -> bool:
    return isinstance(client, redis.cluster.RedisCluster | redis.asyncio.cluster.RedisCluster)


def pack(commands: Sequence[Command]) -> list[bytes]:
    # hiredis accepts any tuple of str, bytes, int and float (its stub says a 1-tuple).
    return [hiredis.pack_command(cast(Any, command)) for command in commands]


def plans_for(
    client: SyncClient | AsyncClient,
    prefix: str,
    secret: bytes | None,
    vehicle_cache_size: int,
    case_margin: timedelta,
    stale_load_after: timedelta,
) -> RegisterPlans:
    """Check the client and build the plans over it (both stores' constructors)."""
    decoding = (
        client.get_encoder().decode_responses
        if is_cluster(client)
        else client.get_connection_kwargs().get("decode_responses")
    )
    if decoding:
        raise ValueError("the register stores msgpack bytes: use decode_responses=False")
    return RegisterPlans(
        prefix,
        secret,
        vehicle_cache_size=vehicle_cache_size,
        case_margin=case_margin,
        stale_load_after=stale_load_after,
    )
