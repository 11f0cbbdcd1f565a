"""This installation's SIP instance: made once, kept across runs, a damaged file replaced, none when unwritable."""

from __future__ import annotations

import uuid

from smartbook_tui.roster.device import device_instance


def test_the_instance_is_made_once_and_kept(tmp_path):
    path = tmp_path / "data" / "device-instance"
    first = device_instance(path)
    assert first is not None
    assert first.startswith("urn:uuid:")
    uuid.UUID(first.removeprefix("urn:uuid:"))
    assert device_instance(path) == first
    assert device_instance(tmp_path / "another installation") != first


def test_a_damaged_file_is_replaced_by_a_new_instance(tmp_path):
    path = tmp_path / "device-instance"
    path.write_bytes(b"\xff\xfe not an instance")
    made = device_instance(path)
    assert made is not None
    assert made.startswith("urn:uuid:")
    assert path.read_text().strip() == made


def test_an_unwritable_place_gives_none_and_says_why(tmp_path, caplog):
    blocker = tmp_path / "a file"
    blocker.write_text("")
    assert device_instance(blocker / "device-instance") is None
    assert "cannot keep this device's instance" in caplog.text
