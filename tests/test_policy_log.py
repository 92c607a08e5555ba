"""The access/system log: hash chain verification against real tampering, CSV export in
three encodings, the batching writer's back-pressure and loss accounting, the daily job."""

from __future__ import annotations

import codecs
import csv
import io
import sqlite3
from collections.abc import Iterator
from pathlib import Path

import pytest
import trio

from nasfs.policy import LogEntry, LogFilter, ManualClock, PolicyService
from nasfs.policy.auditlog import AuditLog
from nasfs.policy.daily import run_daily
from tests.policy_util import ROOT, open_policy

JAPANESE = "営業部/報告書①.xlsx"
EMOJI = "smile😀.txt"  # not in cp932
BAD_BYTES = b"caf\xe9-\xff.txt"  # Latin-1 name, not UTF-8


@pytest.fixture
def clock() -> ManualClock:
    return ManualClock(1_750_000_000)


@pytest.fixture
def service(tmp_path: Path, clock: ManualClock) -> Iterator[PolicyService]:
    svc = open_policy(tmp_path, clock)
    yield svc
    svc.close()


def fill(service: PolicyService, n: int = 10) -> None:
    service.write_batch("access", [
        LogEntry(operation="open-read", user="alice", uid=1001, pid=77, process="cat",
                 share="docs", path=f"file{i}.txt", bytes=i * 100) for i in range(n)])


def tamper(service: PolicyService, sql: str) -> None:
    conn = sqlite3.connect(service.audit_db.copies()[0])
    conn.execute(sql)
    conn.commit()
    conn.close()


def test_intact_chain_verifies(service: PolicyService) -> None:
    fill(service)
    report = service.admin.call("log.verify", {"kind": "access"}, ROOT)
    assert report == {"kind": "access", "ok": True, "rows": 10, "first_bad_id": None,
                      "problem": None, "gaps": []}


def test_edited_row_is_found(service: PolicyService) -> None:
    fill(service)
    tamper(service, "UPDATE access_log SET user = 'bob' WHERE id = 4")
    report = service.audit_store.verify("access")
    assert not report.ok and report.first_bad_id == 4
    assert "contents were edited" in (report.problem or "")


def test_edited_and_rehashed_row_breaks_the_next_link(service: PolicyService) -> None:
    fill(service)
    from nasfs.policy.auditstore import HASHED_COLUMNS, row_hash

    row = service.audit_store.query("access", LogFilter(), after_id=5, limit=1)[0]
    values = [getattr(row, c) for c in HASHED_COLUMNS]
    values[HASHED_COLUMNS.index("bytes")] = 0
    forged = row_hash(row.prev_hash, values)
    tamper(service, f"UPDATE access_log SET bytes = 0, hash = x'{forged.hex()}' WHERE id = 6")
    report = service.audit_store.verify("access")
    assert not report.ok and report.first_bad_id == 7
    assert "does not link to row 6" in (report.problem or "")


def test_deleted_rows_are_found(service: PolicyService) -> None:
    fill(service)
    tamper(service, "DELETE FROM access_log WHERE id = 3")
    report = service.audit_store.verify("access")
    assert not report.ok and report.first_bad_id == 4
    assert report.problem == "row 3 is missing before row 4 (deleted)"


def test_rows_cut_off_the_end_are_found(service: PolicyService) -> None:
    fill(service)
    tamper(service, "DELETE FROM access_log WHERE id >= 9")
    report = service.audit_store.verify("access")
    assert not report.ok and "ends at row 8 but row 10 was written last" in (
        report.problem or "")


def test_verify_through_cli_names_the_row(service: PolicyService) -> None:
    fill(service)
    tamper(service, "UPDATE access_log SET path = CAST('other' AS BLOB) WHERE id = 2")
    report = service.admin.call("log.verify", {"kind": "access"}, ROOT)
    assert report["first_bad_id"] == 2 and report["ok"] is False
    # The verification itself is in the system log.
    last = service.audit_store.query("system", LogFilter(), limit=100)[-1]
    assert last.operation == "log.verify" and last.result == "broken"


def names_service(service: PolicyService) -> None:
    service.write_batch("access", [
        LogEntry(operation="create", user="tanaka", share="営業", path=JAPANESE),
        LogEntry(operation="open-write", user="alice", share="docs", path=EMOJI,
                 second_path=BAD_BYTES),
        LogEntry(operation="rename", user="alice", share="docs", path=BAD_BYTES,
                 second_path="new, \"quoted\"\nname")])


