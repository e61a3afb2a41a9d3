"""The stream's work on one batch, independent of Faust: decode envelopes, look the whole
batch up in the register in one round trip, decide every passage with the law, de-duplicate
violations, count day permits and flow statistics, and say what to send where.

Kept apart from the Faust agent so that it is tested directly, benchmarked, and reused by a
plain aiokafka loop if ever needed. Nothing here commits offsets: the caller acks the batch
only after every output it returns was delivered (at-least-once end to end).

Privacy (R38): an allowed or out-of-scope passage leaves only counter increments behind; its
plate is never logged, stored or sent anywhere.
"""

from __future__ import annotations

import asyncio
import dataclasses
import logging
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime

from enforcement.areas import AreaCatalog
from enforcement.flows.records import encode_flow_batch
from enforcement.law import PassageFacts, decide
from enforcement.model import Decision, Exemption, Outcome, Vehicle, Zone
from enforcement.records import (
    DeadLetter,
    Passage,
    RecordError,
    decode_envelope,
    encode_dead_letter,
    encode_violation,
    violation_record,
)
from enforcement.register.protocol import AsyncRegister, ClaimRequest
from enforcement.windows import AccessArea, WindowDecision, decide_window
from enforcement.zones import ZoneCatalog
from stream.flows import FlowTally, Source, hour_of
from stream.metrics import StreamMetrics, emission_label, fuel_group

log = logging.getLogger("zes.stream")


@dataclass(frozen=True, slots=True)
class RawRecord:
    """One consumed Kafka record."""

    value: bytes | None
    topic: str
    partition: int | None = None
    offset: int | None = None


@dataclass(frozen=True, slots=True)
class Output:
    """A record to produce: topic, key, value."""

    topic: str
    key: bytes
    value: bytes


@dataclass(slots=True)
class BatchResult:
    outputs: list[Output] = field(default_factory=list)
    decided: int = 0
    outcomes: dict[str, int] = field(default_factory=dict)


