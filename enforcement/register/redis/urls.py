"""Redis clients from a URL: one node (`redis://`, `rediss://`, `unix://`), a primary found
through Sentinel (`redis+sentinel://`), or a Redis Cluster (`redis+cluster://`).

    redis+sentinel://[:password@]host:port[,host:port...]/service_name[/db]
    redis+cluster://[:password@]host:port[,host:port...]

A Cluster URL names one or more nodes to start from; the client learns the others and the
slot map from them, and follows resharding and failovers (MOVED/ASK). See
`enforcement.register.redis.plans` for how the register's keys map onto slots.

The Sentinels are asked for the service's current primary on every (re)connect, so after a
failover the register follows the new primary; until one is elected, calls fail with a
connection error, which the register turns into `RegisterUnavailable` (the stream holds its
batch and retries). The password, if any, is the data nodes' (Sentinels without one).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, TypeAlias, cast
from urllib.parse import unquote, urlsplit

import redis
import redis.asyncio
import redis.asyncio.cluster
import redis.asyncio.sentinel
import redis.cluster
import redis.sentinel

SENTINEL_SCHEME = "redis+sentinel"
CLUSTER_SCHEME = "redis+cluster"

#: A synchronous client of any kind the register runs on.
SyncClient: TypeAlias = redis.Redis | redis.cluster.RedisCluster
#: The same for asyncio code.
AsyncClient: TypeAlias = redis.asyncio.Redis | redis.asyncio.cluster.RedisCluster


@dataclass(frozen=True, slots=True)
class SentinelUrl:
    sentinels: tuple[tuple[str, int], ...]
    service: str
    db: int
    password: str | None


def parse_sentinel_url(url: str) -> SentinelUrl:
    """The parts of a `redis+sentinel://` URL; `ValueError` saying what is wrong."""
    parts = urlsplit(url)
    if parts.scheme != SENTINEL_SCHEME:
        raise ValueError(f"not a {SENTINEL_SCHEME}:// URL")
    sentinels = _addresses(parts.netloc, SENTINEL_SCHEME, "Sentinel")
    path = [p for p in parts.path.split("/") if p]
    if not path or len(path) > 2 or (len(path) == 2 and not path[1].isdigit()):
        raise ValueError("the path of a redis+sentinel:// URL is /service_name[/db]")
    password = unquote(parts.password) if parts.password else None
    return SentinelUrl(sentinels, path[0], int(path[1]) if len(path) == 2 else 0, password)


def _addresses(netloc: str, scheme: str, what: str) -> tuple[tuple[str, int], ...]:
    """The `host:port,host:port...` after any `user:password@` of a URL's netloc."""
    addresses: list[tuple[str, int]] = []
    for item in filter(None, netloc.rpartition("@")[2].split(",")):
        host, _, port = item.rpartition(":")
        if not host or not port.isdigit():
            raise ValueError(f"a {what} address must be host:port, not {item!r}")
        addresses.append((host, int(port)))
    if not addresses:
        raise ValueError(f"a {scheme}:// URL names at least one {what} host:port")
    return tuple(addresses)


def parse_cluster_url(url: str) -> tuple[tuple[tuple[str, int], ...], str | None]:
    """The start nodes and password of a `redis+cluster://` URL; `ValueError` saying what is
    wrong."""
    parts = urlsplit(url)
    if parts.scheme != CLUSTER_SCHEME:
        raise ValueError(f"not a {CLUSTER_SCHEME}:// URL")
    nodes = _addresses(parts.netloc, CLUSTER_SCHEME, "Cluster node")
    if parts.path.strip("/"):
        raise ValueError("a redis+cluster:// URL has no path (a Cluster has database 0 only)")
    return nodes, unquote(parts.password) if parts.password else None


def client_from_url(url: str, **kwargs: Any) -> SyncClient:
    """A synchronous client for `url`; `kwargs` as for `redis.Redis` (timeouts...)."""
    if url.startswith(f"{CLUSTER_SCHEME}://"):
        nodes, password = parse_cluster_url(url)
        return redis.cluster.RedisCluster(
            # redis-py's sync ClusterNode is untyped.
            startup_nodes=[cast(Any, redis.cluster.ClusterNode)(h, p) for h, p in nodes],
            password=password,
            **kwargs,
        )
    if not url.startswith(f"{SENTINEL_SCHEME}://"):
        return redis.Redis.from_url(url, **kwargs)
    parsed = parse_sentinel_url(url)
    # redis-py's Sentinel classes are untyped.
    sentinel: Any = cast(Any, redis.sentinel.Sentinel)(
        list(parsed.sentinels), sentinel_kwargs=_sentinel(kwargs)
    )
    client: redis.Redis = sentinel.master_for(
        parsed.service, db=parsed.db, password=parsed.password, **kwargs
    )
    return client


def async_client_from_url(url: str, **kwargs: Any) -> AsyncClient:
    """The same for asyncio code."""
    if url.startswith(f"{CLUSTER_SCHEME}://"):
        nodes, password = parse_cluster_url(url)
        return redis.asyncio.cluster.RedisCluster(
            startup_nodes=[redis.asyncio.cluster.ClusterNode(h, p) for h, p in nodes],
            password=password,
            **kwargs,
        )
    if not url.startswith(f"{SENTINEL_SCHEME}://"):
        return redis.asyncio.Redis.from_url(url, **kwargs)
    parsed = parse_sentinel_url(url)
    sentinel: Any = cast(Any, redis.asyncio.sentinel.Sentinel)(
        list(parsed.sentinels), sentinel_kwargs=_sentinel(kwargs)
    )
    client: redis.asyncio.Redis = sentinel.master_for(
        parsed.service, db=parsed.db, password=parsed.password, **kwargs
    )
    return client


def _sentinel(kwargs: dict[str, Any]) -> dict[str, Any]:
    """The Sentinels are asked with the same timeouts as the data nodes."""
    keys = ("socket_timeout", "socket_connect_timeout")
    return {k: kwargs[k] for k in keys if k in kwargs}
