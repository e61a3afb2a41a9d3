"""The register on a synchronous `redis.Redis` client: every operation of the plans
(loaders, tools, the review app, tests). It only runs plans (`plans`) against its client."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
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
from enforcement.register.redis.plans import Batch, Command, Plan, Read, Watch, io_error, ok
from enforcement.register.redis.routing import (
    KEYLESS,
    cluster_reply,
    cluster_target,
    is_cluster,
    pack,
    plans_for,
)
from enforcement.register.redis.urls import SyncClient, client_from_url
from enforcement.settings import Settings

_T = TypeVar("_T")


class RedisRegister:
    """The register on a synchronous `redis.Redis` client (loaders, tools, tests).

    `secret` keys the plate hash of case and day-permit keys (needed for `claim_case`,
    `use_day_permit`, `day_permits_used`); every worker must share it.
    `vehicle_cache_size` bounds the per-instance cache of decoded vehicles (~700 bytes
    each; 0: off). A hit skips decoding (2-3x faster lookups); it stays exact across reloads
    because the stored bytes are compared.
    `case_margin` is how long case keys outlive their interval; `stale_load_after` is how
    long a loading generation may go without a heartbeat before another load reaps it.
    """

    def __init__(
        self,
        client: SyncClient,
        prefix: str = "zes",
        *,
        secret: bytes | None = None,
        vehicle_cache_size: int = 100_000,
        case_margin: timedelta = timedelta(hours=1),
        stale_load_after: timedelta = timedelta(hours=1),
    ) -> None:
        self._client = client
        self._cluster = is_cluster(client)
        self._plans = plans_for(
            client, prefix, secret, vehicle_cache_size, case_margin, stale_load_after
        )

    def _run(self, plan: Plan[_T], what: str) -> _T:
        watching: Any = None
        try:
            op = next(plan)
            while True:
                try:
                    result: Any
                    if self._cluster and isinstance(op, Batch | Read):
                        result = self._cluster_batch(op.commands)
                        if isinstance(op, Read) and not op.errors_in_place:
                            ok(result)
                    elif isinstance(op, Batch):
                        pipe: Any = self._client.pipeline(transaction=False)
                        for command in op.commands:
                            pipe.execute_command(*command)
                        result = pipe.execute(raise_on_error=False)
                    elif isinstance(op, Read):
                        result = self._read(op.commands, op.errors_in_place)
                    elif isinstance(op, Watch):
                        if watching is None:
                            watching = self._client.pipeline(transaction=True)
                        watching.watch(*op.keys)
                        result = [watching.execute_command(*c) for c in op.reads]
                    else:
                        tx, watching = watching, None
                        try:
                            tx.multi()
                            for command in op.commands:
                                tx.execute_command(*command)
                            result = tx.execute()
                        except WatchError:
                            result = None
                        finally:
                            tx.reset()
                except Exception as exc:
                    op = plan.throw(io_error(what, exc))  # the plan may clean up, or re-raise
                else:
                    op = plan.send(result)
        except StopIteration as stop:
            return cast(_T, stop.value)
        finally:
            if watching is not None:
                watching.reset()
            plan.close()

    def _cluster_batch(self, commands: Sequence[Command]) -> list[Any]:
        """A `Batch` on a Cluster: keyed commands in one Cluster pipeline (one round trip
        per node), then the keyless ones apart (no plan orders a keyless command before a
        keyed one it depends on). Errors in place."""
        client: Any = self._client
        results: list[Any] = [None] * len(commands)
        keyed = [i for i, c in enumerate(commands) if c[0] not in KEYLESS]
        if keyed:
            pipe = client.pipeline(transaction=False)
            for i in keyed:
                pipe.execute_command(*commands[i])
            for i, reply in zip(keyed, pipe.execute(raise_on_error=False), strict=True):
                results[i] = reply
        for i, command in enumerate(commands):
            if command[0] in KEYLESS:
                target = cluster_target(client, command)
                try:
                    if target is None:
                        reply = client.execute_command(*command)
                    else:
                        reply = client.execute_command(*command, target_nodes=target)
                    results[i] = cluster_reply(command, reply)
                except redis.exceptions.ResponseError as error:
                    results[i] = error
        return results

    def _read(self, commands: Sequence[Command], errors_in_place: bool = False) -> list[Any]:
        """Send pre-packed commands on a pooled connection, under the client's retry
        policy; a connection left with unread replies is closed, never reused."""
        pool: Any = cast(Any, self._client).connection_pool  # one node only (see _run)
        conn: Any = pool.get_connection()
        packed = pack(commands)

        def reply() -> Any:
            try:
                return conn.read_response()
            except ResponseError as error:  # the reply was read: the next ones follow
                if errors_in_place:
                    return error
                raise

        def attempt() -> list[Any]:
            conn.send_packed_command(packed, check_health=True)
            return [reply() for _ in commands]

        try:
            return cast(
                list[Any], conn.retry.call_with_retry(attempt, lambda _e: conn.disconnect())
            )
        except BaseException:
            conn.disconnect()
            raise
        finally:
            pool.release(conn)

    def lookup(self, plates: Sequence[str], at: datetime | None = None) -> RegisterView:
        """Vehicles, and the exemptions relevant at `at`, for a batch: one round trip."""
        return self._run(self._plans.read(plates, at, vehicles=True, exemptions=True), "lookup")

    def vehicles(self, plates: Sequence[str]) -> dict[str, Vehicle]:
        view = self._run(self._plans.read(plates, None, vehicles=True, exemptions=False), "lookup")
        return dict(view.vehicles)

    def exemptions(
        self, plates: Sequence[str], at: datetime | None = None
    ) -> dict[str, tuple[Exemption, ...]]:
        view = self._run(self._plans.read(plates, at, vehicles=False, exemptions=True), "lookup")
        return dict(view.exemptions)

    def claim_case(
        self, plate: str, scope: str, at: datetime, interval_hours: int, opener: str = ""
    ) -> CaseClaim:
        """Open the sanction case of this violation, or join the one already open (R35)."""
        plan = self._plans.claim_case(plate, scope, at, interval_hours, opener)
        return self._run(plan, "claim case")

    def claim_cases(self, requests: Sequence[ClaimRequest]) -> list[CaseClaim]:
        """`claim_case` for many violations in one round trip."""
        return self._run(self._plans.claim_cases(requests), "claim cases")

    def use_day_permit(
        self, plate: str, municipality: str, day: date, max_per_year: int
    ) -> DayPermitUse:
        """Count local day `day` as a day permit day of this plate in this municipality."""
        plan = self._plans.use_day_permit(plate, municipality, day, max_per_year)
        return self._run(plan, "day permit")

    def day_permits_used(self, plate: str, municipality: str, year: int) -> int:
        return self._run(self._plans.day_permits_used(plate, municipality, year), "day permit")

    def replace_vehicles(
        self,
        vehicles: Iterable[Vehicle],
        *,
        chunk: int = 5000,
        progress: Callable[[int], None] | None = None,
    ) -> int:
        """Replace the whole vehicle register atomically; returns the vehicles written.

        A repeated plate keeps its last row and counts once. `progress` gets the running
        count of vehicles packed (every `chunk`), then of vehicles written.
        """
        return self._run(self._plans.replace_vehicles(vehicles, chunk, progress), "reload")

    def replace_exemptions(
        self,
        exemptions: Iterable[Exemption],
        *,
        chunk: int = 5000,
        progress: Callable[[int], None] | None = None,
    ) -> int:
        """Replace the whole exemption register atomically; returns the plates written.

        A plate's records are merged as in `add_exemptions` (exact duplicates dropped, the
        last record of an issuer reference wins). Grants added with `add_exemptions` while
        this runs are not carried over: the source this reads must already contain them.
        """
        return self._run(self._plans.replace_exemptions(exemptions, chunk, progress), "reload")

    def add_exemptions(self, exemptions: Iterable[Exemption]) -> int:
        """Add grants to the current exemption generation; returns records added or changed
        (idempotent; the same issuer reference replaces, e.g. a revocation)."""
        return self._run(self._plans.add_exemptions(exemptions), "add exemptions")

    def migrate(self) -> dict[str, int]:
        """Convert a layout-1 register in place (`zes register migrate`): vehicles and
        exemptions, grants added at a desk included. Returns vehicles and exemption plates
        carried over per kind; a kind already in layout 2 is left alone."""
        return self._run(self._plans.migrate(), "migrate")

    def stats(self) -> dict[str, int]:
        return self._run(self._plans.stats(), "stats")


def register_from(settings: Settings, *, socket_timeout_s: float | None = None) -> RedisRegister:
    """The register the settings name (Redis URL, key prefix, plate-hash secret): the one
    every process decides with. `socket_timeout_s` bounds a call when an outage must not
    hang the caller (the review app, the export)."""
    client = client_from_url(
        settings.redis_url, socket_connect_timeout=2, socket_timeout=socket_timeout_s
    )
    return RedisRegister(
        client,
        prefix=settings.register_prefix,
        secret=settings.hash_secret.get_secret_value().encode(),
    )
