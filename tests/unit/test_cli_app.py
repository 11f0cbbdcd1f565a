"""`smartbook` with no command: the app's options, shared with `watch`, and how they meet the settings file."""

import subprocess
import sys
import types
from pathlib import Path

import pytest

from smartbook_tui.cli import build_parser, main
from smartbook_tui.roster.session import SessionOptions


@pytest.fixture
def opened(monkeypatch):
    """Stands in for the Textual app: what `smartbook` would open it with."""
    calls: list[tuple[SessionOptions, Path]] = []
    fake = types.ModuleType("smartbook_tui.tui.app")
    fake.run_app = lambda options, config_path: calls.append((options, config_path)) or 0  # type: ignore[attr-defined]
    monkeypatch.setitem(sys.modules, "smartbook_tui.tui.app", fake)
    return calls


def test_no_command_opens_the_app_with_the_book_and_account_options(tmp_path, opened):
    book = tmp_path / "book.vcf"
    log = tmp_path / "logs" / "app.log"
    flags = ["--vcard", str(book), "--vcard", str(tmp_path), "--sip-uri", "sip:alice@example.org", "--users-only"]
    assert main([*flags, "--share-book", "--null-audio", "--log-file", str(log), "--region", "FR"]) == 0
    [(options, config_path)] = opened
    assert options.settings.vcard == [book, tmp_path]
    assert options.settings.account.sip_uri == "sip:alice@example.org"
    assert options.settings.region == "FR"
    assert (options.users_only, options.share_book, options.null_audio) == (True, True, True)
    assert options.log_file == log
    assert log.exists()  # the log goes to the file from the start
    assert options.service_name == "Linphone"
    assert config_path.name == "config.toml"


def test_the_same_options_parse_before_and_after_watch():
    parser = build_parser()
    app = parser.parse_args(["--vcard", "x", "--sip-uri", "sip:a@b"])
    assert (app.command, app.vcard, app.sip_uri) == (None, [Path("x")], "sip:a@b")
    watch = parser.parse_args(["watch", "--vcard", "x", "--sip-uri", "sip:a@b", "--once"])
    assert (watch.command, watch.vcard, watch.sip_uri, watch.once) == ("watch", [Path("x")], "sip:a@b", True)
    before = parser.parse_args(["--sip-uri", "sip:a@b", "watch", "--vcard", "x"])
    assert (before.sip_uri, before.vcard) == ("sip:a@b", [Path("x")])


def test_help_lists_the_app_options_and_the_commands(capsys):
    with pytest.raises(SystemExit):
        main(["--help"])
    out = capsys.readouterr().out
    for option in (
        "--users-only",
        "--share-book",
        "--null-audio",
        "--audio-device",
        "--log-file",
        "--call-log",
        "--vcard",
        "--carddav",
        "--sip-uri",
    ):
        assert option in out
    for command in ("watch", "contacts", "server", "inspect"):
        assert command in out


def test_the_settings_file_fills_in_and_each_flag_wins(tmp_path, opened):
    config = tmp_path / "config.toml"
    config.write_text(
        '[account]\nsip_uri = "sip:alice@example.org"\nproxy = "127.0.0.1:5070"\n'
        f'[contacts]\nvcard = ["{tmp_path / "saved.vcf"}"]\n'
        "[carddav]\npoll = 30\n"
        f'[app]\nusers_only = true\nshare_book = true\nnull_audio = true\nlog_file = "{tmp_path / "saved.log"}"\n'
        f'service_name = "Acme"\naudio_device = "USB"\ncall_log = "{tmp_path / "saved-calls.json"}"\n'
    )
    assert main(["--config", str(config)]) == 0
    saved, path = opened[-1]
    assert path == config
    assert saved.settings.vcard == [tmp_path / "saved.vcf"]
    assert (saved.users_only, saved.share_book, saved.null_audio) == (True, True, True)
    assert (saved.log_file, saved.service_name, saved.settings.carddav.poll) == (tmp_path / "saved.log", "Acme", 30)
    assert (saved.audio_device, saved.call_log) == ("USB", tmp_path / "saved-calls.json")

    flags = ["--vcard", str(tmp_path / "flag.vcf"), "--proxy", "10.0.0.1", "--no-users-only", "--no-share-book"]
    flags += ["--no-null-audio", "--log-file", str(tmp_path / "flag.log"), "--carddav-poll", "2"]
    flags += ["--audio-device", "Headset", "--call-log", str(tmp_path / "flag-calls.json")]
    assert main(["--config", str(config), *flags]) == 0
    given, _ = opened[-1]
    assert given.settings.vcard == [tmp_path / "flag.vcf"]
    assert given.settings.account.proxy == "10.0.0.1"
    assert given.settings.account.sip_uri == "sip:alice@example.org"  # not given: the file's
    assert (given.users_only, given.share_book, given.null_audio) == (False, False, False)
    assert (given.log_file, given.settings.carddav.poll) == (tmp_path / "flag.log", 2)
    assert (given.audio_device, given.call_log) == ("Headset", tmp_path / "flag-calls.json")


