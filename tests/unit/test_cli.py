import json
import subprocess
import sys

from smartbook_tui.cli import main
from tests.fixtures import WIRE, wire


def test_inspect_prints_the_list_then_one_line_per_resource(capsys):
    fixture = wire("flexisip-phone-alias-notify")
    code = main(
        [
            "inspect",
            str(WIRE / "flexisip-phone-alias-notify.deflate"),
            "--content-type",
            fixture.content_type,
            "--content-encoding",
            "deflate",
        ]
    )
    assert code == 0
    lines = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    assert lines[0] == {"list": "sip:rls@example.org", "version": 0, "full_state": True, "resources": 4}
    assert lines[1]["uri"] == "sip:+33612345678@example.org;user=phone"
    assert (lines[1]["has_account"], lines[1]["sip_address"], lines[1]["status"]) == (
        True,
        "sip:alice@example.org",
        "away",
    )
    assert lines[2]["has_account"] is False


def test_inspect_refuses_garbage_with_one_line(tmp_path, capsys):
    garbage = tmp_path / "garbage.bin"
    garbage.write_bytes(b"\x78\x9c not really deflate")
    assert (
        main(["inspect", str(garbage), "--content-type", "application/pidf+xml", "--content-encoding", "deflate"]) == 2
    )
    error = capsys.readouterr().err
    assert error.count("\n") == 1
    assert "cannot decode" in error
    assert "corrupt" in error


def test_inspect_missing_file(tmp_path, capsys):
    assert main(["inspect", str(tmp_path / "nope"), "--content-type", "application/pidf+xml"]) == 2
    assert "cannot read" in capsys.readouterr().err


def test_console_script_is_installed_and_reads_stdin():
    smartbook = [sys.executable, "-m", "smartbook_tui.cli"]
    result = subprocess.run(
        [*smartbook, "inspect", "-", "--content-type", "application/pidf+xml", "--lang", "fr"],
        input=wire("linphone-publish").body,
        capture_output=True,
        check=True,
    )
    line = json.loads(result.stdout)
    assert line["note"] == "Parti déjeuner"
    assert line["status"] == "away"
