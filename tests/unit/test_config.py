import json
import re
from pathlib import Path

import pytest

from smartbook_tui.cli import main
from smartbook_tui.config import ConfigError, Settings, default_config_path, load_settings

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
    ],
)
def test_mistakes_are_named(tmp_path, text, message):
    config = tmp_path / "config.toml"
    config.write_text(text)
    with pytest.raises(ConfigError, match=re.escape(message)):
        load_settings(config)


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
