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
from typing import Final

from enforcement.areas import AreaCatalog
from enforcement.flows.records import encode_flow_batch
from enforcement.law import PassageFacts, decide
from enforcement.model import Decision, Exemption, Outcome, Vehicle, Zone
from enforcement.plates import lookalike_candidates
from enforcement.records import (
    DeadLetter,
    Passage,
    RecordError,
    decode_envelope,
    encode_dead_letter,
    encode_passage,
    encode_violation,
    violation_record,
)
from enforcement.register.protocol import AsyncRegister, CaseClaim, ClaimRequest
from enforcement.windows import AccessArea, WindowDecision, decide_window
from enforcement.zones import ZoneCatalog
from stream.flows import FlowTally, Source, hour_of
from stream.memo import QuietDecisions
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


@dataclass(slots=True, eq=False)
class PassageWork:
    """One passage on its way through a batch's stages, carrying everything decided about
    it: its register facts, its ZE decision, its window decision and its own case claims.
    Nothing is matched up by position afterwards, so no reordering of a stage can attach one
    passage's case key to another.

    Mutable on purpose: each stage fills in its part (a frozen copy per stage would cost
    more than the stage)."""

    passage: Passage
    zone: Zone
    source: Source = ("", 0, 0)
    """The consumed record it came in (topic, partition, offset), for the flow counts."""
    vehicle: Vehicle | None = None
    exemptions: tuple[Exemption, ...] = ()
    decision: Decision | None = None
    """The ZE-zone decision (entries only; a leaving passage is only counted)."""
    area: AccessArea | None = None
    """The access-window area the camera watches, for a Dutch plate."""
    window: WindowDecision | None = None
    ze_claim: CaseClaim | None = None
    window_claim: CaseClaim | None = None
    lookalike_doubt: bool = False
    """A violation made undetermined: a register plate is one look-alike away from the read
    on a character read below the confidence floor (`PassageDecider.doubt_lookalikes`)."""
    _kind: tuple[str, str, str] | None = None

    def kind(self) -> tuple[str, str, str]:
        """Vehicle class, fuel group and emission class labels of a decided entry, worked
        out once for the flow records and the flow counters alike."""
        if self._kind is None:
            assert self.decision is not None
            vehicle = self.vehicle
            self._kind = (
                _class_label(self.decision, vehicle),
                fuel_group(vehicle),
                emission_label(vehicle),
            )
        return self._kind

    @property
    def ze_review(self) -> bool:
        return self.decision is not None and self.decision.needs_review

    @property
    def window_review(self) -> bool:
        return self.window is not None and self.window.outcome in _REVIEW


@dataclass(slots=True)
class _Batch:
    """A batch after decoding: its passages, and its dead letters with their reasons."""

    records: int
    entries: list[PassageWork] = field(default_factory=list)
    leaving: list[PassageWork] = field(default_factory=list)
    dead_letters: list[tuple[Output, str]] = field(default_factory=list)
    lookup_seconds: float | None = None
    queued: Counter[tuple[str, str]] = field(default_factory=Counter)
    """Review records emitted, by decision and first sighting."""


