"""Records on the wire and their one codec (msgspec): passage, envelope, evidence, violation,
dead letter. Every record carries a `schema` version.

Two measured facts shape them (architecture note): a Faust worker handles ~4k records/s here
but decided 62-75k passages/s when each record carried 50 passages, so passages travel packed
in envelopes; and an overview JPEG is 100-300 KB, so passage records only *reference*
evidence (SHA-256 and size) and image bytes travel in evidence records of their own.

Passages, envelopes, violations and dead letters are JSON (readable with any Kafka tool);
evidence is msgpack, because base64 would add a third to every image. Decoding is strict:
unknown fields, wrong types and out-of-range values raise `RecordError`, which says what is
wrong - the stream's dead-letter path forwards that text.
"""

from __future__ import annotations

import hashlib
import re
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime
from typing import Annotated, Final, Literal

import msgspec

from enforcement.model import Decision, Exemption, RuleHit, Vehicle, unique_rule_ids
from enforcement.outcome import combine
from enforcement.windows import AccessArea, WindowDecision

SCHEMA_VERSION = 1
MAX_PASSAGE_BYTES = 1024
"""A passage record must stay well under this (checked by the tests on a full passage)."""

Sha256 = Annotated[str, msgspec.Meta(pattern=r"^[0-9a-f]{64}$")]
Plate = Annotated[str, msgspec.Meta(pattern=r"^[A-Z0-9]{1,12}$")]
Confidence = Annotated[float, msgspec.Meta(ge=0.0, le=1.0)]
Identifier = Annotated[str, msgspec.Meta(min_length=1, max_length=64, pattern=r"^[\w.:-]+$")]
Country = Annotated[str, msgspec.Meta(pattern=r"^[A-Z]{2}$")]
#: The direction of travel past a camera: the one definition (flows, case files, R1a).
Direction = Literal["entering", "leaving", "unknown"]
EvidenceKind = Literal["plate_crop", "overview"]
TimeSync = Literal["synchronized", "unsynchronized", "unknown"]
Hmac = Annotated[str, msgspec.Meta(pattern=r"^[0-9a-f]{64}$")]