class PassageDecider:
    """Decides batches of passage envelopes against an async register."""

    def __init__(
        self,
        register: AsyncRegister,
        zones: ZoneCatalog,
        metrics: StreamMetrics,
        *,
        violations_topic: str,
        dead_letter_topic: str,
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
        areas: AreaCatalog | None = None,
        flows_topic: str | None = None,
        worker_id: str = "worker",
    ) -> None:
        self.register = register
        self.flows_topic = flows_topic
        """Where each batch's flow cells go (`enforcement.flows`); None: metrics only."""
        self.worker_id = worker_id
        self.zones = zones
        self.areas = areas if areas else None
        self.metrics = metrics
        self.violations_topic = violations_topic
        self.dead_letter_topic = dead_letter_topic
        self.clock = clock
        self._zones: dict[str, Zone | None] = {}

    def zone(self, zone_id: str) -> Zone | None:
        """Zones by the passage's id, cached: the catalogue's loose matching is per call."""
        try:
            return self._zones[zone_id]
        except KeyError:
            zone = self._zones[zone_id] = self.zones.get(zone_id)
            return zone

    def area(self, passage: Passage) -> AccessArea | None:
        """The access-window area the passage's camera watches, if any."""
        return self.areas.for_camera(passage.site_id, passage.camera_id) if self.areas else None

    # -- decoding ----------------------------------------------------------------------------
    def _dead_letter(self, record: RawRecord, error: str, payload: bytes, reason: str) -> Output:
        self.metrics.dead_letters.labels(reason).inc()
        letter = DeadLetter(
            source_topic=record.topic,
            partition=record.partition,
            offset=record.offset,
            error=error,
            payload=payload,
            failed_at=self.clock(),
        )
        key = f"{record.topic}:{record.partition}:{record.offset}".encode()
        return Output(self.dead_letter_topic, key, encode_dead_letter(letter))

    def decode(
        self,
        records: Sequence[RawRecord],
        result: BatchResult,
        sources: dict[int, Source] | None = None,
    ) -> list[Passage]:
        """Envelopes to passages; whatever cannot be used becomes a dead letter. `sources`,
        when given, maps each passage (by id) to the record it came in."""
        passages: list[Passage] = []
        for record in records:
            self.metrics.records.inc()
            if not record.value:
                result.outputs.append(
                    self._dead_letter(record, "empty record", b"", "empty_record")
                )
                continue
            try:
                envelope = decode_envelope(record.value)
            except RecordError as exc:
                result.outputs.append(
                    self._dead_letter(record, str(exc), record.value, "malformed_envelope")
                )
                continue
            for error, raw in zip(envelope.errors, envelope.raw_bad, strict=True):
                reason = "malformed_envelope" if error.index is None else "malformed_passage"
                result.outputs.append(self._dead_letter(record, str(error), raw, reason))
            for passage in envelope.passages:
                if self.zone(passage.zone_id) is None:
                    result.outputs.append(
                        self._dead_letter(
                            record,
                            f"unknown zone_id {passage.zone_id!r} (camera configuration)",
                            record.value,
                            "unknown_zone",
                        )
                    )
                    continue
                passages.append(passage)
                if sources is not None:
                    sources[id(passage)] = (record.topic, record.partition or 0, record.offset or 0)
        return passages

    # -- deciding ----------------------------------------------------------------------------
    async def process(self, records: Sequence[RawRecord]) -> BatchResult:
        """Decide a batch. Raises `RegisterUnavailable` (nothing decided) on an outage.

        Metrics are counted only once the whole batch succeeded, so a retried batch is
        counted once."""
        result = BatchResult()
        sources: dict[int, Source] | None = {} if self.flows_topic else None
        passages = self.decode(records, result, sources)
        if not passages:
            return result
        entries: list[tuple[Passage, Zone]] = []
        leaving: list[tuple[Passage, Zone]] = []
        for passage in passages:
            zone = self.zone(passage.zone_id)
            assert zone is not None  # decode() dead-lettered unknown zones
            # Enforcement acts on entries only; leaving passages are just counted.
            (leaving if passage.direction == "leaving" else entries).append((passage, zone))

        plates = list({p.plate for p, _ in entries if p.country in (None, "NL")})
        loop = asyncio.get_running_loop()
        started = loop.time()
        view = await self.register.lookup(plates) if plates else None
        lookup_seconds = loop.time() - started

        decided: list[tuple[Passage, Zone, Decision, Vehicle | None]] = []
        windows: dict[int, tuple[AccessArea, WindowDecision]] = {}
        for passage, zone in entries:
            vehicle = view.vehicles.get(passage.plate) if view else None
            exemptions = view.exemptions.get(passage.plate, ()) if view else ()
            facts = PassageFacts(
                plate=passage.plate,
                country=passage.country,
                read_confidence=passage.confidence,
                direction_unknown=passage.direction == "unknown",
            )
            # Decided without collecting the explanation: ~95% are compliant and leave only
            # counters. A passage for review is decided again with it, for its record.
            quiet = decide(passage.seen_at, zone, vehicle, exemptions, facts=facts, explain=False)
            decision = quiet
            if quiet.day_permit_day is not None:
                decision = await self._count_day_permit(passage, zone, quiet, vehicle, facts)
            elif quiet.needs_review:
                decision = decide(passage.seen_at, zone, vehicle, exemptions, facts=facts)
            area = self.area(passage)
            if area is not None and passage.country in (None, "NL"):
                # Window rules are camera-enforced like the ZE rules: foreign plates are only
                # counted (R34), and an unsure read is for a human under both rule sets.
                windows[len(decided)] = (
                    area,
                    _window_decision(passage, area, vehicle, exemptions, decision),
                )
            decided.append((passage, zone, decision, vehicle))
        pending = [
            (i, item)
            for i, item in enumerate(decided)
            if item[2].needs_review or _window_needs_review(windows.get(i))
        ]
        requests: list[ClaimRequest] = []
        for i, (p, z, d, _) in pending:
            pid = str(p.passage_id)
            if d.needs_review:
                requests.append((p.plate, z.id, p.seen_at, z.sanction_interval_hours, pid))
            if _window_needs_review(windows.get(i)):
                # One window case per plate, area and day (24 h interval keyed by the area).
                requests.append((p.plate, windows[i][0].id, p.seen_at, 24, pid))
        claims = iter(await self.register.claim_cases(requests) if requests else [])

        now = self.clock()
        for i, (passage, _zone, decision, vehicle) in pending:
            ze_claim = next(claims) if decision.needs_review else None
            window = windows.get(i)
            window_claim = next(claims) if _window_needs_review(window) else None
            claim = ze_claim or window_claim
            assert claim is not None
            record = violation_record(
                passage,
                decision,
                vehicle,
                case_key=claim.case_key,
                first_sighting=claim.first,
                decided_at=now,
                window=(*window, window_claim.case_key if window_claim else None)
                if window
                else None,
            )
            self.metrics.violations.labels(record.decision, str(claim.first).lower()).inc()
            result.outputs.append(
                Output(self.violations_topic, claim.case_key.encode(), encode_violation(record))
            )
        # The batch succeeded: only now count it, one counter update per label set.
        self.metrics.register_up.set(1)
        self.metrics.lookup_seconds.observe(lookup_seconds)
        self.metrics.batch_passages.observe(len(passages))
        flows: Counter[tuple[str, str, str]] = Counter()
        for passage, zone in (*leaving, *entries):
            origin = "nl" if passage.country in (None, "NL") else "foreign"
            flows[zone.id, passage.direction, origin] += 1
        for labels, count in flows.items():
            self.metrics.flow_passages.labels(*labels).inc(count)
        self._count(decided, now, result)
        self._count_areas(decided, windows)
        if sources is not None:
            self._tally_flows(sources, leaving, decided, windows, result)
        return result

    def _tally_flows(
        self,
        sources: dict[int, Source],
        leaving: list[tuple[Passage, Zone]],
        decided: list[tuple[Passage, Zone, Decision, Vehicle | None]],
        windows: dict[int, tuple[AccessArea, WindowDecision]],
        result: BatchResult,
    ) -> None:
        """The batch's anonymous flow cells as `flows` records (one per source partition)."""
        assert self.flows_topic is not None
        tally = FlowTally()
        for passage, zone in leaving:
            origin = "nl" if passage.country in (None, "NL") else "foreign"
            hour = hour_of(passage.seen_at)
            key = ("zone", zone.id, hour, passage.direction, origin, "none")
            tally.add(sources[id(passage)], (*key, "unknown", "unknown", "unknown", "none"))
        for i, (passage, zone, decision, vehicle) in enumerate(decided):
            source = sources[id(passage)]
            origin = "nl" if passage.country in (None, "NL") else "foreign"
            hour = hour_of(passage.seen_at)
            kind = (_class_label(decision, vehicle), fuel_group(vehicle), emission_label(vehicle))
            outcome = decision.outcome.value
            tally.add(
                source, ("zone", zone.id, hour, passage.direction, origin, outcome, *kind, "none")
            )
            window = windows.get(i)
            if window is not None:
                area, wd = window
                state = _window_state(wd)
                area_key = ("area", area.id, hour, passage.direction, origin, wd.outcome.value)
                tally.add(source, (*area_key, *kind, state))
        for batch in tally.batches(self.worker_id):
            partition_key = f"{batch.topic}:{batch.partition}".encode()
            result.outputs.append(Output(self.flows_topic, partition_key, encode_flow_batch(batch)))

    async def _count_day_permit(
        self,
        passage: Passage,
        zone: Zone,
        decision: Decision,
        vehicle: Vehicle | None,
        facts: PassageFacts,
    ) -> Decision:
        """R22: count the permit day atomically; a 13th day makes the permit invalid."""
        assert decision.day_permit_day is not None
        maximum = zone.params.day_permit_max_per_year
        use = await self.register.use_day_permit(
            passage.plate, zone.municipality, decision.day_permit_day, maximum
        )
        if not use.refused:
            return decision
        exemptions = decision.exemptions_considered
        return decide(
            passage.seen_at, zone, vehicle, exemptions, facts=facts, day_permits_used=maximum
        )

    def _count(
        self,
        decided: list[tuple[Passage, Zone, Decision, Vehicle | None]],
        now: datetime,
        result: BatchResult,
    ) -> None:
        outcomes: Counter[tuple[str, str]] = Counter()
        entries: Counter[tuple[str, str, str, str]] = Counter()
        oldest: dict[tuple[str, str], datetime] = {}
        for passage, zone, decision, vehicle in decided:
            outcomes[zone.id, decision.outcome.value] += 1
            camera = (passage.site_id, passage.camera_id)
            if camera not in oldest or passage.seen_at < oldest[camera]:
                oldest[camera] = passage.seen_at
            if passage.direction != "entering" or decision.outcome is Outcome.UNDETERMINED:
                continue
            if passage.country not in (None, "NL"):
                continue  # foreign entries are in flow_passages (origin=foreign), R34
            entries[
                zone.id, _class_label(decision, vehicle), fuel_group(vehicle),
                emission_label(vehicle),
            ] += 1  # fmt: skip
        # Lag once per camera and batch, of its oldest passage: passages of one camera in one
        # batch are milliseconds apart, and a histogram observation per passage cost more
        # than deciding it.
        for seen_at in oldest.values():
            self.metrics.decision_lag.observe(max(0.0, (now - seen_at).total_seconds()))
        for (zone_id, outcome), count in outcomes.items():
            self.metrics.passages.labels(zone_id, outcome).inc(count)
            result.outcomes[outcome] = result.outcomes.get(outcome, 0) + count
            result.decided += count
        for labels, count in entries.items():
            self.metrics.flow_entries.labels(*labels).inc(count)

    def _count_areas(
        self,
        decided: list[tuple[Passage, Zone, Decision, Vehicle | None]],
        windows: dict[int, tuple[AccessArea, WindowDecision]],
    ) -> None:
        """Area flow statistics: entries by area, window state, vehicle class and local hour
        (when and with which vehicles goods move)."""
        counts: Counter[tuple[str, str, str, str]] = Counter()
        for i, (area, wd) in windows.items():
            passage, _, decision, vehicle = decided[i]
            if passage.direction != "entering":
                continue
            hour = f"{wd.local_time.hour:02d}"
            counts[area.id, _window_state(wd), _class_label(decision, vehicle), hour] += 1
        for labels, count in counts.items():
            self.metrics.flow_area_entries.labels(*labels).inc(count)


