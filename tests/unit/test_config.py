import json
import re
from pathlib import Path

import pytest

from smartbook_tui import config as config_module
from smartbook_tui.cli import build_parser, main
from smartbook_tui.cli.server_run import store_location
from smartbook_tui.config import (
    AccountSettings,
    AppSettings,
    ConfigError,
    ServerSettings,
    Settings,
    default_config_path,
    load_settings,
    save_account,
)
from smartbook_tui.password_file import PasswordFileError, read_password_file, write_password_file
from smartbook_tui.server.store import PostgresUrl

CARD = "BEGIN:VCARD\r\nVERSION:3.0\r\nFN:Anne\r\nTEL:06 12 34 56 78\r\nEND:VCARD\r\n"


def test_first_run_without_a_file_is_fine():
    assert not default_config_path().exists()
    assert load_settings() == Settings()


def test_values_and_paths(tmp_path, monkeypatch):
    config = tmp_path / "config.toml"
    config.write_text(
        '[account]\ndomain = "example.org"\n[contacts]\nvcard = ["~/book.vcf"]\nregion = "FR"\n'
        '[carddav]\nurl = "https://dav.example.org/"\npassword_file = "~/pw"\ninsecure_http = true\n'
    )
    monkeypatch.setenv("HOME", str(tmp_path))
    settings = load_settings(config)
    assert settings.domain == "example.org"
    assert settings.vcard == [tmp_path / "book.vcf"]
    assert settings.region == "FR"
    assert settings.carddav.url == "https://dav.example.org/"
    assert settings.carddav.password_file == tmp_path / "pw"
    assert settings.carddav.insecure_http is True
    monkeypatch.setenv("SMARTBOOK_CONFIG", str(config))
    assert load_settings() == settings


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("[contact]\nregion = 'FR'\n", "unknown section [contact]"),
        ("[contacts]\nregoin = 'FR'\n", "unknown setting contacts.regoin"),
        ("[contacts]\nvcard = 'book.vcf'\n", "contacts.vcard has the wrong type"),
        ("[contacts]\nvcard = [1]\n", "contacts.vcard must be a list of paths"),
        ("[contacts\n", "is not valid TOML"),
        ("[server]\nport = 5060\n", "unknown setting server.port"),
        ("[server]\ntls_port = '5061'\n", "server.tls_port has the wrong type (str)"),
        ("[server]\ntls_port = 5061.0\n", "server.tls_port has the wrong type (float)"),
        ("[server]\nmax_list_size = true\n", "server.max_list_size has the wrong type (bool)"),
        ("[server]\nrate_limit = true\n", "server.rate_limit has the wrong type (bool)"),
        ("[server]\nnotify_interval = '2'\n", "server.notify_interval has the wrong type (str)"),
        ("[server]\ndb = 1\n", "server.db has the wrong type (int)"),
        ("[server]\nnotify_max_resources = 0\n", "server.notify_max_resources must be at least 1, not 0"),
        ("[server]\nmax_list_size = -5\n", "server.max_list_size must be at least 1, not -5"),
        ("[server]\nmin_expires = 0\n", "server.min_expires must be at least 1, not 0"),
        ("[server]\nnotify_interval = -1\n", "server.notify_interval must be a number of at least 0, not -1"),
        ("[server]\nrate_limit = nan\n", "server.rate_limit must be a number of at least 0, not nan"),
        ("[server]\nrate_limit = inf\n", "server.rate_limit must be a number of at least 0, not inf"),
        ("[server]\ntls_port = 65536\n", "server.tls_port must be a port, 0 to 65535, not 65536"),
        ("[server]\nsip = '127.0.0.1'\n", "server.sip wants HOST:PORT, e.g. 127.0.0.1:5070, not '127.0.0.1'"),
        ("[server]\nsip = 'host:99999'\n", "server.sip wants HOST:PORT, e.g. 127.0.0.1:5070, not 'host:99999'"),
        ("[server]\ndomain = 'example.org:5060'\n", "server.domain 'example.org:5060' is not a SIP domain"),
        ("[server]\nlegacy = 'Auto'\n", "server.legacy must be one of auto, always, never, not 'Auto'"),
        ("[server]\nlog_level = 'VERBOSE'\n", "server.log_level must be one of DEBUG, INFO, WARNING, ERROR"),
        ("[server]\ndiscoverable = 'Everyone'\n", "server.discoverable must be one of everyone, contacts, nobody"),
        ("[server]\ndiscovery_quota = 1.5\n", "server.discovery_quota has the wrong type (float)"),
        ("[server]\ndiscovery_memory = -1\n", "server.discovery_memory must be a number above 0, not -1"),
    ],
)
def test_mistakes_are_named(tmp_path, text, message):
    config = tmp_path / "config.toml"
    config.write_text(text)
    with pytest.raises(ConfigError, match=re.escape(message)):
        load_settings(config)