class _Record(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    pass


class EvidenceRef(_Record, frozen=True, kw_only=True):
    """A reference to one evidence image; the bytes travel in an `Evidence` record."""

    kind: EvidenceKind
    sha256: Sha256
    size: Annotated[int, msgspec.Meta(ge=0)]


class AlternativeRead(_Record, frozen=True, kw_only=True):
    plate: Plate
    confidence: Confidence


class CharChange(_Record, frozen=True, kw_only=True):
    """One character the edge's correction changed: position in `plate`, as read, as used."""

    at: Annotated[int, msgspec.Meta(ge=0, le=11)]
    read: Annotated[str, msgspec.Meta(min_length=1, max_length=1)]
    used: Annotated[str, msgspec.Meta(min_length=1, max_length=1)]


class Passage(_Record, frozen=True, kw_only=True):
    """One vehicle pass at one camera, as the edge decided it was read."""

    schema: int = SCHEMA_VERSION
    passage_id: uuid.UUID
    site_id: Identifier
    camera_id: Identifier
    zone_id: Identifier
    direction: Direction
    plate: Plate
    """Normalised: uppercase, no separators; corrected by the sidecode rules if needed."""
    plate_raw: Annotated[str, msgspec.Meta(max_length=32)]
    """The voted text before correction (a correction is recorded, never silent)."""
    country: Country | None = None
    confidence: Confidence
    char_confidences: tuple[Confidence, ...] = ()
    alternatives: tuple[AlternativeRead, ...] = ()
    frames: Annotated[int, msgspec.Meta(ge=1)] = 1
    low_confidence: bool = False
    seen_at: datetime
    """Capture time of the best frame, timezone-aware (stored as UTC)."""
    evidence: tuple[EvidenceRef, ...] = ()
    time_sync: TimeSync | None = None
    """The edge clock's synchronisation state at capture (None: an edge that did not say)."""
    # The read and its correction (optional: records of edges from before them still decode).
    changes: tuple[CharChange, ...] = ()
    """The characters the correction changed (normalised plate_raw -> plate); empty: none."""
    plate_format: Annotated[str, msgspec.Meta(max_length=16)] | None = None
    """The format the plate fits ("NL-7", "DE", "GB-2001", ...); None = fits none known."""


class PassageEnvelope(_Record, frozen=True, kw_only=True):
    """1..N passages of one camera in one Kafka record (key = site/camera)."""

    schema: int = SCHEMA_VERSION
    site_id: Identifier
    camera_id: Identifier
    sent_at: datetime
    passages: Annotated[tuple[Passage, ...], msgspec.Meta(min_length=1)]


class _RawEnvelope(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    """The envelope with passages left undecoded, to isolate a bad one."""

    schema: int
    site_id: Identifier
    camera_id: Identifier
    sent_at: datetime
    passages: list[msgspec.Raw]


# -- envelope version 2: rows ------------------------------------------------------------------
# The same envelope as JSON arrays: the position of a value is its field. Decoding skips
# matching every field name of every passage: measured here, 50-passage envelopes decode
# in about half the time. Still JSON, so any Kafka tool shows it.
#
# Rollout: workers read both versions (`decode_envelope` tells them apart by the first
# byte: `[` or `{`); once every worker runs this code, producers switch to `version=2`
# (an edge site: `broker.envelope_version` in its site file).
# The layout is Passage's field order (`PASSAGE_ROW_FIELDS`, pinned by a test): a field
# may be added to Passage at the end only, with a default; anything else is a version 3.

ENVELOPE_ROWS_VERSION = 2

#: The field of each position in a version-2 passage row.
PASSAGE_ROW_FIELDS = (
    "schema",
    "passage_id",
    "site_id",
    "camera_id",
    "zone_id",
    "direction",
    "plate",
    "plate_raw",
    "country",
    "confidence",
    "char_confidences",
    "alternatives",
    "frames",
    "low_confidence",
    "seen_at",
    "evidence",
    "time_sync",
    "changes",
    "plate_format",
)


class PassageRow(Passage, frozen=True, kw_only=True, array_like=True):
    """A passage as a row of a version-2 envelope: a `Passage` in every other respect."""


class _EnvelopeRows(msgspec.Struct, frozen=True, array_like=True, forbid_unknown_fields=True):
    schema: Literal[2]
    site_id: Identifier
    camera_id: Identifier
    sent_at: datetime
    passages: Annotated[tuple[PassageRow, ...], msgspec.Meta(min_length=1)]


class _RawEnvelopeRows(msgspec.Struct, frozen=True, array_like=True, forbid_unknown_fields=True):
    """A version-2 envelope with passages left undecoded, to isolate a bad one."""

    schema: Literal[2]
    site_id: Identifier
    camera_id: Identifier
    sent_at: datetime
    passages: list[msgspec.Raw]


class Evidence(_Record, frozen=True, kw_only=True):
    """Image bytes for one passage (evidence topic, keyed by passage id, short retention)."""

    schema: int = SCHEMA_VERSION
    passage_id: uuid.UUID
    kind: EvidenceKind
    sha256: Sha256
    content_type: Annotated[str, msgspec.Meta(min_length=1, max_length=64)] = "image/jpeg"
    captured_at: datetime
    """The capture instant of the frame the image shows (not when it was encoded or sent)."""
    data: bytes
    # Optional, so records of edges from before they existed still decode.
    site_id: Identifier | None = None
    camera_id: Identifier | None = None
    time_sync: TimeSync | None = None
    """The edge clock's synchronisation state when the frame was captured."""
    signature: Hmac | None = None
    """HMAC-SHA256 (hex) under the site's key (enforcement.evidence_signing)."""


class FuelFacts(_Record, frozen=True, kw_only=True):
    name: str
    emission_class: str | None = None
    hybrid_class: str | None = None


class VehicleFacts(_Record, frozen=True, kw_only=True):
    """The register facts a decision used, as of the passage (shown to the reviewer)."""

    kind: str | None
    max_mass_kg: int | None = None
    eu_category: str | None = None
    body: str | None = None
    body_type_codes: tuple[str, ...] = ()
    body_codes: tuple[str, ...] = ()
    particularity_codes: tuple[int, ...] = ()
    first_admission: date | None = None
    first_nl_registration: date | None = None
    fuels: tuple[FuelFacts, ...] = ()
    make: str | None = None
    """`merk` as the RDW writes it, e.g. `MERCEDES-BENZ` (shown beside the photo, issue 21)."""
    commercial_name: str | None = None
    """`handelsbenaming`, e.g. `SPRINTER`."""
    colour: str | None = None
    """`eerste_kleur` in the RDW's Dutch upper case, e.g. `WIT`; None when not registered."""
    second_colour: str | None = None
    """`tweede_kleur`; None when `Niet geregistreerd` or absent."""


class ExemptionFacts(_Record, frozen=True, kw_only=True):
    type: str
    scope: str
    starts_at: datetime | None
    ends_before: datetime | None
    status: str
    reference: str = ""


class RuleFacts(_Record, frozen=True, kw_only=True):
    rule_id: str
    key: str
    nl: str
    en: str


class SanctionFacts(_Record, frozen=True, kw_only=True):
    kind: Literal["none", "warning", "fine"]
    amount_eur: int | None = None
    admin_costs_eur: int | None = None


class WindowFacts(_Record, frozen=True, kw_only=True):
    """An access-window decision for a passage into an area (issue: venstertijden)."""

    area_id: str
    area: str
    outcome: Literal["allowed", "violation", "out_of_scope", "undetermined"]
    case_key: str | None = None
    """The window case's key (plate, area, day) when the window rules were broken."""
    window: str | None = None
    """The window the passage fell in (allowed)."""
    privilege: bool = False
    """Only a zero-emission privilege window allowed it."""
    nearest_window: str | None = None
    """For a missed window: the nearest one that admits this vehicle."""
    nearest_start: datetime | None = None
    nearest_end: datetime | None = None
    zero_emission: bool = False
    """The vehicle is zero-emission (so privilege windows apply to it)."""


class Violation(_Record, frozen=True, kw_only=True):
    """A violating or undetermined passage for the review queue (never a compliant one)."""

    schema: int = SCHEMA_VERSION
    case_key: Annotated[str, msgspec.Meta(min_length=1, max_length=128)]
    """plate + zone + local date that opened the sanction interval (R35)."""
    first_sighting: bool
    """True for the passage that opened the case; later sightings attach to it."""
    passage_id: uuid.UUID
    decision: Literal["violation", "undetermined"]
    plate: Plate
    plate_raw: Annotated[str, msgspec.Meta(max_length=32)]
    confidence: Confidence
    zone_id: Identifier
    site_id: Identifier
    camera_id: Identifier
    seen_at: datetime
    rule_ids: tuple[str, ...]
    rules: tuple[RuleFacts, ...]
    vehicle_class: Annotated[str, msgspec.Meta(max_length=32)] | None = None
    vehicle: VehicleFacts | None = None
    exemptions: tuple[ExemptionFacts, ...] = ()
    sanction: SanctionFacts
    evidence: tuple[EvidenceRef, ...] = ()
    alternatives: tuple[AlternativeRead, ...] = ()
    char_confidences: tuple[Confidence, ...] = ()
    window: WindowFacts | None = None
    """Set for a passage into an access-window area (both rule sets decided it)."""
    decided_at: datetime


class DeadLetter(_Record, frozen=True, kw_only=True):
    """A record the pipeline could not process, with why; nothing is dropped silently."""

    schema: int = SCHEMA_VERSION
    source_topic: str
    partition: int | None = None
    offset: int | None = None
    error: str
    payload: bytes
    """The record's bytes; empty when they were too large for a dead letter (see below)."""
    failed_at: datetime
    payload_sha256: Sha256 | None = None
    """Set when `payload` was left out: the SHA-256 of the record, found again at
    `source_topic`/`partition`/`offset` while the topic keeps it."""
    payload_size: Annotated[int, msgspec.Meta(ge=0)] | None = None


class RecordError(ValueError):
    """A malformed record: `kind` of record, `index` of the bad passage in an envelope."""

    def __init__(self, kind: str, message: str, index: int | None = None) -> None:
        where = f" (passage {index})" if index is not None else ""
        super().__init__(f"malformed {kind}{where}: {message}")
        self.kind = kind
        self.index = index
        self.detail = message


@dataclass(frozen=True, slots=True)
class DecodedEnvelope:
    site_id: str
    camera_id: str
    sent_at: datetime
    passages: list[Passage]
    errors: list[RecordError]
    raw_bad: list[bytes]
    """One payload per error, same order, for dead-letter records: the bad passage's bytes,
    or the whole envelope for an error of the envelope itself (`index` None)."""


_json = msgspec.json.Encoder()
_passage_decoder = msgspec.json.Decoder(Passage)
_envelope_decoder = msgspec.json.Decoder(PassageEnvelope)
_raw_envelope_decoder = msgspec.json.Decoder(_RawEnvelope)
_rows_decoder = msgspec.json.Decoder(_EnvelopeRows)
_raw_rows_decoder = msgspec.json.Decoder(_RawEnvelopeRows)
_row_decoder = msgspec.json.Decoder(PassageRow)
_violation_decoder = msgspec.json.Decoder(Violation)
_dead_letter_decoder = msgspec.json.Decoder(DeadLetter)
_msgpack = msgspec.msgpack.Encoder()
_evidence_decoder = msgspec.msgpack.Decoder(Evidence)


def _check_time(value: datetime, kind: str, field: str, index: int | None = None) -> None:
    if value.tzinfo is None:
        raise RecordError(kind, f"{field} must carry a UTC offset", index)


def encode_passage(passage: Passage) -> bytes:
    """A passage record (a JSON object), also for a passage that came as a row."""
    if isinstance(passage, PassageRow):
        return _json.encode(msgspec.structs.asdict(passage))
    return _json.encode(passage)


def decode_passage(data: bytes) -> Passage:
    try:
        passage = _passage_decoder.decode(data)
    except msgspec.DecodeError as exc:  # ValidationError is a DecodeError
        raise RecordError("passage", str(exc)) from None
    _check_time(passage.seen_at, "passage", "seen_at")
    return passage


def encode_envelope(
    passages: Sequence[Passage],
    *,
    site_id: str,
    camera_id: str,
    sent_at: datetime | None = None,
    version: int = SCHEMA_VERSION,
) -> bytes:
    """An envelope of version 1 (objects) or `ENVELOPE_ROWS_VERSION` (rows, see above)."""
    if not passages:
        raise ValueError("an envelope carries at least one passage")
    sent = sent_at or datetime.now(UTC)
    if version == ENVELOPE_ROWS_VERSION:
        rows = [msgspec.structs.astuple(p) for p in passages]
        return _json.encode((ENVELOPE_ROWS_VERSION, site_id, camera_id, sent, rows))
    if version != SCHEMA_VERSION:
        raise ValueError(f"no envelope version {version}")
    envelope = PassageEnvelope(
        site_id=site_id, camera_id=camera_id, sent_at=sent, passages=tuple(passages)
    )
    return _json.encode(envelope)


def decode_envelope(data: bytes) -> DecodedEnvelope:
    """Decode an envelope of either version; a bad passage is reported by index without
    losing the good ones.

    Raises `RecordError` only when the envelope itself is unusable.
    """
    head = data[:1]
    if head.isspace():
        head = data.lstrip()[:1]
    rows = head == b"["
    envelope: PassageEnvelope | _EnvelopeRows
    try:
        envelope = _rows_decoder.decode(data) if rows else _envelope_decoder.decode(data)
    except msgspec.DecodeError:
        return _decode_envelope_slowly(data, rows)
    errors: list[RecordError] = []
    good: list[Passage] = []
    bad: list[bytes] = []
    for index, passage in enumerate(envelope.passages):
        try:
            _check_time(passage.seen_at, "passage", "seen_at", index)
            good.append(passage)
        except RecordError as exc:
            errors.append(exc)
            bad.append(encode_passage(passage))
    _check_time(envelope.sent_at, "envelope", "sent_at")
    return DecodedEnvelope(
        envelope.site_id, envelope.camera_id, envelope.sent_at, good, errors, bad
    )


def _decode_envelope_slowly(data: bytes, rows: bool) -> DecodedEnvelope:
    raw: _RawEnvelope | _RawEnvelopeRows
    try:
        raw = _raw_rows_decoder.decode(data) if rows else _raw_envelope_decoder.decode(data)
    except msgspec.DecodeError as exc:
        raise RecordError("envelope", str(exc)) from None
    _check_time(raw.sent_at, "envelope", "sent_at")
    good: list[Passage] = []
    errors: list[RecordError] = []
    bad: list[bytes] = []
    decoder = _row_decoder if rows else _passage_decoder
    for index, item in enumerate(raw.passages):
        try:
            passage = decoder.decode(item)
            _check_time(passage.seen_at, "passage", "seen_at", index)
            good.append(passage)
        except msgspec.DecodeError as exc:
            errors.append(RecordError("passage", _named(str(exc)) if rows else str(exc), index))
            bad.append(bytes(item))
        except RecordError as exc:
            errors.append(exc)
            bad.append(bytes(item))
    if not raw.passages:
        errors.append(RecordError("envelope", "it carries no passages"))
        bad.append(data)  # errors and raw_bad stay aligned, one payload per error
    return DecodedEnvelope(raw.site_id, raw.camera_id, raw.sent_at, good, errors, bad)


_ROW_POSITION: Final = re.compile(r"`\$\[(\d+)\]")


def _named(message: str) -> str:
    """A row error names the field, not its position: "at `$[6]`" -> "at `$.plate`"."""

    def name(match: re.Match[str]) -> str:
        index = int(match.group(1))
        return f"`$.{PASSAGE_ROW_FIELDS[index]}" if index < len(PASSAGE_ROW_FIELDS) else match[0]

    return _ROW_POSITION.sub(name, message)


def encode_evidence(evidence: Evidence) -> bytes:
    return _msgpack.encode(evidence)


def decode_evidence(data: bytes) -> Evidence:
    """Strict, like `decode_passage`: aware times, bounded strings, the bytes match."""
    try:
        evidence = _evidence_decoder.decode(data)
    except msgspec.DecodeError as exc:
        raise RecordError("evidence", str(exc)) from None
    _check_time(evidence.captured_at, "evidence", "captured_at")
    if hashlib.sha256(evidence.data).hexdigest() != evidence.sha256:
        raise RecordError("evidence", "sha256 does not match the image bytes")
    return evidence


def encode_violation(violation: Violation) -> bytes:
    return _json.encode(violation)


def decode_violation(data: bytes) -> Violation:
    """Strict, like `decode_passage`: every instant carries a UTC offset (the case database
    stores aware UTC only) and strings fit their columns (`case_key`, `plate_raw`, …)."""
    try:
        violation = _violation_decoder.decode(data)
    except msgspec.DecodeError as exc:
        raise RecordError("violation", str(exc)) from None
    _check_time(violation.seen_at, "violation", "seen_at")
    _check_time(violation.decided_at, "violation", "decided_at")
    for i, exemption in enumerate(violation.exemptions):
        for name in ("starts_at", "ends_before"):
            value = getattr(exemption, name)
            if value is not None:
                _check_time(value, "violation", f"exemptions[{i}].{name}")
    if violation.window is not None:
        for name in ("nearest_start", "nearest_end"):
            value = getattr(violation.window, name)
            if value is not None:
                _check_time(value, "violation", f"window.{name}")
    return violation


def encode_dead_letter(letter: DeadLetter) -> bytes:
    return _json.encode(letter)


def decode_dead_letter(data: bytes) -> DeadLetter:
    try:
        return _dead_letter_decoder.decode(data)
    except msgspec.DecodeError as exc:
        raise RecordError("dead letter", str(exc)) from None


# -- from the domain to records ----------------------------------------------------------------
def vehicle_facts(vehicle: Vehicle) -> VehicleFacts:
    return VehicleFacts(
        kind=vehicle.kind,
        max_mass_kg=vehicle.max_mass_kg,
        eu_category=vehicle.eu_category,
        body=vehicle.body,
        body_type_codes=vehicle.body_type_codes,
        body_codes=vehicle.body_codes,
        particularity_codes=vehicle.particularity_codes,
        first_admission=vehicle.first_admission,
        first_nl_registration=vehicle.first_nl_registration,
        fuels=tuple(FuelFacts(name=f.name, emission_class=f.emission_class,
                              hybrid_class=f.hybrid_class) for f in vehicle.fuels),
    )  # fmt: skip


def exemption_facts(exemption: Exemption) -> ExemptionFacts:
    return ExemptionFacts(
        type=exemption.type,
        scope=exemption.scope,
        starts_at=exemption.starts_at,
        ends_before=exemption.ends_before,
        status=exemption.status.value,
        reference=exemption.reference,
    )


def window_facts(
    area: AccessArea, decision: WindowDecision, vehicle: Vehicle | None, case_key: str | None
) -> WindowFacts:
    nearest = decision.nearest
    return WindowFacts(
        area_id=area.id,
        area=area.name,
        outcome=decision.outcome.value,
        case_key=case_key,
        window=decision.window.describe() if decision.window else None,
        privilege=decision.privilege,
        nearest_window=nearest[2].describe() if nearest else None,
        nearest_start=nearest[0] if nearest else None,
        nearest_end=nearest[1] if nearest else None,
        zero_emission=bool(vehicle and vehicle.zero_emission),
    )


def _rule_facts(hits: Sequence[RuleHit]) -> tuple[RuleFacts, ...]:
    return tuple(
        RuleFacts(rule_id=h.rule_id, key=h.key, nl=h.sentence_in("nl"), en=h.sentence_in("en"))
        for h in hits
    )


def violation_record(
    passage: Passage,
    decision: Decision,
    vehicle: Vehicle | None,
    *,
    case_key: str,
    first_sighting: bool,
    decided_at: datetime,
    window: tuple[AccessArea, WindowDecision, str | None] | None = None,
) -> Violation:
    """The record the stream emits for a violating or undetermined passage.

    `decision` is the ZE-zone decision. `window` (area, its decision, the window case key)
    is set for a passage into an access-window area: when the window rules were broken too,
    the case carries both sets of rules; when only they were, the record is the window's."""
    facts = None
    area_decision = None
    if window is not None:
        area, area_decision, window_key = window
        facts = window_facts(area, area_decision, vehicle, window_key)
    case = combine(decision, area_decision)
    if not case.queued:
        raise ValueError(
            f"a {case.outcome.value} passage is never queued for review (no-hit deletion)"
        )
    hits = case.rules
    outcome = case.outcome.value
    sanction = SanctionFacts(
        kind=case.sanction.kind.value,
        amount_eur=case.sanction.amount_eur,
        admin_costs_eur=case.sanction.admin_costs_eur,
    )
    return Violation(
        case_key=case_key,
        first_sighting=first_sighting,
        passage_id=passage.passage_id,
        decision=outcome,  # type: ignore[arg-type]
        plate=passage.plate,
        plate_raw=passage.plate_raw,
        confidence=passage.confidence,
        zone_id=passage.zone_id,
        site_id=passage.site_id,
        camera_id=passage.camera_id,
        seen_at=passage.seen_at,
        rule_ids=unique_rule_ids(hits),
        rules=_rule_facts(hits),
        vehicle_class=decision.vehicle_class.value if decision.vehicle_class else None,
        vehicle=vehicle_facts(vehicle) if vehicle else None,
        exemptions=tuple(exemption_facts(e) for e in decision.exemptions_considered),
        sanction=sanction,
        evidence=passage.evidence,
        alternatives=passage.alternatives,
        char_confidences=passage.char_confidences,
        window=facts,
        decided_at=decided_at,
    )
