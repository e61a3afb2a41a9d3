"""The register on a `redis.asyncio.Redis` client (the Faust stream)."""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Iterable, Sequence
from datetime import date, datetime, timedelta
from typing import Any, TypeVar, cast

import redis
import redis.asyncio
import redis.exceptions
from redis.exceptions import ResponseError, WatchError

from enforcement.model import (
    Exemption,
    Vehicle,
)
from enforcement.register.protocol import (
    CaseClaim,
    ClaimRequest,
    DayPermitUse,
    RegisterView,
)
from enforcement.register.redis.plans import (
    _KEYLESS,
    _Batch,
    _cluster_reply,
    _cluster_target,
    _Command,
    _io_error,
    _is_cluster,
    _make_core,
    _ok,
    _pack,
    _Plan,
    _Read,
    _Watch,
)
from enforcement.register.redis.urls import AsyncClient

_T = TypeVar("_T")


class AsyncRedisRegister:
    """The register on a `redis.asyncio.Redis` client (the Faust stream). Same API and
    options as `RedisRegister`, every method a coroutine."""

    def __init__(
        self,
        client: AsyncClient,
        prefix: str = "zes",
        *,
        secret: bytes | None = None,
        vehicle_cache_size: int = 100_000,
        case_margin: timedelta = timedelta(hours=1),
        stale_load_after: timedelta = timedelta(hours=1),
    ) -> None:
        self._client = client
        self._cluster = _is_cluster(client)
        self._core = _make_core(
            client, prefix, secret, vehicle_cache_size, case_margin, stale_load_after
        )

    async def _run(self, plan: _Plan[_T], what: str) -> _T:
        watching: Any = None
        try:
            op = next(plan)
            while True:
                try:
                    result: Any
                    if self._cluster and isinstance(op, _Batch | _Read):
                        result = await self._cluster_batch(op.commands)
                        if isinstance(op, _Read) and not op.errors_in_place:
                            _ok(result)
                    elif isinstance(op, _Batch):
                        pipe: Any = self._client.pipeline(transaction=False)
                        for command in op.commands:
                            pipe.execute_command(*command)
                        result = await pipe.execute(raise_on_error=False)
                    elif isinstance(op, _Read):
                        result = await self._read(op.commands, op.errors_in_place)
                    elif isinstance(op, _Watch):
                        if watching is None:
                            watching = self._client.pipeline(transaction=True)
                        await watching.watch(*op.keys)
                        result = [
                            await cast(Awaitable[Any], watching.execute_command(*c))
                            for c in op.reads
                        ]
                    else:
                        tx, watching = watching, None
                        try:
                            tx.multi()
                            for command in op.commands:
                                tx.execute_command(*command)
                            result = await tx.execute()
                        except WatchError:
                            result = None
                        finally:
                            await tx.reset()
                except Exception as exc:
                    op = plan.throw(_io_error(what, exc))
                else:
                    op = plan.send(result)
        except StopIteration as stop:
            return cast(_T, stop.value)
        finally:
            if watching is not None:
                await watching.reset()
            plan.close()

    async def _cluster_batch(self, commands: Sequence[_Command]) -> list[Any]:
        """A `_Batch` on a Cluster: keyed commands in one Cluster pipeline (one round trip
        per node), then the keyless ones apart (no plan orders a keyless command before a
        keyed one it depends on). Errors in place."""
        client: Any = self._client
        results: list[Any] = [None] * len(commands)
        keyed = [i for i, c in enumerate(commands) if c[0] not in _KEYLESS]
        if keyed:
            pipe = client.pipeline(transaction=False)
            for i in keyed:
                pipe.execute_command(*commands[i])
            for i, reply in zip(keyed, await pipe.execute(raise_on_error=False), strict=True):
                results[i] = reply
        for i, command in enumerate(commands):
            if command[0] in _KEYLESS:
                target = _cluster_target(client, command)
                try:
                    if target is None:
                        reply = await client.execute_command(*command)
                    else:
                        reply = await client.execute_command(*command, target_nodes=target)
                    results[i] = _cluster_reply(command, reply)
                except redis.exceptions.ResponseError as error:
                    results[i] = error
        return results

    async def _read(self, commands: Sequence[_Command], errors_in_place: bool = False) -> list[Any]:
        pool: Any = cast(Any, self._client).connection_pool  # one node only (see _run)
        conn: Any = await pool.get_connection()
        packed = _pack(commands)

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
        plan = self._core.read(plates, at, vehicles=True, exemptions=True)
        return await self._run(plan, "lookup")

    async def vehicles(self, plates: Sequence[str]) -> dict[str, Vehicle]:
        plan = self._core.read(plates, None, vehicles=True, exemptions=False)
        return dict((await self._run(plan, "lookup")).vehicles)

    async def exemptions(
        self, plates: Sequence[str], at: datetime | None = None
    ) -> dict[str, tuple[Exemption, ...]]:
        plan = self._core.read(plates, at, vehicles=False, exemptions=True)
        return dict((await self._run(plan, "lookup")).exemptions)

    async def claim_case(
        self, plate: str, zone_id: str, at: datetime, interval_hours: int, opener: str = ""
    ) -> CaseClaim:
        plan = self._core.claim_case(plate, zone_id, at, interval_hours, opener)
        return await self._run(plan, "claim case")

    async def claim_cases(self, requests: Sequence[ClaimRequest]) -> list[CaseClaim]:
        return await self._run(self._core.claim_cases(requests), "claim cases")

    async def use_day_permit(
        self, plate: str, municipality: str, day: date, max_per_year: int
    ) -> DayPermitUse:
        plan = self._core.use_day_permit(plate, municipality, day, max_per_year)
        return await self._run(plan, "day permit")

    async def day_permits_used(self, plate: str, municipality: str, year: int) -> int:
        plan = self._core.day_permits_used(plate, municipality, year)
        return await self._run(plan, "day permit")

    async def replace_vehicles(
        self,
        vehicles: Iterable[Vehicle],
        *,
        chunk: int = 5000,
        progress: Callable[[int], None] | None = None,
    ) -> int:
        plan = self._core.replace_vehicles(vehicles, chunk, progress)
        return await self._run(plan, "reload")

    async def replace_exemptions(
        self,
        exemptions: Iterable[Exemption],
        *,
        chunk: int = 5000,
        progress: Callable[[int], None] | None = None,
    ) -> int:
        return await self._run(self._core.replace_exemptions(exemptions, chunk, progress), "reload")

    async def add_exemptions(self, exemptions: Iterable[Exemption]) -> int:
        return await self._run(self._core.add_exemptions(exemptions), "add exemptions")

    async def migrate(self) -> dict[str, int]:
        return await self._run(self._core.migrate(), "migrate")

    async def stats(self) -> dict[str, int]:
        return await self._run(self._core.stats(), "stats")