@pytest.mark.parametrize("encoding", ["utf-8", "utf-8-sig", "cp932"])
def test_export_round_trips_names(service: PolicyService, tmp_path: Path,
                                  encoding: str) -> None:
    names_service(service)
    target = tmp_path / "out" / f"log-{encoding}.csv"
    result = service.admin.call("log.export", {"kind": "access", "path": str(target),
                                               "encoding": encoding}, ROOT)
    assert result == {"path": str(target), "rows": 3, "encoding": encoding}
    data = target.read_bytes()
    assert data.startswith(codecs.BOM_UTF8) == (encoding == "utf-8-sig")
    text = data.decode(encoding)  # strict: every byte is valid in the encoding
    rows = list(csv.DictReader(io.StringIO(text, newline="")))
    assert [r["operation"] for r in rows] == ["create", "open-write", "rename"]
    assert rows[0]["path"] == JAPANESE and rows[0]["share"] == "営業"
    assert rows[1]["second_path"] == "caf\\xe9-\\xff.txt"
    assert rows[2]["path"] == "caf\\xe9-\\xff.txt"
    assert rows[2]["second_path"] == "new, \"quoted\"\nname"
    if encoding == "cp932":
        assert rows[1]["path"] == "smile\\U0001f600.txt"  # escaped, not dropped
    else:
        assert rows[1]["path"] == EMOJI


def test_export_filters(service: PolicyService, tmp_path: Path, clock: ManualClock) -> None:
    fill(service, 3)
    clock.advance(3600)
    names_service(service)
    target = tmp_path / "f.csv"
    since = clock.now() - 10
    result = service.admin.call("log.export", {"path": str(target), "since": since,
                                               "user": "alice"}, ROOT)
    assert result["rows"] == 2
    result = service.admin.call("log.export", {"path": str(target), "op": "open-read",
                                               "until": since}, ROOT)
    assert result["rows"] == 3


def test_query_pages_by_id(service: PolicyService) -> None:
    fill(service, 25)
    seen: list[int] = []
    after = 0
    while True:
        page = service.admin.call("log.query", {"kind": "access", "after_id": after,
                                                "limit": 10}, ROOT)
        seen += [r["id"] for r in page["rows"]]
        if page["last_id"] is None:
            break
        after = page["last_id"]
    assert seen == list(range(1, 26))
    one = service.admin.call("log.query", {"share": "docs", "user": "alice", "limit": 1,
                                           "after_id": 24}, ROOT)["rows"][0]
    assert one["path"] == "file24.txt" and one["bytes"] == 2400 and one["process"] == "cat"


async def test_back_pressure_keeps_the_bound_and_drops_nothing(
        service: PolicyService) -> None:
    audit = AuditLog(service.write_batch, service.clock, capacity=4, batch=3)
    entries = [LogEntry(operation="open-read", path=f"f{i}") for i in range(60)]
    # Without a running writer the queue fills and record_nowait says so.
    assert all(audit.record_nowait(e) for e in entries[:4])
    assert audit.record_nowait(entries[4]) is False
    assert audit.statistics().queued == 4
    async with trio.open_nursery() as nursery:
        await nursery.start(audit.run)
        for e in entries[4:]:
            await audit.record(e)  # waits whenever the writer is behind
        await audit.wait_idle()
        nursery.cancel_scope.cancel()
    stats = audit.statistics()
    assert stats.max_queued <= 4 and stats.lost == 0 and stats.written == 60
    paths = [r.path for r in service.audit_store.query("access", LogFilter(), limit=1000)]
    assert paths == [f"f{i}".encode() for i in range(60)]
    assert service.audit_store.verify("access").ok


async def test_lost_entries_are_reported_by_a_row(service: PolicyService) -> None:
    audit = AuditLog(service.write_batch, service.clock, capacity=100, batch=100)
    async with trio.open_nursery() as nursery:
        await nursery.start(audit.run)
        # SQLite cannot store this uid: the whole batch fails and is lost.
        await audit.record(LogEntry(operation="open-read", path="a", uid=2**70))
        await audit.record(LogEntry(operation="open-read", path="b", uid=2**70))
        await audit.wait_idle()
        await audit.record(LogEntry(operation="open-read", path="c"))
        await audit.wait_idle()
        nursery.cancel_scope.cancel()
    rows = service.audit_store.query("access", LogFilter(), limit=10)
    assert [(r.operation, r.path) for r in rows] == [("log-lost", None), ("open-read", b"c")]
    assert rows[0].detail is not None and rows[0].detail.startswith(
        "2 access-log entries could not be written and are lost (made between ")
    assert rows[0].bytes == 2
    assert audit.statistics().lost == 2
    report = service.audit_store.verify("access")
    assert report.ok and report.gaps == ((rows[0].id, rows[0].detail),)


