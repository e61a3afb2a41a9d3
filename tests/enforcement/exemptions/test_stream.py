"""A grant at the desk is honoured by the stream for a passage the minute after: a real
Tansu broker, real Redis and a worker process, as tests/stream does."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import pytest
import redis

from enforcement.exemptions import desk as service
from enforcement.exemptions.desk import desk_from
from enforcement.exemptions.settings import DeskSettings
from enforcement.model import LOCAL_TZ
from enforcement.register.redis import RedisRegister
from enforcement.settings import Settings, load_law
from tests.enforcement.casework.conftest import CaseDB
from tests.enforcement.exemptions.conftest import policy_dir, van
from tests.stream.harness import SECRET, StreamHarness, now, passage

pytestmark = [pytest.mark.broker, pytest.mark.redis, pytest.mark.slow]


def test_a_desk_grant_is_honoured_by_the_stream_the_minute_after(
    harness: StreamHarness, sqlite_db: CaseDB, tmp_path: Path
) -> None:
    plate = "VNB44X"
    register = RedisRegister(
        redis.Redis.from_url(harness.redis_url), harness.prefix, secret=SECRET.encode()
    )
    register.replace_vehicles([van(plate, "4")])  # Euro 4 diesel van: no access in Haarlem
    _, zones = load_law(Settings(_env_file=None, law_file=None))
    desk = desk_from(
        list(zones),
        DeskSettings(_env_file=None, policy_dir=policy_dir(tmp_path)),
        register,
        register,
    )
    harness.start_worker()
    before = passage(plate, "haarlem", now())
    harness.send_passages([before], per_envelope=1)
    (violation,) = harness.violations(1, timeout=60)
    assert violation.passage_id == before.passage_id

    policy = desk.policy("haarlem")
    assert policy is not None
    granted_at = now()
    with sqlite_db.sessions.begin() as session:
        row = service.submit(
            session, desk, policy, plate_text=plate, type_key="dagontheffing",
            first_day=granted_at.astimezone(LOCAL_TZ).date(),
            last_day=granted_at.astimezone(LOCAL_TZ).date(), reason="", trips_per_year=None,
            now=granted_at,
        )  # fmt: skip
        assert row.status == "granted", row.code

    after = passage(plate, "haarlem", granted_at + timedelta(minutes=1))
    harness.send_passages([after], per_envelope=1)
    harness.wait_for(
        lambda: harness.metric("zes_stream_passages_total") >= 2, what="both passages decided"
    )
    # The passage after the grant made no violation record: only the one before did.
    records = harness.violations(2, timeout=10)
    assert [r.passage_id for r in records] == [before.passage_id]
