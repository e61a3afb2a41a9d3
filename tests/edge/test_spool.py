"""The durable spool: order, acks, restart, disk budget, full disks, acked bytes gone."""

from __future__ import annotations

import hashlib
import json
import subprocess
from collections.abc import Iterator
from pathlib import Path

import msgspec
import pytest

from edge.metrics import EdgeMetrics
from edge.spool import Spool
from enforcement.records import decode_evidence, decode_passage
from tests.conftest import missing
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


# -- privacy: acked rows leave no bytes behind ---------------------------------------------------
def test_acked_plates_are_in_neither_the_spool_file_nor_its_wal(tmp_path: Path) -> None:
    path = tmp_path / "s.db"
    spool = Spool(path, 10_000_000)
    marker = b"ZQXJ-EVIDENCE-MARKER" * 50
    p, evidence = with_evidence(passage(plate="QZ99XQ"), 4000)
    evidence = [msgspec.structs.replace(evidence[0], data=marker)]
    evidence = [msgspec.structs.replace(evidence[0], sha256=hashlib.sha256(marker).hexdigest())]
    spool.append(p, evidence)
    for _ in range(3):
        spool.append(passage())  # neighbours on the same pages stay
    files = [path, path.with_name("s.db-wal")]
    on_disk = b"".join(f.read_bytes() for f in files if f.exists())
    assert b"QZ99XQ" in on_disk and marker[:40] in on_disk  # the test can see them
    (row,) = [r for r in spool.take(10, 100_000) if r.passage_id == str(p.passage_id)]
    spool.ack([row.passage_id], with_evidence=False)
    (item,) = spool.evidence_for([row.passage_id])
    spool.ack_evidence([item.seq])
    on_disk = b"".join(f.read_bytes() for f in files if f.exists())
    assert b"QZ99XQ" not in on_disk
    assert marker[:40] not in on_disk
    assert path.with_name("s.db-wal").stat().st_size == 0  # checkpointed and truncated
    assert spool.depth() == 3


# -- a full disk: held in memory, written when space returns, never lost silently ---------------
@pytest.fixture
def tiny_fs(tmp_path: Path) -> Iterator[Path]:
    """A 2 MB tmpfs of this test's own (needs root, which CI has)."""
    mount = tmp_path / "tiny"
    mount.mkdir()
    done = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", "size=2m,mode=0700", "tmpfs", str(mount)],
        capture_output=True, text=True, check=False,
    )  # fmt: skip
    if done.returncode != 0:
        missing(f"cannot mount a tmpfs (root needed): {done.stderr.strip()}")
    yield mount
    subprocess.run(["umount", "-l", str(mount)], check=False)


def drain(spool: Spool) -> set[str]:
    """What a publisher does once the broker answers: ack passages, then their evidence."""
    acked: set[str] = set()
    while rows := spool.take(50, 1_000_000):
        spool.ack([r.passage_id for r in rows], with_evidence=False)
        acked |= {r.passage_id for r in rows}
    while items := spool.take_evidence(8, 1_000_000):
        spool.ack_evidence([i.seq for i in items])
    return acked


def test_a_full_disk_holds_passages_and_writes_them_when_space_returns(tiny_fs: Path) -> None:
    metrics = EdgeMetrics()
    spool = Spool(tiny_fs / "spool.db", 100_000_000, min_free_bytes=100_000, metrics=metrics)
    made: list[str] = []
    results = []
    for _ in range(40):  # 40 x 100 kB of evidence into 2 MB: the images go first
        p, evidence = with_evidence(passage(), 100_000)
        results.append(spool.append(p, evidence))
        made.append(str(p.passage_id))
    assert all(r.stored for r in results)
    assert spool.dropped_evidence > 0  # counted, and logged
    assert metrics.spool_evidence_dropped._value.get() == spool.dropped_evidence
    while not results[-1].held and len(made) < 20_000:  # then passages fill the rest
        p = passage()
        results.append(spool.append(p))
        made.append(str(p.passage_id))
    assert results[-1].held, "the disk never filled"
    for _ in range(20):  # the camera keeps going
        p = passage()
        results.append(spool.append(p))
        made.append(str(p.passage_id))
    assert not any(r.lost for r in results)
    assert spool.depth() + spool.held == len(made)  # every passage on disk or held
    held_count = metrics.spool_refused.labels("held")._value.get()
    assert held_count == spool.held > 0
    assert metrics.spool_held._value.get() == spool.held
    # The broker answers again: acks free the disk, the held passages are written, in order.
    acked = drain(spool)
    more = []
    for _ in range(3):
        p = passage()
        more.append(str(p.passage_id))
        assert spool.append(p).stored
    acked |= drain(spool)
    assert spool.held == 0
    assert acked == set(made) | set(more)  # zero loss: every passage reached the "broker"
    assert spool.lost_passages == 0


