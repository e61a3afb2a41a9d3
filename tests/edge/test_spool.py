"""The durable spool: order, acks, restart, disk budget."""

from __future__ import annotations

from pathlib import Path

from edge.spool import Spool
from enforcement.records import decode_evidence, decode_passage
from tests.edge.helpers import passage, with_evidence


def test_take_is_oldest_first_and_ack_removes(tmp_path: Path) -> None:
    spool = Spool(tmp_path / "s.db", 10_000_000)
    sent = [passage(plate=f"GB{i:03d}X") for i in range(5)]
    for p in sent:
        assert spool.append(p).stored
    taken = spool.take(3, 100_000)
    assert [decode_passage(t.payload).plate for t in taken] == ["GB000X", "GB001X", "GB002X"]
    spool.ack([t.passage_id for t in taken[:2]])
    assert spool.depth() == 3
    again = spool.take(10, 100_000)
    assert [decode_passage(t.payload).plate for t in again] == ["GB002X", "GB003X", "GB004X"]


def test_take_respects_max_bytes_but_returns_at_least_one(tmp_path: Path) -> None:
    spool = Spool(tmp_path / "s.db", 10_000_000)
    for _ in range(10):
        spool.append(passage())
    one = len(spool.take(1, 10_000)[0].payload)
    assert len(spool.take(10, one * 3 + 1)) == 3
    assert len(spool.take(10, 1)) == 1


def test_evidence_travels_with_its_passage_and_goes_with_the_ack(tmp_path: Path) -> None:
    spool = Spool(tmp_path / "s.db", 10_000_000)
    p, evidence = with_evidence(passage(), 5000)
    spool.append(p, evidence)
    (row,) = spool.take(10, 100_000)
    (item,) = spool.evidence_for([row.passage_id])
    assert decode_evidence(item.payload).data == evidence[0].data
    assert spool.stored_bytes > 5000
    spool.ack([row.passage_id])
    assert spool.evidence_for([row.passage_id]) == []
    assert spool.stored_bytes == 0


def test_spool_survives_a_restart(tmp_path: Path) -> None:
    path = tmp_path / "s.db"
    spool = Spool(path, 10_000_000)
    sent = [passage() for _ in range(3)]
    for p in sent:
        spool.append(*with_evidence(p))
    spool.close()
    reopened = Spool(path, 10_000_000)
    assert reopened.depth() == 3
    assert reopened.stored_bytes > 3000
    assert [r.passage_id for r in reopened.take(10, 100_000)] == [str(p.passage_id) for p in sent]


def test_appending_the_same_passage_twice_keeps_one(tmp_path: Path) -> None:
    spool = Spool(tmp_path / "s.db", 10_000_000)
    p = passage()
    spool.append(p)
    spool.append(p)
    assert spool.depth() == 1


def test_budget_drops_evidence_first_then_refuses_passages(tmp_path: Path) -> None:
    spool = Spool(tmp_path / "s.db", 100_000)
    stored = 0
    while True:
        result = spool.append(*with_evidence(passage(), 20_000))
        if result.evidence_dropped:
            break
        stored += 1
    assert stored >= 3
    assert spool.dropped_evidence == 1
    assert spool.depth() == stored + 1  # the passage itself was kept, without its image
    while spool.append(passage()).stored:
        pass
    assert spool.refused_passages == 1
    assert spool.stored_bytes <= 100_000
    spool.ack([r.passage_id for r in spool.take(1000, 10_000_000)])
    assert spool.append(passage()).stored  # room again after the drain