class PassageDecider:
    """Decides batches of passage envelopes against an async register.

    A batch goes through six stages, each over the batch's `PassageWork` items: decode
    (envelopes to passages, the unusable to dead letters), apply the law (one register
    lookup, the law, day permits, access windows), doubt look-alikes (a second lookup, only
    when a violation's read has doubtful look-alike characters), claim (the review cases,
    one round trip), emit (the records to send) and count (metrics, only once everything
    before succeeded)."""

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
        memo: QuietDecisions | None = None,
        flows_topic: str | None = None,
        worker_id: str = "worker",
        lookalike_guard: bool = True,
        flow_vehicle_key: bytes | None = None,
    ) -> None:
        self.register = register
        self.lookalike_guard = lookalike_guard
        """Doubt violations whose read is one doubtful look-alike from a register plate."""
        self.flow_vehicle_key = flow_vehicle_key  # distinct vehicles per flow cell (issue 23)
        self.flows_topic = flows_topic
        """Where each batch's flow cells go (`enforcement.flows`); None: metrics only."""
        self.worker_id = worker_id
        self.zones = zones
        self.areas = areas if areas else None
        self.metrics = metrics
        self.violations_topic = violations_topic
        self.dead_letter_topic = dead_letter_topic
        self.clock = clock
        self.memo = memo if memo is not None else QuietDecisions()
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

    async def process(self, records: Sequence[RawRecord]) -> BatchResult:
        """Decide a batch. Raises `RegisterUnavailable` (nothing decided, nothing counted) on
        an outage, so a retried batch is counted once."""
        batch = self.decode(records)
        if batch.entries:
            await self.apply_law(batch)
            if self.lookalike_guard:
                await self.doubt_lookalikes(batch.entries)
            await self.claim(batch.entries)
        now = self.clock()
        result = BatchResult()
        self.emit(batch, now, result)
        self.count(batch, now, result)
        return result

    # -- decode ------------------------------------------------------------------------------
    def _dead_letter(self, record: RawRecord, error: str, payload: bytes) -> Output:
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

    def decode(self, records: Sequence[RawRecord]) -> _Batch:
        """Envelopes to passages; whatever cannot be used becomes a dead letter holding only
        the unusable part: a bad passage's own bytes, never its envelope's neighbours."""
        batch = _Batch(len(records))
        letters = batch.dead_letters
        for record in records:
            if not record.value:
                letters.append((self._dead_letter(record, "empty record", b""), "empty_record"))
                continue
            try:
                envelope = decode_envelope(record.value)
            except RecordError as exc:
                letter = self._dead_letter(record, str(exc), record.value)
                letters.append((letter, "malformed_envelope"))
                continue
            for error, raw in zip(envelope.errors, envelope.raw_bad, strict=True):
                reason = "malformed_envelope" if error.index is None else "malformed_passage"
                letters.append((self._dead_letter(record, str(error), raw), reason))
            for passage in envelope.passages:
                zone = self.zone(passage.zone_id)
                if zone is None:
                    why = f"unknown zone_id {passage.zone_id!r} (camera configuration)"
                    letter = self._dead_letter(record, why, encode_passage(passage))
                    letters.append((letter, "unknown_zone"))
                    continue
                # Enforcement acts on entries only; leaving passages are just counted.
                source = (record.topic, record.partition or 0, record.offset or 0)
                work = PassageWork(passage, zone, source)
                (batch.leaving if passage.direction == "leaving" else batch.entries).append(work)
        return batch

    # -- apply the law -----------------------------------------------------------------------
    async def apply_law(self, batch: _Batch) -> None:
        """One register lookup for the batch's Dutch plates, then the law (`law.decide`,
        through the memo where it may) for every entry, day permits and access windows."""
        entries = batch.entries
        plates = list({w.passage.plate for w in entries if w.passage.country in _DUTCH})
        loop = asyncio.get_running_loop()
        started = loop.time()
        view = await self.register.lookup(plates) if plates else None
        batch.lookup_seconds = loop.time() - started
        vehicles = view.vehicles if view else {}
        exemptions = view.exemptions if view else {}
        areas = self.areas
        memo = self.memo
        for work in entries:
            passage = work.passage
            zone = work.zone
            vehicle = work.vehicle = vehicles.get(passage.plate)
            plate_exemptions = work.exemptions = exemptions.get(passage.plate, ())
            dutch = passage.country in _DUTCH
            # Window rules are camera-enforced like the ZE rules: foreign plates are only
            # counted (R34), and an unsure read is for a human under both rule sets.
            area = work.area = self.area(passage) if areas and dutch else None
            facts = PassageFacts(
                plate=passage.plate,
                country=passage.country,
                read_confidence=passage.confidence,
                direction_unknown=passage.direction == "unknown",
            )
            if not plate_exemptions and area is None:
                # Most traffic: decided once per kind of vehicle (stream.memo).
                decision = memo.quiet_decision(passage.seen_at, zone, vehicle, facts)
            else:
                decision = decide(
                    passage.seen_at, zone, vehicle, plate_exemptions, facts=facts, explain=False
                )
            # Decided without collecting the explanation: ~95% are compliant and leave only
            # counters. A passage for review is decided again with it, for its record.
            if decision.day_permit_day is not None:
                decision = await self._count_day_permit(passage, zone, decision, vehicle, facts)
            elif decision.needs_review:
                decision = decide(passage.seen_at, zone, vehicle, plate_exemptions, facts=facts)
            work.decision = decision
            if area is not None:
                work.window = _window_decision(passage, area, vehicle, plate_exemptions, decision)

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

    # -- doubt look-alikes -------------------------------------------------------------------
    async def doubt_lookalikes(self, entries: Sequence[PassageWork]) -> None:
        """A violation whose read has a register neighbour one look-alike substitution away
        (`plates.lookalike_candidates`), on a character read below the zone's confidence
        floor, is a doubtful read (R33): 85DHFR read as 86DHFR at 0.67 on the 6 must not fine
        the owner of 86DHFR when 85DHFR is registered too. Decided again with that
        character's confidence as the read's, so the law itself says `undetermined` (R33,
        low confidence) and a person checks the photo. One register lookup for the whole
        batch, and none when no violation has a doubtful look-alike character."""
        doubtful: list[tuple[PassageWork, dict[str, float]]] = []
        for work in entries:
            ze = work.decision is not None and work.decision.outcome is Outcome.VIOLATION
            window = work.window is not None and work.window.outcome is Outcome.VIOLATION
            if ze or window:
                floor = work.zone.params.min_read_confidence
                neighbours = lookalike_neighbours(work.passage, floor)
                if neighbours:
                    doubtful.append((work, neighbours))
        if not doubtful:
            return
        wanted = sorted({plate for _, neighbours in doubtful for plate in neighbours})
        registered = (await self.register.lookup(wanted)).vehicles
        for work, neighbours in doubtful:
            found = [c for plate, c in neighbours.items() if registered.get(plate) is not None]
            if not found:
                continue
            work.lookalike_doubt = True
            passage = work.passage
            if work.decision is not None and work.decision.outcome is Outcome.VIOLATION:
                facts = PassageFacts(
                    plate=passage.plate,
                    country=passage.country,
                    read_confidence=min(min(found), passage.confidence),
                    direction_unknown=passage.direction == "unknown",
                )
                work.decision = decide(
                    passage.seen_at, work.zone, work.vehicle, work.exemptions, facts=facts
                )
            if work.window is not None and work.window.outcome is Outcome.VIOLATION:
                work.window = dataclasses.replace(work.window, outcome=Outcome.UNDETERMINED)

    # -- claim -------------------------------------------------------------------------------
    async def claim(self, entries: Sequence[PassageWork]) -> None:
        """Claim the batch's review cases in one round trip; each claim lands on the passage
        that asked for it, checked against the case key it names."""
        requests: list[ClaimRequest] = []
        askers: list[tuple[PassageWork, bool]] = []  # (passage, for its window case)
        for work in entries:
            passage = work.passage
            pid = str(passage.passage_id)
            if work.ze_review:
                zone = work.zone
                requests.append(
                    ClaimRequest(
                        passage.plate,
                        scope=zone.id,
                        at=passage.seen_at,
                        interval_hours=zone.sanction_interval_hours,
                        opener=pid,
                    )
                )
                askers.append((work, False))
            if work.window_review:
                assert work.area is not None
                # One window case per plate, area and day: the area is the case's scope.
                requests.append(
                    ClaimRequest(
                        passage.plate,
                        scope=work.area.id,
                        at=passage.seen_at,
                        interval_hours=24,
                        opener=pid,
                    )
                )
                askers.append((work, True))
        if not requests:
            return
        claims = await self.register.claim_cases(requests)
        for (work, window), request, claim in zip(askers, requests, claims, strict=True):
            if (claim.plate, claim.scope) != (request.plate, request.scope):
                raise RuntimeError("the register answered a case claim out of order")
            if window:
                work.window_claim = claim
            else:
                work.ze_claim = claim

    # -- emit --------------------------------------------------------------------------------
    def emit(self, batch: _Batch, now: datetime, result: BatchResult) -> None:
        """Dead letters, then one review record per passage with a case."""
        result.outputs.extend(letter for letter, _ in batch.dead_letters)
        for work in batch.entries:
            claim = work.ze_claim or work.window_claim
            if claim is None:
                continue
            assert work.decision is not None
            window_claim = work.window_claim
            record = violation_record(
                work.passage,
                work.decision,
                work.vehicle,
                case_key=claim.case_key,
                first_sighting=claim.first,
                decided_at=now,
                window=(
                    (work.area, work.window, window_claim.case_key if window_claim else None)
                    if work.area is not None and work.window is not None
                    else None
                ),
            )
            batch.queued[record.decision, str(claim.first).lower()] += 1
            result.outputs.append(
                Output(self.violations_topic, claim.case_key.encode(), encode_violation(record))
            )
        if self.flows_topic is not None:
            self.emit_flows(batch, self.flows_topic, result)

    def emit_flows(self, batch: _Batch, topic: str, result: BatchResult) -> None:
        """The batch's anonymous flow cells, one `flows` record per source partition, keyed
        by it so the sink sees one partition's batches in order (`enforcement.flows`)."""
        tally = FlowTally(self.flow_vehicle_key)
        for work in batch.leaving:
            passage = work.passage
            origin = "nl" if passage.country in _DUTCH else "foreign"
            key = ("zone", work.zone.id, hour_of(passage.seen_at), passage.direction, origin)
            tally.add(work.source, (*key, "none", "unknown", "unknown", "unknown", "none"))
        for work in batch.entries:
            passage, decision = work.passage, work.decision
            assert decision is not None
            origin = "nl" if passage.country in _DUTCH else "foreign"
            hour = hour_of(passage.seen_at)
            kind = work.kind()
            zone_key = ("zone", work.zone.id, hour, passage.direction, origin)
            tally.add(
                work.source, (*zone_key, decision.outcome.value, *kind, "none"), passage.plate
            )
            if work.window is not None and work.area is not None:
                area_key = ("area", work.area.id, hour, passage.direction, origin)
                outcome = work.window.outcome.value
                area_cell = (*area_key, outcome, *kind, _window_state(work.window))
                tally.add(work.source, area_cell, passage.plate)
        for flow in tally.batches(self.worker_id):
            source_key = f"{flow.topic}:{flow.partition}".encode()
            result.outputs.append(Output(topic, source_key, encode_flow_batch(flow)))

    # -- count -------------------------------------------------------------------------------
    def count(self, batch: _Batch, now: datetime, result: BatchResult) -> None:
        """Every counter of the batch, one update per label set: only now, after the batch
        succeeded."""
        metrics = self.metrics
        metrics.records.inc(batch.records)
        reasons = Counter(reason for _, reason in batch.dead_letters)
        for reason, n in reasons.items():
            metrics.dead_letters.labels(reason).inc(n)
        for labels2, n in batch.queued.items():
            metrics.violations.labels(*labels2).inc(n)
        if batch.lookup_seconds is not None:
            metrics.register_up.set(1)
            metrics.lookup_seconds.observe(batch.lookup_seconds)
        passages = len(batch.entries) + len(batch.leaving)
        if passages:
            metrics.batch_passages.observe(passages)
        flows: Counter[tuple[str, str, str]] = Counter()
        for work in (*batch.leaving, *batch.entries):
            passage = work.passage
            origin = "nl" if passage.country in _DUTCH else "foreign"
            flows[work.zone.id, passage.direction, origin] += 1
        for labels, n in flows.items():
            metrics.flow_passages.labels(*labels).inc(n)
        outcomes: Counter[tuple[str, str]] = Counter()
        entries: Counter[tuple[str, str, str, str]] = Counter()
        areas: Counter[tuple[str, str, str, str]] = Counter()
        oldest: dict[tuple[str, str], datetime] = {}
        for work in batch.entries:
            passage, zone, decision = work.passage, work.zone, work.decision
            assert decision is not None
            outcomes[zone.id, decision.outcome.value] += 1
            camera = (passage.site_id, passage.camera_id)
            if camera not in oldest or passage.seen_at < oldest[camera]:
                oldest[camera] = passage.seen_at
            if passage.direction != "entering":
                continue
            if work.window is not None and work.area is not None:
                # Area flow statistics: entries by area, window state, vehicle class and
                # local hour (when and with which vehicles goods move).
                wd = work.window
                hour = f"{wd.local_time.hour:02d}"
                state = _window_state(wd)
                areas[work.area.id, state, work.kind()[0], hour] += 1
            if decision.outcome is Outcome.UNDETERMINED or passage.country not in _DUTCH:
                continue  # foreign entries are in flow_passages (origin=foreign), R34
            entries[(zone.id, *work.kind())] += 1
        # Lag once per camera and batch, of its oldest passage: passages of one camera in one
        # batch are milliseconds apart, and a histogram observation per passage cost more
        # than deciding it.
        for seen_at in oldest.values():
            metrics.decision_lag.observe(max(0.0, (now - seen_at).total_seconds()))
        for (zone_id, outcome), n in outcomes.items():
            metrics.passages.labels(zone_id, outcome).inc(n)
            result.outcomes[outcome] = result.outcomes.get(outcome, 0) + n
            result.decided += n
        for labels4, n in entries.items():
            metrics.flow_entries.labels(*labels4).inc(n)
        for labels4, n in areas.items():
            metrics.flow_area_entries.labels(*labels4).inc(n)
        doubts = Counter(work.zone.id for work in batch.entries if work.lookalike_doubt)
        for zone_id, n in doubts.items():
            metrics.lookalike_doubts.labels(zone_id).inc(n)