async def test_one_bad_entry_loses_only_itself_and_the_loss_is_chained_in_unasked(
        service: PolicyService) -> None:
    audit = AuditLog(service.write_batch, service.clock, capacity=100, batch=100)
    async with trio.open_nursery() as nursery:
        await nursery.start(audit.run)
        await audit.record(LogEntry(operation="open-read", path="a"))
        await audit.record(LogEntry(operation="open-read", path="bad", uid=2**70))
        await audit.record(LogEntry(operation="open-read", path="b"))
        await audit.wait_idle()
        # No entry follows: the writer reports the loss by itself, soon.
        with trio.fail_after(60):
            while service.audit_store.count("access") < 3:
                await trio.sleep(0.5)
        nursery.cancel_scope.cancel()
    rows = service.audit_store.query("access", LogFilter(), limit=10)
    assert [(r.operation, r.path) for r in rows] == [
        ("open-read", b"a"), ("open-read", b"b"), ("log-lost", None)]
    assert audit.statistics().lost == 1 and audit.statistics().written == 2
    report = service.audit_store.verify("access")
    assert report.ok and [g[0] for g in report.gaps] == [rows[2].id]


async def test_cancelled_writer_writes_what_is_queued(service: PolicyService) -> None:
    async with trio.open_nursery() as nursery:
        await nursery.start(service.run)
        assert service.audit is not None
        for i in range(50):
            assert service.audit.record_nowait(LogEntry(operation="stat", path=f"p{i}"))
        nursery.cancel_scope.cancel()
    assert service.audit_store.count("access") == 50


def test_daily_export_and_prune_keep_the_chain(service: PolicyService, tmp_path: Path,
                                               clock: ManualClock) -> None:
    day = 86_400
    clock.set(1_750_032_000)  # 2025-06-16T00:00:00Z
    clock.advance(-2 * day + 3600)  # 2025-06-14 01:00
    fill(service, 5)
    clock.advance(day)  # 2025-06-15 01:00
    names_service(service)
    clock.advance(day)  # 2025-06-16 01:00
    fill(service, 2)
    folder = tmp_path / "exports"
    service.admin.call("settings.set", {"key": "log.export_dir", "value": str(folder)}, ROOT)
    service.admin.call("settings.set", {"key": "log.retention_days", "value": 1}, ROOT)
    report = run_daily(service)
    assert sorted(Path(p).name for p in report.exported) == [
        "access-2025-06-15.csv", "system-2025-06-15.csv"]
    text = (folder / "access-2025-06-15.csv").read_bytes().decode("utf-8-sig")
    assert JAPANESE in text and text.count("\n") == 1 + 3 + 1  # header, 3 rows, one newline
    # Retention 1 day: the 2025-06-14 rows went, the rest still verifies from the anchor.
    assert report.pruned["access"] == 5
    assert service.audit_store.count("access") == 5
    assert service.audit_store.verify("access").ok
    assert service.audit_store.verify("system").ok
    # Run again the same day: nothing new to export.
    assert run_daily(service).exported == []


def test_the_row_encoding_and_its_hash_never_change() -> None:
    # Golden values: every hash already stored in an access or system log depends on this
    # encoding, so a faster `canonical` must give exactly these bytes (taken at e0f3b25).
    from nasfs.policy.auditstore import canonical, genesis_hash, row_hash

    row = [7, 1700000000123456789, "alice", 2001, 4242, "smbd", "sales",
           b"/q1/\xffreport.txt", None, "delete", "OK", 4096, True, "to trash #12",
           "192.0.2.7"]
    odd = [False, -3, "caf\u00e9\udcff", b"", memoryview(b"mv"), 2.5, bytearray(b"ba"),
           2**70]
    assert canonical(odd).hex() == (
        "49000000013049000000022d335400000008636166c3a9edb3bf420000000042000000026d763f"
        "00000003322e353f0000001062797465617272617928622762612729490000001631313830353931"
        "363230373137343131333033343234")
    assert row_hash(genesis_hash("access"), row).hex() == (
        "cd02545b82574fc3242abad96e9ab7e88b734829c5c703ca974e33145f616db8")
    assert row_hash(bytes(32), odd).hex() == (
        "0f12e9d01c4e5b9ffe26a4646338760c3840be42cb5e74273e80b58e6cc1056e")
