"""What happens to a case after the export: outcomes, their import, and where we err.

The fine authority (CJIB), the public prosecutor and the cantonal judge report back what
became of a sanction: paid, objection, annulled, upheld, withdrawn. Each report is one
`CaseOutcome` row (case, status, date: one event, so an import run twice adds nothing); the
case's status follows its newest outcome (by the authority's date), and `Case.outcome_at`
says when that came in, for retention (`purge`).

The import file (`zes enforce outcome import FILE.csv`) is UTF-8 CSV with a header and
these columns (order free, extra columns refused):

    case_reference  the case key of the export file (its `case_key` column), or empty
    batch_file      the export file's name (`zes-fines-utrecht-000012.csv`) and
    batch_line      the case's data line in it (1 = the first case after the header),
                    instead of case_reference
    status          objection, annulled, upheld, paid or withdrawn
    reason_code     the authority's reason (letters, digits, `_`, `-`; at most 32), may be empty
    date            the outcome's date, YYYY-MM-DD (never in the future)

Every row is checked before anything is written: a file with a bad row is refused whole,
each bad row named by its line number (and never by its plate), so nothing is half imported.

`outcome_stats` counts per camera and per zone what became of the cases of a period (the
supervisor page); `MisreadShareCollector` exports, per camera, the share of its decided
cases that were annulled or rejected as misread (a Prometheus gauge; its alert compares it
with its own 30-day level).
"""

from __future__ import annotations

import csv
import hashlib
import io
import re
import time
from collections import Counter, defaultdict
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

from prometheus_client.core import GaugeMetricFamily
from prometheus_client.registry import Collector
from sqlalchemy import ColumnElement, func, insert, select
from sqlalchemy.orm import Session, sessionmaker

from enforcement.casework import audit
from enforcement.casework.models import (
    OUTCOME_STATUSES,
    Case,
    CaseOutcome,
    CaseStatus,
    ExportBatch,
    RejectReason,
    Sighting,
)
from enforcement.model import LOCAL_TZ

COLUMNS = ("case_reference", "batch_file", "batch_line", "status", "reason_code", "date")
OUTCOMES = frozenset(s.value for s in OUTCOME_STATUSES)
#: Where an outcome may come from: the export, or an earlier outcome.
AFTER_EXPORT = frozenset({CaseStatus.EXPORTED.value, *OUTCOMES})
_REASON = re.compile(r"^[A-Za-z0-9_-]{0,32}$")
MAX_ROWS = 1_000_000
"""A bigger file is refused (split it): the whole file is checked in memory first."""


class OutcomeError(ValueError):
    """One outcome that cannot be recorded; the message says why (never the plate)."""


@dataclass(frozen=True, slots=True)
class BadRow:
    line: int
    problem: str


class OutcomeImportError(Exception):
    """The file was refused whole; `rows` names every bad line."""

    def __init__(self, rows: Sequence[BadRow]) -> None:
        self.rows = tuple(rows)
        shown = "; ".join(f"line {r.line}: {r.problem}" for r in self.rows[:20])
        more = f" (and {len(self.rows) - 20} more)" if len(self.rows) > 20 else ""
        super().__init__(f"{len(self.rows)} bad rows, nothing imported: {shown}{more}")


@dataclass(frozen=True, slots=True)
class ImportResult:
    rows: int
    recorded: int
    """New outcomes."""
    already: int
    """Outcomes recorded before (an import run twice, or the same event twice)."""
    sha256: str


@dataclass(frozen=True, slots=True)
class _Row:
    line: int
    case_id: int
    status: str
    reason_code: str
    decided_on: date


# -- one outcome -------------------------------------------------------------------------------
def check_outcome(status: str, reason_code: str, decided_on: date, today: date) -> None:
    if status not in OUTCOMES:
        raise OutcomeError(f"status must be one of {', '.join(sorted(OUTCOMES))}")
    if not _REASON.match(reason_code):
        raise OutcomeError("reason_code: letters, digits, _ and - only, at most 32")
    if decided_on > today:
        raise OutcomeError("the date is in the future")