_WINDOW_STATES = {Outcome.VIOLATION: "out", Outcome.OUT_OF_SCOPE: "out_of_scope"}


def _window_state(wd: WindowDecision) -> str:
    """in, privilege, exempt, out, out_of_scope or undetermined: how a window was used."""
    if wd.outcome is Outcome.ALLOWED:
        return "privilege" if wd.privilege else "exempt" if wd.exemption else "in"
    return _WINDOW_STATES.get(wd.outcome, "undetermined")


def _window_decision(
    passage: Passage,
    area: AccessArea,
    vehicle: Vehicle | None,
    exemptions: Sequence[Exemption],
    ze: Decision,
) -> WindowDecision:
    decision = decide_window(passage.seen_at, area, vehicle, exemptions)
    if decision.outcome is Outcome.VIOLATION and ze.outcome is Outcome.UNDETERMINED:
        # The ZE rules could not trust the read or the data (R33): neither can the windows.
        return dataclasses.replace(decision, outcome=Outcome.UNDETERMINED)
    return decision


def _window_needs_review(window: tuple[AccessArea, WindowDecision] | None) -> bool:
    return window is not None and window[1].outcome in (Outcome.VIOLATION, Outcome.UNDETERMINED)


_KIND_GROUPS = {"Personenauto": "car", "Bus": "bus", "Motorfiets": "motorcycle"}


def _class_label(decision: Decision, vehicle: Vehicle | None) -> str:
    if decision.vehicle_class is not None:
        return decision.vehicle_class.value
    return _KIND_GROUPS.get(vehicle.kind or "", "other") if vehicle else "other"
