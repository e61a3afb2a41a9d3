"""Enforcement benchmark: case intake into PostgreSQL and SQLite, and the review app's page
times with a million cases in PostgreSQL. Prints one JSON object as its last line.

- intake: `CaseIntake.apply` in batches (dedupe by case key and passage id, sightings,
  counts) vs. the baseline of plain batched INSERTs of the same case rows into an empty
  table of the same schema, measured in the same run; `ratio` = intake / baseline;
- pages: p95 server time of the queue page and the case page (in-process ASGI calls, so
  no network; the app's own `Server-Timing` header when present, else the call's time)
  with `--cases` cases in PostgreSQL (filled by SQL from a template after the intake run).
- dossiers (issue 22): one objection dossier PDF per case of an export batch of `--dossiers`
  cases in PostgreSQL, each with a 1920x1080 overview (~400 KB JPEG) and a plate crop, as
  `zes enforce dossier --batch` makes them (chain verified once); seconds and bytes per
  dossier vs. the baseline of only loading and decrypting the same images, in the same run;
- outcomes (issue 22): `zes enforce outcome import` of one row per case of the batch, rows/s,
  and the same file again (idempotent: nothing recorded), vs. a plain bulk INSERT of the same
  outcome rows.
Goals (issue 5): intake >= 5,000 cases/s into PostgreSQL; pages p95 < 50 ms at 1,000,000.
Goals (issue 22): < 0.2 s and < 2 MB per dossier for a batch of 500.

    python -m benchmarks.enforcement [--cases 1000000] [--intake 50000] [--batch 1000]
                                     [--dossiers 500] [--parts intake,pages,dossiers]
"""

from __future__ import annotations

import argparse
import json
import resource
import statistics
import sys
import tempfile
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import make_url

from enforcement.casework.db import make_engine, migrate, session_factory
from enforcement.casework.evidence import EvidenceVault
from enforcement.casework.intake import CaseIntake, _case_row
from enforcement.casework.models import Case, EvidenceItem, Sighting
from enforcement.records import RuleFacts, SanctionFacts, VehicleFacts, Violation

SEEN = datetime(2026, 3, 2, 7, 0, tzinfo=UTC)
ZONES = ("utrecht", "amsterdam", "rotterdam", "den-haag", "arnhem")


def _violations(count: int, seed: str) -> list[Violation]:
    rules = (RuleFacts(rule_id="R7", key="k", nl="Bestelauto klasse 4.", en="Van class 4."),)
    sanction = SanctionFacts(kind="fine", amount_eur=120, admin_costs_eur=9)
    vehicle = VehicleFacts(kind="Bedrijfsauto", max_mass_kg=3000)
    out = []
    for i in range(count):
        plate = f"V{seed}{i:07d}"[:8]
        seen = SEEN + timedelta(seconds=i % 36_000)
        zone = ZONES[i % len(ZONES)]
        out.append(
            Violation(
                case_key=f"{plate}:{zone}:{seen.date()}:{i}", first_sighting=True,
                passage_id=uuid.uuid4(), decision="violation", plate=plate, plate_raw=plate,
                confidence=0.97, zone_id=zone, site_id="site-1", camera_id="cam-1",
                seen_at=seen, rule_ids=("R2", "R7", "R36"), rules=rules, vehicle_class="van",
                vehicle=vehicle, sanction=sanction, decided_at=seen,
            )
        )  # fmt: skip
    return out