def test_sqlite_disk_full_is_held_not_raised(
    tiny_fs: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    spool = Spool(tiny_fs / "spool.db", 100_000_000, min_free_bytes=0)
    monkeypatch.setattr(spool, "free_bytes", lambda: 10**12)  # statvfs lies: SQLite finds out
    filler = tiny_fs / "filler"
    with filler.open("wb") as f:  # someone else fills the disk
        try:
            while True:
                f.write(b"\0" * 65536)
                f.flush()
        except OSError:
            pass
    made = []
    for _ in range(5):
        p, evidence = with_evidence(passage(), 20_000)
        made.append(str(p.passage_id))
        result = spool.append(p, evidence)
        assert result.held and not result.stored
    filler.unlink()  # space returns
    assert spool.write_held() == 5
    assert {r.passage_id for r in spool.take(50, 1_000_000)} == set(made)
    assert spool.evidence_depth() == 5  # with their images


def test_when_the_memory_queue_is_full_a_passage_is_counted_lost(tmp_path: Path) -> None:
    metrics = EdgeMetrics()
    spool = Spool(tmp_path / "s.db", 100_000, held_max_passages=2, metrics=metrics)
    while spool.append(passage()).stored:
        pass
    assert spool.append(passage()).held
    assert spool.append(passage()).lost  # the third beyond the budget: counted, logged
    assert spool.held == 2 and spool.lost_passages == 1
    assert metrics.spool_refused.labels("lost")._value.get() == 1


# -- `zes edge spool list|requeue|drop` ------------------------------------------------------
def test_spool_cli_lists_requeues_and_drops_quarantined_rows(tmp_path: Path) -> None:
    from typer.testing import CliRunner

    from edge.cli import edge_app
    from tests.edge.conftest import site_dict

    site = tmp_path / "site.yaml"
    site.write_text(json.dumps(site_dict(tmp_path, "video.avi")), encoding="utf-8")
    spool = Spool(tmp_path / "spool.db", 10_000_000)
    kept, too_big = passage(plate="QZ99XQ"), passage()
    spool.append(kept)
    spool.append(*with_evidence(too_big, 5000))
    by_id = {r.passage_id: r.seq for r in spool.take(10, 100_000)}
    spool.quarantine("passage", by_id[str(kept.passage_id)], "old_schema: schema 0")
    (image,) = spool.evidence_for([str(too_big.passage_id)])
    spool.quarantine("evidence", image.seq, "too_large: 5000 bytes")
    spool.close()
    runner = CliRunner()
    listed = runner.invoke(edge_app, ["spool", "list", "--config", str(site)])
    assert listed.exit_code == 0, listed.output
    assert "old_schema: schema 0" in listed.output and "too_large" in listed.output
    assert "QZ99XQ" not in listed.output  # a row's content (a plate) is never printed
    as_json = runner.invoke(edge_app, ["spool", "list", "--config", str(site), "--json"])
    rows = [json.loads(line) for line in as_json.output.splitlines()]
    assert rows[-1]["quarantined"] == 2 and rows[-1]["passages"] == 1
    seqs = {r["kind"]: r["seq"] for r in rows[:-1]}
    assert (
        runner.invoke(edge_app, ["spool", "requeue", "--config", str(site), "999"]).exit_code == 2
    )
    done = runner.invoke(
        edge_app, ["spool", "requeue", "--config", str(site), str(seqs["passage"])]
    )
    assert done.exit_code == 0 and "requeued 1" in done.output
    refused = runner.invoke(
        edge_app, ["spool", "drop", "--config", str(site), "--all"], input="n\n"
    )
    assert refused.exit_code == 1
    done = runner.invoke(edge_app, ["spool", "drop", "--config", str(site), "--all", "--yes"])
    assert done.exit_code == 0 and "dropped 1" in done.output
    spool = Spool(tmp_path / "spool.db", 10_000_000)
    assert spool.quarantined() == []
    assert {r.passage_id for r in spool.take(10, 100_000)} == {
        str(kept.passage_id),
        str(too_big.passage_id),
    }
    assert spool.evidence_depth() == 0