def record_outcome(
    session: Session,
    case: Case,
    status: str,
    reason_code: str,
    decided_on: date,
    *,
    actor: str,
    now: datetime,
    source: str = "hand",
) -> bool:
    """Record one outcome of an exported case (audited); False when it was recorded before.
    The case's status becomes that of its newest outcome."""
    check_outcome(status, reason_code, decided_on, now.astimezone(LOCAL_TZ).date())
    if case.status not in AFTER_EXPORT:
        raise OutcomeError("the case was not exported")
    existing = session.scalar(
        select(CaseOutcome).where(
            CaseOutcome.case_id == case.id,
            CaseOutcome.status == status,
            CaseOutcome.decided_on == decided_on,
        )
    )
    if existing is not None:
        if existing.reason_code != reason_code:
            raise OutcomeError(
                f"recorded before with another reason code ({existing.reason_code or 'none'})"
            )
        return False
    session.add(
        CaseOutcome(
            case_id=case.id, status=status, reason_code=reason_code, decided_on=decided_on,
            recorded_at=now, actor=actor, source=source[:80],
        )
    )  # fmt: skip
    session.flush()
    newest = session.scalars(
        select(CaseOutcome.status)
        .where(CaseOutcome.case_id == case.id)
        .order_by(CaseOutcome.decided_on.desc(), CaseOutcome.id.desc())
        .limit(1)
    ).one()
    case.status = newest
    case.outcome_at = now
    case.updated_at = now
    audit.append(
        session, actor, "outcome", case_id=case.id,
        detail={"status": status, "reason_code": reason_code,
                "date": decided_on.isoformat(), "source": source[:80]},
        at=now,
    )  # fmt: skip
    return True


# -- the import --------------------------------------------------------------------------------
def import_outcomes(
    sessions: sessionmaker[Session],
    path: Path,
    *,
    actor: str,
    clock: Callable[[], datetime] = lambda: datetime.now(UTC),
) -> ImportResult:
    """Check every row of `path`, then record them all in one transaction (or none: raises
    `OutcomeImportError` naming every bad line)."""
    body = path.read_bytes()
    return import_outcome_bytes(sessions, body, path.name, actor=actor, clock=clock)


def import_outcome_bytes(
    sessions: sessionmaker[Session],
    body: bytes,
    name: str,
    *,
    actor: str,
    clock: Callable[[], datetime] = lambda: datetime.now(UTC),
) -> ImportResult:
    now = clock()
    digest = hashlib.sha256(body).hexdigest()
    try:
        text = body.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise OutcomeImportError([BadRow(1, f"not UTF-8 ({exc.reason})")]) from None
    reader = csv.DictReader(io.StringIO(text, newline=""))
    header = [h.strip() for h in reader.fieldnames or []]
    problems = _header_problems(header)
    if problems:
        raise OutcomeImportError([BadRow(1, p) for p in problems])
    reader.fieldnames = header
    with sessions.begin() as session:
        rows, bad = _resolve(session, reader, now)
        if bad:
            raise OutcomeImportError(bad)
        recorded, already = _apply(session, rows, bad, name=name, actor=actor, now=now)
        if bad:
            raise OutcomeImportError(bad)  # rolls the transaction back
        audit.append(
            session, actor, "outcome_import",
            detail={"file": name[:200], "sha256": digest, "rows": len(rows),
                    "recorded": recorded, "already": already},
            at=now,
        )  # fmt: skip
    return ImportResult(len(rows), recorded, already, digest)


