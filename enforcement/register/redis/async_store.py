"""The register on a `redis.asyncio.Redis` client: the stream's read and claim path only.

The stream looks a batch up (`lookup`), claims its review cases (`claim_cases`) and counts
day permits (`use_day_permit`); everything else (loads, grants, migration, statistics) is
done by tools on `sync_store.RedisRegister`. So this store runs only the plans' one-round-trip
operations (`Batch`, `Read`), never a transaction.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date, datetime, timedelta
from typing import Any, TypeVar, cast

import redis.exceptions
from redis.exceptions import ResponseError

from enforcement.register.protocol import (
    CaseClaim,
    ClaimRequest,
    DayPermitUse,
    RegisterView,
)
from enforcement.register.redis.plans import Batch, Command, Plan, Read, io_error, ok
from enforcement.register.redis.routing import (
    KEYLESS,
    cluster_reply,
    cluster_target,
    is_cluster,
    pack,
    plans_for,
)
from enforcement.register.redis.urls import AsyncClient

_T = TypeVar("_T")


class AsyncRedisRegister:
    """`AsyncRegister` on a `redis.asyncio` client (the Faust stream). The options are
    `RedisRegister`'s: `secret` keys the case and day-permit keys (every worker shares it),
    `vehicle_cache_size` bounds the decoded-vehicle cache (0: off)."""

    def __init__(
        self,
        client: AsyncClient,
        prefix: str = "zes",
        *,
        secret: bytes | None = None,
        vehicle_cache_size: int = 100_000,
        case_margin: timedelta = timedelta(hours=1),
    ) -> None:
        self._client = client
        self._cluster = is_cluster(client)
        # Loads are never run here, so the stale-load bound is the sync store's concern.
        self._plans = plans_for(
            client, prefix, secret, vehicle_cache_size, case_margin, timedelta(hours=1)
        )

    async def _run(self, plan: Plan[_T], what: str) -> _T:
        try:
            op = next(plan)
            while True:
                if not isinstance(op, Batch | Read):  # a transaction: the sync store's work
                    raise TypeError(f"the stream's store does not run {type(op).__name__}")
                try:
                    result: Any
                    if self._cluster:
                        result = await self._cluster_batch(op.commands)
                        if isinstance(op, Read) and not op.errors_in_place:
                            ok(result)
                    elif isinstance(op, Read):
                        result = await self._read(op.commands, op.errors_in_place)
                    else:
                        pipe: Any = self._client.pipeline(transaction=False)
                        for command in op.commands:
                            pipe.execute_command(*command)
                        result = await pipe.execute(raise_on_error=False)
                except Exception as exc:
                    op = plan.throw(io_error(what, exc))
                else:
                    op = plan.send(result)
        except StopIteration as stop:
            return cast(_T, stop.value)
        finally:
            plan.close()

    async def _cluster_batch(self, commands: Sequence[Command]) -> list[Any]:
        """A `Batch` on a Cluster: keyed commands in one Cluster pipeline (one round trip
        per node), then the keyless ones apart. Errors in place."""
        client: Any = self._client
        results: list[Any] = [None] * len(commands)
        keyed = [i for i, c in enumerate(commands) if c[0] not in KEYLESS]
        if keyed:
            pipe = client.pipeline(transaction=False)
            for i in keyed:
                pipe.execute_command(*commands[i])
            for i, reply in zip(keyed, await pipe.execute(raise_on_error=False), strict=True):
                results[i] = reply
        for i, command in enumerate(commands):
            if command[0] in KEYLESS:
                target = cluster_target(client, command)
                try:
                    if target is None:
                        reply = await client.execute_command(*command)
                    else:
                        reply = await client.execute_command(*command, target_nodes=target)
                    results[i] = cluster_reply(command, reply)
                except redis.exceptions.ResponseError as error:
                    results[i] = error
        return results

    async def _read(self, commands: Sequence[Command], errors_in_place: bool = False) -> list[Any]:
        """Pre-packed commands on a pooled connection, under the client's retry policy; a
        connection left with unread replies is closed, never reused."""
        pool: Any = cast(Any, self._client).connection_pool  # one node only (see _run)
        conn: Any = await pool.get_connection()
        packed = pack(commands)

        async def reply() -> Any:
            try:
                return await conn.read_response()
            except ResponseError as error:  # the reply was read: the next ones follow
                if errors_in_place:
                    return error
                raise

        async def attempt() -> list[Any]:
            await conn.send_packed_command(packed, check_health=True)
            return [await reply() for _ in commands]

        async def fail(_error: Exception) -> None:
            await conn.disconnect()

        try:
            return cast(list[Any], await conn.retry.call_with_retry(attempt, fail))
        except BaseException:
            await conn.disconnect()
            raise
        finally:
            await pool.release(conn)

    async def lookup(self, plates: Sequence[str], at: datetime | None = None) -> RegisterView:
        """`Register.lookup`, awaited."""
        return await self._run(
            self._plans.read(plates, at, vehicles=True, exemptions=True), "lookup"
        )

    async def claim_cases(self, requests: Sequence[ClaimRequest]) -> list[CaseClaim]:
        """`Register.claim_cases`, awaited."""
        return await self._run(self._plans.claim_cases(requests), "claim cases")

    async def use_day_permit(
        self, plate: str, municipality: str, day: date, max_per_year: int
    ) -> DayPermitUse:
        """`Register.use_day_permit`, awaited."""
        plan = self._plans.use_day_permit(plate, municipality, day, max_per_year)
        return await self._run(plan, "day permit")
