"""The account API's options of `smartbook server run` (--http, --sms*, the codes and limits) and their [server]
settings, and the numbers it takes (valid mobile numbers of the allowed regions)."""

from __future__ import annotations

from pathlib import Path

import pytest

from smartbook_tui.cli import build_parser, main
from smartbook_tui.cli.server_run import default_db_path, default_outbox_path, run_options
from smartbook_tui.config import load_settings
from smartbook_tui.server.accounts_api.codes import CodePolicy
from smartbook_tui.server.accounts_api.options import ApiOptions
from smartbook_tui.server.accounts_api.phones import InvalidPhone, PhonePolicy

SETTINGS = """\
[server]
http = "0.0.0.0:8080"
region = "be"
sms_countries = "FR,BE"
sms = "http"
sms_url = "https://sms.example.org/send"
sms_header = ["Authorization: Bearer abc", "X-Tag: smartbook"]
sms_body = '{"n": "$to", "m": "$text"}'
code_lifetime = 300
code_tries = 5
sms_per_number = 2
code_events = 4
api_rate = 60
api_global_rate = 0
http_proxies = "10.0.0.5, 10.1.0.0/16"
"""


def api_of(*argv: str, config: Path | None = None) -> ApiOptions | None:
    args = build_parser().parse_args([*(["--config", str(config)] if config else []), "server", "run", *argv])
    return run_options(args, load_settings(args.config)).api


@pytest.fixture(autouse=True)
def home(tmp_path, monkeypatch):
    monkeypatch.setenv("HOME", str(tmp_path))
    monkeypatch.delenv("SMARTBOOK_CONFIG", raising=False)


def test_no_api_without_http():
    assert api_of() is None


def test_the_defaults_are_the_contracts():
    assert api_of("--http", "127.0.0.1:8080") == ApiOptions(
        host="127.0.0.1", port=8080, sms_outbox=default_outbox_path()
    )
    assert default_outbox_path().parent == default_db_path().parent  # codes are never sent nowhere
    assert CodePolicy() == CodePolicy(lifetime=600, tries=3, sms_per_number=3, events_per_account=5)
    assert (ApiOptions("", 0).api_rate, ApiOptions("", 0).api_global_rate, ApiOptions("", 0).sms) == (
        30,
        100,
        "console",
    )


def test_every_setting_is_read_and_every_option_wins(tmp_path):
    config = tmp_path / "config.toml"
    config.write_text(SETTINGS)
    assert api_of(config=config) == ApiOptions(
        host="0.0.0.0",
        port=8080,
        codes=CodePolicy(lifetime=300, tries=5, sms_per_number=2, events_per_account=4),
        region="BE",
        sms_countries=frozenset({"FR", "BE"}),
        api_rate=60,
        api_global_rate=0,
        sms="http",
        sms_url="https://sms.example.org/send",
        sms_headers=(("Authorization", "Bearer abc"), ("X-Tag", "smartbook")),
        sms_body='{"n": "$to", "m": "$text"}',
        sms_outbox=default_outbox_path(),
        trusted_proxies=("10.0.0.5", "10.1.0.0/16"),
    )
    flags = ("--http", "127.0.0.1:9", "--sms", "console", "--sms-outbox", "~/out.jsonl", "--code-lifetime", "1.5")
    options = api_of(*flags, "--sms-countries", "de", "--region", "DE", "--code-tries", "2", config=config)
    assert options is not None
    assert (options.host, options.port, options.sms, options.sms_outbox) == (
        "127.0.0.1",
        9,
        "console",
        Path("~/out.jsonl"),
    )
    assert (options.codes.lifetime, options.codes.tries, options.sms_countries, options.region) == (
        1.5,
        2,
        frozenset({"DE"}),
        "DE",
    )


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (("--http", "nowhere"), "--http wants HOST:PORT"),
        (("--http", ":80", "--sms-countries", "FR,XX"), "unknown region XX"),
        (("--http", ":80", "--region", "ZZ"), "unknown region ZZ"),
        (("--http", ":80", "--sms-header", "no colon"), "--sms-header wants 'Name: value'"),
        (("--http", ":80", "--http-proxies", "proxy.example.org"), "'proxy.example.org' is not an IP address"),
    ],
)
def test_wrong_options_are_one_line_and_exit_2(argv, message, capsys):
    assert main(["server", "run", *argv]) == 2
    error = capsys.readouterr().err
    assert message in error
    assert error.count("\n") == 1


@pytest.mark.parametrize(
    ("line", "message"),
    [
        ('http = "8080"', "server.http wants HOST:PORT"),
        ('sms = "carrier-pigeon"', "server.sms must be one of console, http"),
        ('sms_countries = "FR,QQ"', "unknown region QQ"),
        ("sms_header = [1]", "server.sms_header wants a list of 'Name: value' strings"),
        ("code_lifetime = 0", "server.code_lifetime must be a number above 0"),
        ("api_rate = -1", "server.api_rate must be a number of at least 0"),
        ('http_proxies = "10.0.0.1/16"', "'10.0.0.1/16' is not an IP address or network"),
        ('http_proxies = "*"', "'*' is not an IP address or network"),
    ],
)
def test_wrong_settings_are_one_line_and_exit_2(tmp_path, line, message, capsys):
    config = tmp_path / "config.toml"
    config.write_text(f"[server]\n{line}\n")
    assert main(["--config", str(config), "server", "run"]) == 2
    error = capsys.readouterr().err
    assert message in error
    assert error.count("\n") == 1


def test_only_valid_mobile_numbers_of_allowed_regions_are_taken():
    phones = PhonePolicy("FR", {"FR", "BE"})
    assert phones.mobile("06 12 34 56 78") == "+33612345678"
    assert phones.mobile("+32 470 12 34 56") == "+32470123456"
    for number, reason in [
        ("01 23 45 67 89", "not a mobile number"),
        ("+49 151 23456789", "numbers of DE are not taken here, only of BE, FR"),
        ("06 12", "not a valid phone number"),
        ("hello", "not a phone number"),
        ("", "give a mobile phone number"),
    ]:
        with pytest.raises(InvalidPhone, match=reason):
            phones.mobile(number)
    assert PhonePolicy("FR").mobile("+49 151 23456789") == "+4915123456789"  # no list: every region
