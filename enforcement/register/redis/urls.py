"""Redis clients from a URL: one node (`redis://`, `rediss://`, `unix://`) or a primary found
through Sentinel (`redis+sentinel://`).

    redis+sentinel://[:password@]host:port[,host:port...]/service_name[/db]

The Sentinels are asked for the service's current primary on every (re)connect, so after a
failover the register follows the new primary; until one is elected, calls fail with a
connection error, which the register turns into `RegisterUnavailable` (the stream holds its
batch and retries). The password, if any, is the data nodes' (Sentinels without one).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, cast
from urllib.parse import unquote, urlsplit

import redis
import redis.asyncio
import redis.asyncio.sentinel
import redis.sentinel

SENTINEL_SCHEME = "redis+sentinel"


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
    where = parts.netloc.rpartition("@")[2]
    sentinels: list[tuple[str, int]] = []
    for item in filter(None, where.split(",")):
        host, _, port = item.rpartition(":")
        if not host or not port.isdigit():
            raise ValueError(f"a Sentinel address must be host:port, not {item!r}")
        sentinels.append((host, int(port)))
    if not sentinels:
        raise ValueError("a redis+sentinel:// URL names at least one Sentinel host:port")
    path = [p for p in parts.path.split("/") if p]
    if not path or len(path) > 2 or (len(path) == 2 and not path[1].isdigit()):
        raise ValueError("the path of a redis+sentinel:// URL is /service_name[/db]")
    password = unquote(parts.password) if parts.password else None
    return SentinelUrl(tuple(sentinels), path[0], int(path[1]) if len(path) == 2 else 0, password)


def client_from_url(url: str, **kwargs: Any) -> redis.Redis:
    """A synchronous client for `url`; `kwargs` as for `redis.Redis` (timeouts...)."""
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


def async_client_from_url(url: str, **kwargs: Any) -> redis.asyncio.Redis:
    """The same for asyncio code."""
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