@contextmanager
def _postgres_database(admin_url: str) -> Iterator[str]:
    name = f"zes_bench_{uuid.uuid4().hex[:10]}"
    admin = sa.create_engine(admin_url, isolation_level="AUTOCOMMIT")
    with admin.connect() as connection:
        connection.execute(sa.text(f'CREATE DATABASE "{name}"'))
    try:
        yield make_url(admin_url).set(database=name).render_as_string(hide_password=False)
    finally:
        with admin.connect() as connection:
            connection.execute(sa.text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()


def _rate(count: int, seconds: float) -> float:
    return round(count / seconds, 1) if seconds > 0 else 0.0


def _intake(url: str, records: list[Violation], batch: int) -> float:
    migrate(url)
    engine = make_engine(url)
    intake = CaseIntake(
        session_factory(engine), EvidenceVault(b"\0" * 32), grace=timedelta(minutes=60)
    )
    started = time.perf_counter()
    for i in range(0, len(records), batch):
        intake.apply(records[i : i + batch])
    seconds = time.perf_counter() - started
    engine.dispose()
    return _rate(len(records), seconds)


def _baseline(url: str, records: list[Violation], batch: int) -> float:
    """Plain INSERTs of the same case rows, same batches, no de-duplication or sightings."""
    migrate(url)
    engine = make_engine(url)
    now = datetime.now(UTC)
    rows = [_case_row(r, now, timedelta(minutes=60)) for r in records]
    for row in rows:
        row["sightings_count"] = 1
    started = time.perf_counter()
    for i in range(0, len(rows), batch):
        with engine.begin() as connection:
            connection.execute(sa.insert(Case), rows[i : i + batch])
    seconds = time.perf_counter() - started
    engine.dispose()
    return _rate(len(rows), seconds)


def _fill(url: str, total: int) -> float:
    """Bring the case table to `total` rows by SQL, copying one template case."""
    engine = make_engine(url)
    started = time.perf_counter()
    with engine.begin() as connection:
        have = connection.execute(sa.text("SELECT count(*) FROM cases")).scalar() or 0
        template = connection.execute(sa.text("SELECT id FROM cases ORDER BY id LIMIT 1")).scalar()
        missing = total - have
        if missing > 0 and template is not None:
            connection.execute(
                sa.text(
                    """
                    INSERT INTO cases (case_key, plate, zone_id, decision, needs_identification,
                      status, vehicle_class, sanction_kind, amount_eur, admin_costs_eur, rule_ids,
                      record, first_seen_at, last_seen_at, sightings_count, reviewable_after,
                      created_at, updated_at)
                    SELECT 'F' || g || ':' || c.zone_id, 'F' || lpad(g::text, 7, '0'),
                      (ARRAY['utrecht','amsterdam','rotterdam','den-haag','arnhem'])[1 + g % 5],
                      c.decision, c.needs_identification,
                      (ARRAY['open','open','open','confirmed','rejected','exported'])[1 + g % 6],
                      c.vehicle_class, c.sanction_kind, c.amount_eur, c.admin_costs_eur,
                      c.rule_ids, c.record, c.first_seen_at - (g || ' seconds')::interval,
                      c.last_seen_at, 1, c.reviewable_after - (g || ' seconds')::interval,
                      c.created_at, c.updated_at
                    FROM cases c, generate_series(1, :missing) g WHERE c.id = :template
                    """
                ),
                {"missing": missing, "template": template},
            )
        connection.execute(sa.text("ANALYZE cases"))
    seconds = time.perf_counter() - started
    engine.dispose()
    return round(seconds, 1)


def _p95(samples: list[float]) -> float:
    return round(statistics.quantiles(samples, n=20)[-1] * 1000, 2)


def _pages(url: str, requests: int) -> dict[str, Any]:
    """p95 of the queue and case pages through the real app (ASGI, in-process: no network),
    logged in as a reviewer, with the real Redis register for the case page's re-check."""
    import random
    import warnings

    from enforcement.casework.accounts import add_user
    from enforcement.casework.recheck import rechecker_from
    from enforcement.casework.settings import CaseSettings
    from enforcement.settings import Settings
    from enforcement.web.app import create_app

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        from starlette.testclient import TestClient

    engine = make_engine(url)
    audit_key = CaseSettings(_env_file=None).audit_hmac_key()
    with session_factory(engine, audit_key=audit_key).begin() as session:
        add_user(
            session, "bench", "benchmark password", "reviewer", actor="bench",
            all_municipalities=True,  # a regional reviewer: every case (tenancy)
        )  # fmt: skip
        ids = list(session.scalars(sa.select(Case.id).where(Case.status == "open").limit(50_000)))
    settings = Settings(_env_file=None, register_prefix=f"zes-bench-{uuid.uuid4().hex[:8]}")
    cases = CaseSettings(_env_file=None, review_metrics_port=0, grace_minutes=0)
    app = create_app(settings, cases, engine=engine, rechecker=rechecker_from(settings))
    client = TestClient(app, base_url="https://testserver", follow_redirects=False)
    login = client.get("/login").text
    token = login.split('name="csrf_token" value="', 1)[1].split('"', 1)[0]
    answer = client.post(
        "/login", data={"csrf_token": token, "username": "bench", "password": "benchmark password"}
    )
    assert answer.status_code == 303, answer.text[:500]
    rng = random.Random(7)

    def timed(path: str) -> float:
        started = time.perf_counter()
        response = client.get(path)
        elapsed = time.perf_counter() - started
        assert response.status_code == 200, (path, response.status_code)
        return elapsed

    for _ in range(5):  # warm caches and pools once
        timed("/queue")
    queue = [timed("/queue") for _ in range(requests)]
    filtered = [
        timed("/queue?zone=rotterdam&status=open&older_than_hours=1") for _ in range(requests)
    ]
    case = [timed(f"/cases/{rng.choice(ids)}") for _ in range(requests)]
    engine.dispose()
    return {
        "queue_page_p95_ms": _p95(queue),
        "queue_filtered_p95_ms": _p95(filtered),
        "case_page_p95_ms": _p95(case),
        "page_requests": requests,
    }


def _camera_jpeg(base: Any, label: str) -> bytes:
    import cv2

    image = base.copy()
    cv2.putText(image, label, (40, image.shape[0] - 40), cv2.FONT_HERSHEY_SIMPLEX, 2.5,
                (0, 0, 0), 4)  # fmt: skip
    ok, data = cv2.imencode(".jpg", image, [cv2.IMWRITE_JPEG_QUALITY, 90])
    assert ok
    return bytes(data.tobytes())


def _camera_bases() -> tuple[Any, Any]:
    """A 1920x1080 overview and a 320x90 crop with sensor-like noise (~400 KB and ~20 KB as
    JPEG at quality 90, as a real camera's)."""
    import numpy as np

    rng = np.random.default_rng(22)

    def base(width: int, height: int) -> Any:
        ramp = np.linspace(40, 200, width, dtype=np.int16)
        image = np.dstack([np.tile(ramp, (height, 1))] * 3)
        image += rng.normal(0, 6, (height, width, 3)).astype(np.int16)
        return np.clip(image, 0, 255).astype(np.uint8)

    return base(1920, 1080), base(320, 90)


def _exported_batch(url: str, count: int) -> None:
    """`count` cases with both images, exported in one fines batch (by SQL: the export
    itself is not what is measured)."""
    import hashlib

    from enforcement.casework import audit
    from enforcement.casework.models import ExportBatch
    from enforcement.records import Evidence

    migrate(url)
    engine = make_engine(url)
    sessions = session_factory(engine, audit_key=b"\1" * 32)
    intake = CaseIntake(sessions, EvidenceVault(b"\0" * 32), grace=timedelta(0))
    records = _violations(count, "D")
    intake.apply(records)
    overview, crop = _camera_bases()
    for i in range(0, count, 50):
        evidence = []
        for record in records[i : i + 50]:
            for kind, base in (("overview", overview), ("plate_crop", crop)):
                data = _camera_jpeg(base, record.plate)
                evidence.append(
                    Evidence(passage_id=record.passage_id, kind=kind,  # type: ignore[arg-type]
                             sha256=hashlib.sha256(data).hexdigest(), captured_at=record.seen_at,
                             data=data, time_sync="synchronized")
                )  # fmt: skip
        intake.apply(evidence=evidence)
    now = datetime.now(UTC)
    with sessions.begin() as session:
        batch = ExportBatch(kind="fine", municipality="Utrecht", number=1, created_at=now,
                            file_name="zes-fines-utrecht-000001.csv", sha256="0" * 64,
                            cases=count)  # fmt: skip
        session.add(batch)
        session.flush()
        session.execute(sa.update(Case).values(status="exported", export_batch_id=batch.id))
        audit.append(session, "bench", "export", detail={"file": batch.file_name}, at=now)
    engine.dispose()


def _dossiers(url: str, count: int) -> dict[str, Any]:
    from enforcement.casework import audit, dossier

    _exported_batch(url, count)
    engine = make_engine(url)
    sessions = session_factory(engine, audit_key=b"\1" * 32)
    vault = EvidenceVault(b"\0" * 32)
    sizes: list[int] = []
    with tempfile.TemporaryDirectory() as out, sessions.begin() as session:
        _, cases = dossier.batch_cases(session, 1, municipality=None, kind=None)
        # Baseline: only what no dossier can avoid, every image loaded and decrypted.
        started = time.perf_counter()
        for case in cases:
            for sha in session.scalars(
                sa.select(EvidenceItem.sha256).join(
                    Sighting, Sighting.passage_id == EvidenceItem.passage_id
                ).where(Sighting.case_id == case.id)
            ):  # fmt: skip
                vault.load(session, sha)
        baseline = time.perf_counter() - started
        started = time.perf_counter()
        assert audit.verify(session).ok
        now = datetime.now(UTC)
        for case in cases:
            made = dossier.build(session, case, vault, actor="bench", now=now, verify_chain=False)
            dossier.write_private(Path(out) / f"dossier-{case.id}.pdf", made.pdf)
            sizes.append(len(made.pdf))
        seconds = time.perf_counter() - started
    engine.dispose()
    return {
        "dossiers": len(sizes),
        "dossier_s_each": round(seconds / len(sizes), 4),
        "dossier_baseline_s_each": round(baseline / len(sizes), 4),
        "dossier_ratio": round(seconds / baseline, 2) if baseline else None,
        "dossier_bytes_mean": round(statistics.mean(sizes)),
        "dossier_bytes_max": max(sizes),
    }


def _outcomes(url: str) -> dict[str, Any]:
    """Import one `paid` row per exported case (then again), vs. plain bulk INSERTs."""
    from enforcement.casework.models import CaseOutcome
    from enforcement.casework.outcomes import import_outcome_bytes

    engine = make_engine(url)
    sessions = session_factory(engine, audit_key=b"\1" * 32)
    with sessions() as session:
        keys = list(session.execute(sa.select(Case.id, Case.case_key).order_by(Case.id)))
    day = datetime.now(UTC).date().isoformat()
    body = ("case_reference,status,reason_code,date\n" + "".join(
        f"{key},paid,,{day}\n" for _, key in keys)).encode()  # fmt: skip
    started = time.perf_counter()
    first = import_outcome_bytes(sessions, body, "bench.csv", actor="bench")
    imported = time.perf_counter() - started
    started = time.perf_counter()
    again = import_outcome_bytes(sessions, body, "bench.csv", actor="bench")
    repeated = time.perf_counter() - started
    assert (first.recorded, again.recorded, again.already) == (len(keys), 0, len(keys))
    now = datetime.now(UTC)
    rows = [
        {"case_id": case_id, "status": "upheld", "reason_code": "", "actor": "bench",
         "decided_on": now.date(), "recorded_at": now, "source": "bench"}
        for case_id, _ in keys
    ]  # fmt: skip
    started = time.perf_counter()
    with sessions.begin() as session:
        session.execute(sa.insert(CaseOutcome), rows)
    baseline = time.perf_counter() - started
    engine.dispose()
    return {
        "outcome_rows": len(keys),
        "outcome_import_rows_per_s": _rate(len(keys), imported),
        "outcome_reimport_rows_per_s": _rate(len(keys), repeated),
        "outcome_baseline_rows_per_s": _rate(len(keys), baseline),
        "outcome_ratio": round(baseline / imported, 3) if imported else None,
    }


def main(argv: list[str] | None = None) -> dict[str, object]:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--cases", type=int, default=1_000_000, help="cases for the page test")
    parser.add_argument("--intake", type=int, default=50_000, help="cases per intake run")
    parser.add_argument("--batch", type=int, default=1000)
    parser.add_argument("--requests", type=int, default=200, help="page requests per page")
    parser.add_argument("--dossiers", type=int, default=500, help="cases of the dossier batch")
    parser.add_argument(
        "--parts", default="intake,pages,dossiers", help="which parts to run (comma-separated)"
    )
    parser.add_argument(
        "--postgres-url", default="postgresql+psycopg://postgres:postgres@127.0.0.1:5432/postgres"
    )
    args = parser.parse_args(argv)
    parts = set(args.parts.split(","))
    result: dict[str, object] = {}
    if "dossiers" in parts:
        with _postgres_database(args.postgres_url) as url:
            result.update(_dossiers(url, args.dossiers))
            result.update(_outcomes(url))
    if not parts & {"intake", "pages"}:
        result["peak_rss_mb"] = round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1)
        return result
    result.update({"intake_cases": args.intake, "batch": args.batch})
    records = _violations(args.intake, "A")
    with tempfile.TemporaryDirectory() as tmp:
        result["sqlite_cases_per_s"] = _intake(f"sqlite:///{tmp}/i.db", records, args.batch)
        result["sqlite_baseline_per_s"] = _baseline(f"sqlite:///{tmp}/b.db", records, args.batch)
    with _postgres_database(args.postgres_url) as url:
        result["postgres_baseline_per_s"] = _baseline(url, records, args.batch)
    with _postgres_database(args.postgres_url) as url:
        result["postgres_cases_per_s"] = _intake(url, records, args.batch)
        result["fill_seconds"] = _fill(url, args.cases)
        result["cases_in_db"] = args.cases
        result.update(_pages(url, args.requests))
    for backend in ("postgres", "sqlite"):
        base = result[f"{backend}_baseline_per_s"]
        assert isinstance(base, float)
        got = result[f"{backend}_cases_per_s"]
        assert isinstance(got, float)
        result[f"{backend}_ratio"] = round(got / base, 3) if base else None
    result["peak_rss_mb"] = round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1)
    return result


if __name__ == "__main__":
    print(json.dumps(main(sys.argv[1:])))