def _apply(
    session: Session,
    rows: Sequence[_Row],
    bad: list[BadRow],
    *,
    name: str,
    actor: str,
    now: datetime,
) -> tuple[int, int]:
    """Record the checked rows: what is recorded already is read once for all their cases,
    the outcomes go in one INSERT and their audit entries in one more (79 rows/s with
    `record_outcome` per row and an audit append each, 500 rows on a loaded machine)."""
    cases: dict[int, Case] = {}
    known: dict[tuple[int, str, date], str] = {}
    newest: dict[int, tuple[date, int, str]] = {}
    ids = sorted({r.case_id for r in rows})
    for i in range(0, len(ids), 500):
        chunk = ids[i : i + 500]
        locked = select(Case).where(Case.id.in_(chunk)).with_for_update()
        cases.update({c.id: c for c in session.scalars(locked)})
        for o in session.scalars(select(CaseOutcome).where(CaseOutcome.case_id.in_(chunk))):
            known[o.case_id, o.status, o.decided_on] = o.reason_code
            if (o.decided_on, o.id) > newest.get(o.case_id, (date.min, -1, ""))[:2]:
                newest[o.case_id] = (o.decided_on, o.id, o.status)
    recorded = already = 0
    order = 1 << 62  # new rows come after every stored one of the same date, in file order
    inserts: list[dict[str, object]] = []
    entries: list[tuple[int | None, dict[str, object]]] = []
    for row in rows:
        key = (row.case_id, row.status, row.decided_on)
        if key in known:
            if known[key] != row.reason_code:
                bad.append(BadRow(row.line, "recorded before with another reason code"))
            else:
                already += 1
            continue
        known[key] = row.reason_code
        source = f"{name}:{row.line}"[:80]
        inserts.append(
            {"case_id": row.case_id, "status": row.status, "reason_code": row.reason_code,
             "decided_on": row.decided_on, "recorded_at": now, "actor": actor,
             "source": source}
        )  # fmt: skip
        order += 1
        if (row.decided_on, order) > newest.get(row.case_id, (date.min, -1, ""))[:2]:
            newest[row.case_id] = (row.decided_on, order, row.status)
        case = cases[row.case_id]
        case.status, case.outcome_at, case.updated_at = newest[row.case_id][2], now, now
        entries.append(
            (row.case_id, {"status": row.status, "reason_code": row.reason_code,
                           "date": row.decided_on.isoformat(), "source": source})
        )  # fmt: skip
        recorded += 1
    if inserts and not bad:
        session.execute(insert(CaseOutcome), inserts)
        audit.append_many(session, actor, "outcome", entries, at=now)
    return recorded, already


def _header_problems(header: Sequence[str]) -> list[str]:
    problems = []
    if not header:
        return ["the file is empty (expected a header line)"]
    unknown = [h for h in header if h not in COLUMNS]
    if unknown:
        problems.append(f"unknown columns {', '.join(unknown)} (expected {', '.join(COLUMNS)})")
    for needed in ("status", "date"):
        if needed not in header:
            problems.append(f"column {needed} is missing")
    if "case_reference" not in header and not {"batch_file", "batch_line"} <= set(header):
        problems.append("give case_reference, or batch_file and batch_line")
    return problems


