"""The call log: kept between runs per account, newest first, private, bounded, and never lost to a damaged file."""

from __future__ import annotations

import json
import logging
from datetime import UTC, datetime, timedelta

import pytest

from smartbook_tui.phone.states import CallDirection, CallInfo, CallState
from smartbook_tui.roster.call_log import (
    KEPT_PER_ACCOUNT,
    CallLog,
    CallOutcome,
    CallRecord,
    default_call_log_path,
    record_of,
)

ALICE = "sip:alice@example.org"
START = datetime(2026, 12, 4, 9, 30, tzinfo=UTC)


def record(minutes: int = 0, **changes: object) -> CallRecord:
    fields: dict[str, object] = {
        "direction": CallDirection.OUTGOING,
        "remote": "sip:bob@example.org",
        "display_name": "Bob",
        "started": START + timedelta(minutes=minutes),
        "outcome": CallOutcome.ANSWERED,
        "ending": "hung up",
        "talked": 61.5,
    }
    return CallRecord(**(fields | changes))  # type: ignore[arg-type]


def test_calls_are_kept_between_runs_newest_first_in_a_private_file(tmp_path):
    path = tmp_path / "data" / "calls.json"
    log = CallLog(ALICE, path)
    assert log.records == []
    missed = record(1, direction=CallDirection.INCOMING, outcome=CallOutcome.MISSED, ending="cancelled", talked=0.0)
    log.add(record(0))
    log.add(missed)
    assert CallLog(ALICE, path).records == [missed, record(0)]
    assert path.stat().st_mode & 0o777 == 0o600
    assert path.parent.stat().st_mode & 0o077 == 0


def test_each_account_has_its_own_calls_and_keeps_the_others(tmp_path):
    path = tmp_path / "calls.json"
    CallLog(ALICE, path).add(record(0))
    CallLog("sip:carol@example.org", path).add(record(5, remote="sip:dave@example.org"))
    assert CallLog(ALICE, path).records == [record(0)]
    assert [kept.remote for kept in CallLog("sip:carol@example.org", path).records] == ["sip:dave@example.org"]


def test_only_the_last_calls_are_kept(tmp_path, monkeypatch):
    assert KEPT_PER_ACCOUNT >= 100
    monkeypatch.setattr("smartbook_tui.roster.call_log.KEPT_PER_ACCOUNT", 5)  # each call is written: keep it short
    log = CallLog(ALICE, tmp_path / "calls.json")
    for minute in range(8):
        log.add(record(minute))
    assert CallLog(ALICE, log.path).records == [record(minute) for minute in (7, 6, 5, 4, 3)]


def test_a_damaged_file_is_set_aside_not_overwritten(tmp_path, caplog):
    path = tmp_path / "calls.json"
    path.write_text("{half a file")
    with caplog.at_level(logging.WARNING):
        log = CallLog(ALICE, path)
    assert log.records == []
    (aside,) = tmp_path.glob("calls.json.unreadable-*")
    assert aside.read_text() == "{half a file"
    assert "cannot be read" in caplog.text
    log.add(record(0))
    assert CallLog(ALICE, path).records == [record(0)]


def test_records_that_cannot_be_read_are_left_out_and_said(tmp_path, caplog):
    path = tmp_path / "calls.json"
    good = record(0).to_json()
    naive_time = good | {"started": "2026-12-04T09:30:00"}
    path.write_text(json.dumps({"calls": {ALICE: [good, {"direction": "sideways"}, naive_time, 7]}}))
    with caplog.at_level(logging.WARNING):
        assert CallLog(ALICE, path).records == [record(0)]
    assert "3 records" in caplog.text


def test_a_file_that_can_be_read_nor_set_aside_is_never_written(tmp_path, monkeypatch):
    path = tmp_path / "calls.json"
    path.write_text("not json")

    def refused(source: object, target: object) -> None:  # what a read-only directory does to anyone but root
        raise PermissionError(13, "Permission denied")

    monkeypatch.setattr("smartbook_tui.roster.call_log.os.replace", refused)
    log = CallLog(ALICE, path)
    with pytest.raises(OSError, match="cannot be read"):
        log.add(record(0))
    assert path.read_text() == "not json"
    assert log.records == [record(0)]  # still shown during this run


def test_the_default_file_is_in_the_user_data_directory(tmp_path, monkeypatch):
    monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path))
    assert default_call_log_path() == tmp_path / "smartbook" / "calls.json"


def ended(direction: CallDirection, code: int, reason: str, *, connected: float | None = None) -> CallInfo:
    started = START.timestamp()
    return CallInfo(
        7,
        direction,
        "sip:bob@example.org",
        "",
        CallState.ENDED,
        started,
        connected,
        started + 90,
        end_reason=reason,
        end_code=code,
    )


def test_an_ended_call_is_logged_as_answered_missed_declined_or_failed():
    talked = record_of(ended(CallDirection.INCOMING, 200, "hung up by them", connected=START.timestamp() + 30))
    assert (talked.outcome, talked.talked, talked.started, talked.display_name) == (
        CallOutcome.ANSWERED,
        60.0,
        START,
        None,
    )
    assert record_of(ended(CallDirection.INCOMING, 487, "cancelled")).outcome is CallOutcome.MISSED
    assert record_of(ended(CallDirection.INCOMING, 408, "no answer")).outcome is CallOutcome.MISSED
    assert record_of(ended(CallDirection.INCOMING, 603, "declined")).outcome is CallOutcome.DECLINED
    assert record_of(ended(CallDirection.INCOMING, 486, "busy")).outcome is CallOutcome.DECLINED
    busy = record_of(ended(CallDirection.OUTGOING, 486, "busy"))
    assert (busy.outcome, busy.ending, busy.talked) == (CallOutcome.FAILED, "busy", 0.0)