def test_server_values_and_paths(tmp_path, monkeypatch):
    config = tmp_path / "config.toml"
    config.write_text(
        '[account]\ndomain = "client.example"\n'
        '[server]\nsip = "[::1]:5060"\ndomain = "example.org"\ndb = "~/server.sqlite3"\ntls_cert = "~/cert.pem"\n'
        'tls_key = "key.pem"\ntls_port = 0\nready_file = "~/ready.json"\nnotify_interval = 1\n'
        "notify_max_resources = 10\nmax_list_size = 100\nmin_expires = 1\nrate_limit = 0\n"
        'legacy = "always"\nlog_level = "WARNING"\ndiscoverable = "nobody"\ndiscovery_quota = 0\n'
        "discovery_window = 48\ndiscovery_memory = 0.5\n"
    )
    monkeypatch.setenv("HOME", str(tmp_path))
    settings = load_settings(config)
    assert settings.domain == "client.example"  # [account] domain stays the client's
    assert settings.server == ServerSettings(
        sip="[::1]:5060",
        domain="example.org",
        db="~/server.sqlite3",  # as written: `store_location` reads it (a path or a postgresql:// URL)
        tls_cert=tmp_path / "cert.pem",
        tls_key=Path("key.pem"),
        tls_port=0,
        ready_file=tmp_path / "ready.json",
        notify_interval=1.0,
        notify_max_resources=10,
        max_list_size=100,
        min_expires=1,
        rate_limit=0.0,
        legacy="always",
        log_level="WARNING",
        discoverable="nobody",
        discovery_quota=0,
        discovery_window=48.0,
        discovery_memory=0.5,
    )
    assert type(settings.server.notify_interval) is float  # a TOML integer where a number is expected
    assert type(settings.server.rate_limit) is float
    assert type(settings.server.discovery_window) is float
    assert load_settings(_written(tmp_path, "[server]\n")).server == ServerSettings()


def test_the_example_in_the_docstring_is_a_valid_file(tmp_path, monkeypatch):
    example = config_module.__doc__.split("\n\n", 1)[1]
    monkeypatch.setenv("HOME", str(tmp_path))
    settings = load_settings(_written(tmp_path, example))
    assert settings.account.sip_uri == "sip:alice@example.org"
    assert settings.server.sip == "0.0.0.0:5060"
    assert store_location(build_parser().parse_args(["server", "run"]), settings)[1] == (
        tmp_path / ".local" / "share" / "smartbook" / "server.sqlite3"
    )
    assert settings.server.log_level == "INFO"


def test_the_server_database_may_be_a_postgresql_url_in_the_settings_file(tmp_path):
    settings = load_settings(_written(tmp_path, '[server]\ndb = "postgresql://smartbook:secret@db.example.org/sb"\n'))
    _, database = store_location(build_parser().parse_args(["server", "account", "list"]), settings)
    assert isinstance(database, PostgresUrl)
    assert "secret" not in str(database)


def _written(directory: Path, text: str) -> Path:
    path = directory / "written.toml"
    path.write_text(text)
    return path


def test_the_command_uses_the_file_and_flags_win(tmp_path, capsys):
    book = tmp_path / "book.vcf"
    book.write_text(CARD)
    config = tmp_path / "config.toml"
    config.write_text(f'[account]\ndomain = "example.org"\n[contacts]\nvcard = ["{book}"]\nregion = "FR"\n')
    assert main(["--config", str(config), "contacts", "--json"]) == 0
    anne = json.loads(capsys.readouterr().out.splitlines()[0])
    assert anne["numbers"][0]["resource"] == "sip:+33612345678@example.org;user=phone"
    assert main(["--config", str(config), "contacts", "--json", "--domain", "other.example"]) == 0
    anne = json.loads(capsys.readouterr().out.splitlines()[0])
    assert anne["numbers"][0]["resource"] == "sip:+33612345678@other.example;user=phone"


def test_a_broken_file_is_one_line_and_exit_2(tmp_path, capsys):
    config = tmp_path / "config.toml"
    config.write_text("[contacts]\nregoin = 'FR'\n")
    assert main(["--config", str(config), "contacts", "--vcard", str(tmp_path)]) == 2
    assert capsys.readouterr().err == f"smartbook: {config}: unknown setting contacts.regoin\n"
    assert main(["--config", str(Path(tmp_path, "missing.toml")), "contacts"]) == 2
    assert "cannot read the settings file" in capsys.readouterr().err