def test_consent_comes_from_the_flag_else_the_settings_else_the_app_asks(tmp_path, opened):
    config = tmp_path / "config.toml"
    config.write_text("[app]\nshare_book = true\n")
    log = ["--log-file", str(tmp_path / "log")]
    main([*log])
    main(["--config", str(config), *log])
    main(["--config", str(config), "--no-share-book", *log])
    assert [options.share_book for options, _ in opened] == [None, True, False]


def test_the_password_comes_from_its_file_else_the_environment(tmp_path, opened, monkeypatch):
    secret = tmp_path / "secret"
    secret.write_text("from the file\n")
    monkeypatch.setenv("SMARTBOOK_PASSWORD", "from the environment")
    main(["--sip-uri", "sip:a@b", "--log-file", str(tmp_path / "log")])
    main(["--sip-uri", "sip:a@b", "--password-file", str(secret), "--log-file", str(tmp_path / "log")])
    assert [options.password for options, _ in opened] == ["from the environment", "from the file"]


def test_bad_options_are_one_line_before_the_app_opens(tmp_path, opened, capsys):
    assert main(["--password-file", str(tmp_path / "missing")]) == 2
    assert capsys.readouterr().err.count("\n") == 1
    config = tmp_path / "config.toml"
    config.write_text("[app]\nusers_only = 'yes'\n")
    assert main(["--config", str(config)]) == 2
    assert capsys.readouterr().err == f"smartbook: {config}: app.users_only has the wrong type (str)\n"
    blocked = tmp_path / "file"
    blocked.write_text("")
    assert main(["--log-file", str(blocked / "app.log")]) == 2
    assert "cannot write the log file" in capsys.readouterr().err
    assert opened == []


def test_a_settings_file_named_but_not_there_yet_is_the_first_run(tmp_path, opened, capsys):
    config = tmp_path / "new" / "config.toml"
    assert main(["--config", str(config)]) == 0
    [(options, config_path)] = opened
    assert config_path == config  # where the account form saves the account
    assert options.settings.account.sip_uri is None
    assert main(["--config", str(config), "watch"]) == 2  # a command has nothing to ask with: a typo is an error
    assert "cannot read the settings file" in capsys.readouterr().err


def test_watch_refuses_what_cannot_work_in_one_line(tmp_path, capsys):
    assert main(["watch", "--vcard", str(tmp_path)]) == 2
    assert capsys.readouterr().err == (
        "smartbook: no account given: use --sip-uri sip:user@domain (or [account] sip_uri in the settings)\n"
    )
    assert main(["watch", "--sip-uri", "sip:alice@example.org"]) == 2
    assert "no address book given" in capsys.readouterr().err
    assert main(["watch", "--sip-uri", "sip:alice@example.org", "--proxy", "host:99999", "--vcard", "x"]) == 2
    assert "has no valid port" in capsys.readouterr().err


def test_the_other_commands_do_not_load_textual_or_pjsua2():
    code = "import sys; from smartbook_tui.cli import build_parser; build_parser(); print(sorted(sys.modules))"
    loaded = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert "'textual'" not in loaded
    assert "pjsua2" not in loaded


def test_the_password_never_shows_in_the_options(tmp_path, opened, monkeypatch):
    monkeypatch.setenv("SMARTBOOK_PASSWORD", "s3cr3t-value")
    main(["--sip-uri", "sip:a@b", "--log-file", str(tmp_path / "log")])
    [(options, _)] = opened
    assert options.password == "s3cr3t-value"
    assert "s3cr3t-value" not in repr(options)


def test_book_options_given_before_a_command_count_for_it(tmp_path, capsys):
    book = tmp_path / "book.vcf"
    book.write_text("BEGIN:VCARD\r\nVERSION:3.0\r\nFN:Anne\r\nTEL:06 12 34 56 78\r\nEND:VCARD\r\n")
    assert main(["--vcard", str(book), "--region", "FR", "contacts", "--json"]) == 0
    assert '"e164": "+33612345678"' in capsys.readouterr().out