def _resolve(
    session: Session, reader: Iterable[dict[str, str | None]], now: datetime
) -> tuple[list[_Row], list[BadRow]]:
    """Every row checked and its case found; the bad ones by line number."""
    today = now.astimezone(LOCAL_TZ).date()
    raw: list[tuple[int, dict[str, str]]] = []
    bad: list[BadRow] = []
    for number, record in enumerate(reader, start=2):
        if number > MAX_ROWS + 1:
            bad.append(BadRow(number, f"more than {MAX_ROWS} rows: split the file"))
            break
        if None in record:
            bad.append(BadRow(number, "more fields than the header has"))
            continue
        raw.append((number, {k: (v or "").strip() for k, v in record.items() if k}))
    by_key = _cases_by_key(session, [r.get("case_reference", "") for _, r in raw])
    by_line = _cases_by_line(session, raw)
    rows: list[_Row] = []
    for number, fields in raw:
        reference = fields.get("case_reference", "")
        batch_file, batch_line = fields.get("batch_file", ""), fields.get("batch_line", "")
        if reference and (batch_file or batch_line):
            bad.append(BadRow(number, "give case_reference or batch_file + batch_line, not both"))
            continue
        if reference:
            case_id = by_key.get(reference)
            if case_id is None:
                bad.append(BadRow(number, "no case with this case_reference"))
                continue
        elif batch_file and batch_line:
            if not batch_line.isdigit() or int(batch_line) < 1:
                bad.append(BadRow(number, "batch_line must be a whole number from 1"))
                continue
            case_id = by_line.get((batch_file, int(batch_line)))
            if case_id is None:
                bad.append(BadRow(number, "no such export batch file and line"))
                continue
        else:
            bad.append(BadRow(number, "no case_reference and no batch_file + batch_line"))
            continue
        try:
            decided_on = date.fromisoformat(fields.get("date", ""))
        except ValueError:
            bad.append(BadRow(number, "date must be YYYY-MM-DD"))
            continue
        status, reason = fields.get("status", "").lower(), fields.get("reason_code", "")
        try:
            check_outcome(status, reason, decided_on, today)
        except OutcomeError as exc:
            bad.append(BadRow(number, str(exc)))
            continue
        rows.append(_Row(number, case_id, status, reason, decided_on))
    statuses: dict[int, str] = {}
    ids = sorted({r.case_id for r in rows})
    for i in range(0, len(ids), 500):
        found = session.execute(select(Case.id, Case.status).where(Case.id.in_(ids[i : i + 500])))
        statuses.update(dict(found.all()))
    for row in rows:
        if statuses.get(row.case_id) not in AFTER_EXPORT:
            bad.append(BadRow(row.line, "the case was not exported"))
    bad.sort(key=lambda b: b.line)
    return rows, bad


def _chunks(values: Sequence[str], size: int = 500) -> Iterator[Sequence[str]]:
    for i in range(0, len(values), size):
        yield values[i : i + size]


def _cases_by_key(session: Session, keys: Sequence[str]) -> dict[str, int]:
    wanted = sorted({k for k in keys if k})
    found: dict[str, int] = {}
    for chunk in _chunks(wanted):
        rows = session.execute(select(Case.case_key, Case.id).where(Case.case_key.in_(chunk)))
        found.update(dict(rows.all()))
    return found


def _cases_by_line(
    session: Session, raw: Sequence[tuple[int, dict[str, str]]]
) -> dict[tuple[str, int], int]:
    """(batch file, data line) -> case id: a batch lists its cases by id (export.py)."""
    files = sorted({r.get("batch_file", "") for _, r in raw} - {""})
    found: dict[tuple[str, int], int] = {}
    for name in files:
        batch_id = session.scalar(select(ExportBatch.id).where(ExportBatch.file_name == name))
        if batch_id is None:
            continue
        ids = session.scalars(
            select(Case.id).where(Case.export_batch_id == batch_id).order_by(Case.id)
        ).all()
        found.update({(name, line): case_id for line, case_id in enumerate(ids, start=1)})
    return found


# -- where we err ------------------------------------------------------------------------------
@dataclass(slots=True)
class OutcomeTally:
    """What became of the cases of one camera or zone in a period."""

    cases: int = 0
    confirmed: int = 0
    rejected: Counter[str] = field(default_factory=Counter)
    exported: int = 0
    objections: int = 0
    annulled: int = 0

    @property
    def rejected_total(self) -> int:
        return sum(self.rejected.values())

    @property
    def annulled_rate(self) -> float | None:
        """Annulled per exported case; None before any export."""
        return self.annulled / self.exported if self.exported else None


@dataclass(frozen=True, slots=True)
class OutcomeStats:
    cameras: dict[str, OutcomeTally]
    """Key `site/camera` (the case's first sighting)."""
    zones: dict[str, OutcomeTally]