def test_a_wrong_server_value_is_one_line_and_exit_2_for_any_command(tmp_path, capsys):
    config = tmp_path / "config.toml"
    config.write_text("[server]\nlegacy = 'sometimes'\n")
    assert main(["--config", str(config), "contacts", "--vcard", str(tmp_path)]) == 2
    assert capsys.readouterr().err == (
        f"smartbook: {config}: server.legacy must be one of auto, always, never, not 'sometimes'\n"
    )


ALICE = AccountSettings(
    sip_uri="sip:alice@example.org",
    username="alice",
    password_file=Path("/home/alice/.config/smartbook/password"),
    proxy="sip.example.org:5061",
    transport="tls",
)


def test_save_account_creates_the_file_and_reads_back(tmp_path):
    config = tmp_path / "new" / "config.toml"
    save_account(config, ALICE)
    assert load_settings(config).account == ALICE
    assert config.read_text().startswith('[account]\nsip_uri = "sip:alice@example.org"\n')
    assert config.stat().st_mode & 0o777 == 0o600


def test_save_account_keeps_the_rest_of_the_file_as_written(tmp_path):
    config = tmp_path / "config.toml"
    config.write_text(
        "# my settings\n"
        '[contacts]\nvcard = ["~/Contacts"]  # the family\nregion = "FR"\n\n'
        '[account]\nsip_uri = "sip:old@example.org"\nlist_uri = "sip:buddies@example.org"\ndomain = "example.org"\n'
        "\n# the app\n[app]\nusers_only = true\n"
    )
    config.chmod(0o640)
    save_account(config, ALICE)
    text = config.read_text()
    assert text.startswith('# my settings\n[contacts]\nvcard = ["~/Contacts"]  # the family\n')
    assert text.endswith("\n# the app\n[app]\nusers_only = true\n")
    settings = load_settings(config)
    assert settings.account == ALICE  # the old list_uri went with the old account
    assert settings.domain == "example.org"  # not part of an account: kept
    assert settings.region == "FR"
    assert settings.app.users_only is True
    assert config.stat().st_mode & 0o777 == 0o640


def test_save_account_writes_any_text_toml_can_hold(tmp_path):
    config = tmp_path / "config.toml"
    odd = AccountSettings(sip_uri='sip:"quoted"\\back\tslash\x01@example.org', username="é ü 中")
    save_account(config, odd)
    assert load_settings(config).account == odd


def test_save_account_refuses_a_broken_file_and_leaves_it(tmp_path):
    config = tmp_path / "config.toml"
    config.write_text("[contacts\n")
    with pytest.raises(ConfigError, match="is not valid TOML"):
        save_account(config, ALICE)
    assert config.read_text() == "[contacts\n"


def test_the_password_file_is_0600_and_reads_back(tmp_path):
    path = tmp_path / "dir" / "password"
    write_password_file(path, "s3cr3t pass")
    assert path.stat().st_mode & 0o777 == 0o600
    assert read_password_file(path) == "s3cr3t pass"
    path.chmod(0o644)
    write_password_file(path, "another")
    assert path.stat().st_mode & 0o777 == 0o600
    assert read_password_file(path) == "another"
    assert [entry.name for entry in path.parent.iterdir()] == ["password"]  # no temporary file left
    with pytest.raises(PasswordFileError):
        write_password_file(path, "two\nlines")


def test_app_and_carddav_poll_settings(tmp_path):
    config = _written(
        tmp_path,
        '[app]\nusers_only = true\nshare_book = false\nnull_audio = true\naudio_device = "USB"\n'
        'log_file = "~/app.log"\ncall_log = "~/calls.json"\nservice_name = "Acme"\n[carddav]\npoll = 2\n',
    )
    settings = load_settings(config)
    home = Path("~").expanduser()
    assert settings.app == AppSettings(True, False, True, "USB", home / "app.log", home / "calls.json", "Acme")
    assert settings.carddav.poll == 2.0
    with pytest.raises(ConfigError, match=re.escape("carddav.poll must be a number of seconds above 0, not 0")):
        load_settings(_written(tmp_path, "[carddav]\npoll = 0\n"))


def test_save_account_rewrites_a_file_whose_account_is_not_a_plain_section(tmp_path):
    config = _written(tmp_path, 'account.sip_uri = "sip:old@example.org"\naccount.domain = "example.org"\n')
    save_account(config, ALICE)
    settings = load_settings(config)
    assert (settings.account, settings.domain) == (ALICE, "example.org")