_DUTCH: Final = frozenset({None, "NL"})
_REVIEW: Final = frozenset({Outcome.VIOLATION, Outcome.UNDETERMINED})
_WINDOW_STATES = {Outcome.VIOLATION: "out", Outcome.OUT_OF_SCOPE: "out_of_scope"}


def _window_state(wd: WindowDecision) -> str:
    """in, privilege, exempt, out, out_of_scope or undetermined: how a window was used."""
    if wd.outcome is Outcome.ALLOWED:
        return "privilege" if wd.privilege else "exempt" if wd.exemption else "in"
    return _WINDOW_STATES.get(wd.outcome, "undetermined")


def lookalike_neighbours(passage: Passage, floor: float) -> dict[str, float]:
    """Valid plates one look-alike substitution from the read, each with the confidence of
    the character that differs; only characters read below `floor` may differ. Empty when
    the read has no per-character confidences that match its characters."""
    plate, confidences = passage.plate, passage.char_confidences
    if len(confidences) != len(plate):
        return {}
    changeable = frozenset(i for i, c in enumerate(confidences) if c < floor)
    if not changeable:
        return {}
    found: dict[str, float] = {}
    for candidate in lookalike_candidates(plate, max_changes=1, changeable=changeable):
        at = next(i for i, (a, b) in enumerate(zip(plate, candidate, strict=True)) if a != b)
        found[candidate] = confidences[at]
    return found


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


_KIND_GROUPS = {"Personenauto": "car", "Bus": "bus", "Motorfiets": "motorcycle"}


def _class_label(decision: Decision, vehicle: Vehicle | None) -> str:
    if decision.vehicle_class is not None:
        return decision.vehicle_class.value
    return _KIND_GROUPS.get(vehicle.kind or "", "other") if vehicle else "other"
