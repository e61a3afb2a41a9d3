"""Topic retention, read from the deploy files: compose and Kubernetes create every topic
with the `retention.ms` and `segment.ms` of zes/topics.py (hours for everything that carries
every passing plate, days for the rest); `zes up` passes the same to its Tansu broker."""

from __future__ import annotations

import re
import time

import pytest
import yaml

from tests.deploy.test_deploy_files import DEPLOY, compose
from zes.topics import DAY_MS, HOUR_MS, TOPIC_RETENTION, topic_configs

SPEC = re.compile(r"^([a-z-]+):(\d+):(\d+):(\d+)$")


def specs(words: str) -> dict[str, tuple[int, int, int]]:
    """name -> (partitions, retention.ms, segment.ms) from `name:p:r:s` words."""
    found: dict[str, tuple[int, int, int]] = {}
    for word in words.split():
        match = SPEC.match(word)
        if match:
            name, p, r, s = match.groups()
            found[name] = (int(p), int(r), int(s))
    return found


def compose_topics() -> dict[str, tuple[int, int, int]]:
    script = compose()["services"]["kafka-topics"]["command"][0]
    loop = script.split("for spec in", 1)[1].split(";", 1)[0]
    assert '--config "retention.ms=$$3"' in script and "kafka-configs.sh" in script
    return specs(loop)


def k8s_topics() -> dict[str, tuple[int, int, int]]:
    job = yaml.safe_load((DEPLOY / "k8s" / "topics-job.yaml").read_text(encoding="utf-8"))
    (container,) = job["spec"]["template"]["spec"]["containers"]
    env = {e["name"]: e for e in container["env"]}
    assert '--config "retention.ms=$3"' in container["args"][0]
    assert env["BOOTSTRAP"]["valueFrom"]["configMapKeyRef"]["key"] == "ZES_CASES_BROKER"
    return specs(env["TOPICS"]["value"])


@pytest.mark.parametrize("read", [compose_topics, k8s_topics], ids=["compose", "k8s"])
def test_every_topic_has_the_retention_of_the_table(read: object) -> None:
    assert callable(read)
    topics = read()
    assert set(topics) == set(TOPIC_RETENTION)
    for name, (_, retention, segment) in topics.items():
        expected = TOPIC_RETENTION[name]
        assert (retention, segment) == (expected.retention_ms, expected.segment_ms), name
        assert segment < retention, name  # else a quiet topic keeps a whole segment longer


def test_plates_of_every_passer_are_kept_hours_the_rest_days() -> None:
    for name in ("passages", "passages-dead-letter", "evidence"):
        # R38: a no-hit is never kept longer than 72 hours.
        assert TOPIC_RETENTION[name].retention_ms <= 24 * HOUR_MS, name
    for name in ("violations", "violations-dead-letter", "flows-dead-letter"):
        assert TOPIC_RETENTION[name].retention_ms >= 2 * DAY_MS, name
    assert topic_configs("passages") == {"retention.ms": "43200000", "segment.ms": "3600000"}
    assert topic_configs("unknown") == {}


@pytest.mark.broker
def test_tansu_takes_the_configs_but_does_not_expire_records(broker: str) -> None:
    """What the embedded broker does with retention.ms (zes up sets it): it accepts it at
    creation and on alter, describes no config, and keeps a record past it. Its storage is in
    memory, so a record lives as long as the `zes up` run. If this starts failing, Tansu
    honours retention: update deploy/README.md "Topic retention"."""
    from kafka import KafkaAdminClient, KafkaConsumer, KafkaProducer, TopicPartition
    from kafka.admin import NewTopic

    admin = KafkaAdminClient(bootstrap_servers=broker)
    try:
        configs = {"retention.ms": "500", "segment.ms": "100"}
        admin.create_topics([NewTopic("passages", 1, 1, topic_configs=configs)])
    finally:
        admin.close()
    producer = KafkaProducer(bootstrap_servers=broker)
    producer.send("passages", b"kept").get(10)
    producer.close()
    time.sleep(3)  # six times retention.ms
    consumer = KafkaConsumer(
        bootstrap_servers=broker, auto_offset_reset="earliest", consumer_timeout_ms=3000
    )
    partition = TopicPartition("passages", 0)
    consumer.assign([partition])
    consumer.seek_to_beginning(partition)
    assert [m.value for m in consumer] == [b"kept"]
    consumer.close()