def _camera_rows(
    session: Session, where: Sequence[ColumnElement[bool]]
) -> Iterator[tuple[int, str, str, str, str | None, int | None, int | None]]:
    """(case id, site/camera, zone, status, reject reason, confirmed by, export batch)."""
    first = (
        select(Sighting.case_id, func.min(Sighting.id).label("sid"))
        .group_by(Sighting.case_id)
        .subquery()
    )
    query = (
        select(
            Case.id, Sighting.site_id, Sighting.camera_id, Case.zone_id, Case.status,
            Case.reject_reason, Case.confirmed_by, Case.export_batch_id,
        )
        .join(first, first.c.case_id == Case.id)
        .join(Sighting, Sighting.id == first.c.sid)
        .where(*where)
    )  # fmt: skip
    for row in session.execute(query):
        yield (
            row[0], f"{row[1]}/{row[2]}", row[3], row[4], row[5], row[6], row[7],
        )  # fmt: skip


def outcome_stats(
    session: Session,
    since: datetime,
    until: datetime,
    *,
    scope: ColumnElement[bool] | None = None,
) -> OutcomeStats:
    """Per camera and per zone: the cases first seen in [since, until) and what became of
    them. `scope` limits the cases (tenancy, `CaseScope.cases()`)."""
    where = [Case.first_seen_at >= since, Case.first_seen_at < until]
    if scope is not None:
        where.append(scope)
    objected = set(
        session.scalars(
            select(CaseOutcome.case_id)
            .join(Case, Case.id == CaseOutcome.case_id)
            .where(CaseOutcome.status == CaseStatus.OBJECTION.value, *where)
        )
    )
    annulled = set(
        session.scalars(
            select(CaseOutcome.case_id)
            .join(Case, Case.id == CaseOutcome.case_id)
            .where(CaseOutcome.status == CaseStatus.ANNULLED.value, *where)
        )
    )
    cameras: dict[str, OutcomeTally] = defaultdict(OutcomeTally)
    zones: dict[str, OutcomeTally] = defaultdict(OutcomeTally)
    for case_id, camera, zone, status, reason, confirmed_by, batch in _camera_rows(session, where):
        for tally in (cameras[camera], zones[zone]):
            tally.cases += 1
            tally.confirmed += confirmed_by is not None
            if status == CaseStatus.REJECTED.value:
                tally.rejected[reason or RejectReason.OTHER.value] += 1
            tally.exported += batch is not None
            tally.objections += case_id in objected
            tally.annulled += case_id in annulled
    return OutcomeStats(dict(sorted(cameras.items())), dict(sorted(zones.items())))


def misread_shares(session: Session, since: datetime, until: datetime) -> dict[str, float]:
    """Per camera: of its cases decided (rejected, or exported) that were first seen in the
    period, the share annulled or rejected as misread. Cameras without such a case are left
    out (no share to speak of)."""
    stats = outcome_stats(session, since, until)
    return {
        camera: (t.annulled + t.rejected[RejectReason.MISREAD.value])
        / (t.rejected_total + t.exported)
        for camera, t in stats.cameras.items()
        if t.rejected_total + t.exported
    }


class MisreadShareCollector(Collector):
    """`zes_camera_misread_share{camera}`: computed from the case database at scrape time,
    at most once a `cache_s` (one grouped query over the window's cases)."""

    def __init__(
        self,
        sessions: sessionmaker[Session],
        *,
        window: timedelta = timedelta(days=7),
        cache_s: float = 300.0,
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
    ) -> None:
        self._sessions = sessions
        self._window = window
        self._cache_s = cache_s
        self._clock = clock
        self._at = -float("inf")
        self._shares: dict[str, float] = {}

    def shares(self) -> dict[str, float]:
        if time.monotonic() - self._at >= self._cache_s:
            now = self._clock()
            with self._sessions() as session:
                self._shares = misread_shares(session, now - self._window, now)
            self._at = time.monotonic()
        return self._shares

    def collect(self) -> Iterator[GaugeMetricFamily]:
        family = GaugeMetricFamily(
            "zes_camera_misread_share",
            "Per camera (site/camera): of the cases first seen in the last 7 days that were "
            "decided (rejected or exported), the share annulled or rejected as misread.",
            labels=["camera"],
        )
        for camera, share in sorted(self.shares().items()):
            family.add_metric([camera], share)
        yield family
