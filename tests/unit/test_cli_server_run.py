"""`smartbook server run`'s settings: its options, the [server] section of the settings file, the defaults;
turned into the server's RunOptions without starting a server."""

import logging
from pathlib import Path

import pytest

from smartbook_tui.cli import build_parser, main, server_run
from smartbook_tui.cli.server_run import default_db_path, log_level, run_options
from smartbook_tui.config import load_settings
from smartbook_tui.server.core import ServerConfig
from smartbook_tui.server.discovery import DiscoveryPolicy
from smartbook_tui.server.runner import RunOptions

FULL = """\
[account]
domain = "client.example"            # the client's domain: not the server's
[server]
sip = "0.0.0.0:5080"
advertise = "sip.example.org"
domain = "Example.org"
db = "~/srv/server.sqlite3"
tls_cert = "~/tls/cert.pem"
tls_key = "~/tls/key.pem"
tls_port = 5443
ready_file = "~/run/ready.json"
notify_interval = 5                  # an integer where seconds may have a fraction
notify_max_resources = 50
max_list_size = 500
min_expires = 30
rate_limit = 12.5
max_pending_per_source = 20
max_pending = 300
legacy = "never"
log_level = "DEBUG"
"""


@pytest.fixture
def home(tmp_path, monkeypatch):
    monkeypatch.setenv("HOME", str(tmp_path))
    return tmp_path


def write_config(path: Path, text: str) -> Path:
    config = path / "config.toml"
    config.write_text(text)
    return config


def options_of(*argv: str) -> tuple[RunOptions, str]:
    """What `smartbook ARGV` would serve (ARGV being `[--config FILE] server [...] run [...]`), and its log level."""
    args = build_parser().parse_args(argv)
    assert args.run is server_run.run_server
    settings = load_settings(args.config)
    return run_options(args, settings), log_level(args, settings)


def test_without_a_file_the_defaults_are_the_cores():
    options, level = options_of("server", "run")
    assert options == RunOptions(
        host="127.0.0.1",
        port=5070,
        db=default_db_path(),
        config=ServerConfig(domain="127.0.0.1", via={}),
        tls_port=5071,
    )
    assert level == "INFO"


def test_the_server_section_is_used(home):
    config = write_config(home, FULL)
    options, level = options_of("--config", str(config), "server", "run")
    assert options == RunOptions(
        host="0.0.0.0",
        port=5080,
        db=home / "srv" / "server.sqlite3",
        config=ServerConfig(
            domain="example.org",
            via={},
            notify_interval=5.0,
            notify_max_resources=50,
            max_list_size=500,
            min_expires=30,
            rate_limit=12.5,
            max_pending_per_source=20,
            max_pending=300,
            legacy="never",
        ),
        tls_cert=home / "tls" / "cert.pem",
        tls_key=home / "tls" / "key.pem",
        tls_port=5443,
        ready_file=home / "run" / "ready.json",
        advertise="sip.example.org",
    )
    assert isinstance(options.config.notify_interval, float)
    assert level == "DEBUG"


def test_the_settings_file_may_come_from_the_environment(home, monkeypatch):
    monkeypatch.setenv("SMARTBOOK_CONFIG", str(write_config(home, '[server]\nsip = ":5090"\n')))
    options, _ = options_of("server", "run")
    assert (options.host, options.port, options.tls_port) == ("127.0.0.1", 5090, 5091)


def test_options_win_over_the_file(home, tmp_path):
    config = write_config(home, FULL)
    flags = [
        "--sip",
        "127.0.0.2:6000",
        "--db",
        str(tmp_path / "flag.sqlite3"),
        "--tls-cert",
        str(tmp_path / "c.pem"),
        "--tls-key",
        str(tmp_path / "k.pem"),
        "--ready-file",
        str(tmp_path / "ready"),
        "--notify-interval",
        "0.5",
        "--notify-max-resources",
        "7",
        "--max-list-size",
        "8",
        "--min-expires",
        "9",
        "--max-pending-per-source",
        "3",
        "--max-pending",
        "4",
        "--legacy",
        "always",
        "--log-level",
        "ERROR",
        "--advertise",
        "flag.example",
    ]
    options, level = options_of("--config", str(config), "server", "--domain", "flag.example", "run", *flags)
    assert options == RunOptions(
        host="127.0.0.2",
        port=6000,
        db=tmp_path / "flag.sqlite3",
        config=ServerConfig(
            domain="flag.example",
            via={},
            notify_interval=0.5,
            notify_max_resources=7,
            max_list_size=8,
            min_expires=9,
            rate_limit=12.5,  # not given: the file's
            max_pending_per_source=3,
            max_pending=4,
            legacy="always",
        ),
        tls_cert=tmp_path / "c.pem",
        tls_key=tmp_path / "k.pem",
        tls_port=5443,  # not given: the file's
        ready_file=tmp_path / "ready",
        advertise="flag.example",
    )
    assert level == "ERROR"
    options, _ = options_of("--config", str(config), "server", "run", "--domain", "after.example")
    assert options.config.domain == "after.example"


def test_zero_options_win_too(home):
    config = write_config(home, FULL)
    options, _ = options_of("--config", str(config), "server", "run", "--rate-limit", "0", "--tls-port", "0")
    assert (options.config.rate_limit, options.tls_port) == (0.0, 0)
    options, _ = options_of("--config", str(config), "server", "run", "--notify-interval", "0")
    assert options.config.notify_interval == 0.0
    assert options_of("server", "run", "--sip", "127.0.0.1:0")[0].tls_port == 0  # both ports chosen by the system


def test_http_tls_serves_the_api_with_the_servers_certificate_and_the_option_wins(home):
    https = '[server]\nhttp = "127.0.0.1:8443"\nhttp_tls = true\ntls_cert = "~/cert.pem"\ntls_key = "~/key.pem"\n'
    config = write_config(home, https)
    api = options_of("--config", str(config), "server", "run")[0].api
    assert api is not None
    assert (api.https, api.tls_cert, api.tls_key) == (True, home / "cert.pem", home / "key.pem")
    plain = options_of("--config", str(config), "server", "run", "--no-http-tls")[0].api
    assert plain is not None
    assert (plain.https, plain.tls_cert, plain.tls_key) == (False, None, None)
    flagged = options_of("server", "run", "--http", "[::1]:8443", "--http-tls", "--tls-cert", "c.pem")[0].api
    assert flagged is not None
    assert (flagged.https, flagged.tls_cert, flagged.tls_key) == (True, Path("c.pem"), None)  # start says the key
    default = options_of("server", "run", "--http", "127.0.0.1:8080")[0].api
    assert default is not None
    assert default.https is False


def test_discovery_settings_and_options_the_option_winning(home):
    assert options_of("server", "run")[0].config.discoverable == "everyone"
    text = (
        "[server]\ndiscoverable = 'contacts'\ndiscovery_quota = 500\ndiscovery_window = 12\ndiscovery_memory = 30\n"
        "discovery_per_address = 2000\ndiscovery_overall = 9000\n"
    )
    config = write_config(home, text)
    from_file = options_of("--config", str(config), "server", "run")[0].config
    assert from_file.discoverable == "contacts"
    assert from_file.discovery == DiscoveryPolicy(
        quota=500, window=12 * 3600, memory=30 * 86_400, per_address=2000, overall=9000
    )
    flags = ["--discoverable", "nobody", "--discovery-quota", "0", "--discovery-window", "1.5"]
    flags += ["--discovery-per-address", "0", "--discovery-overall", "5"]
    flagged = options_of("--config", str(config), "server", "run", *flags, "--discovery-memory", "7")[0].config
    assert flagged.discoverable == "nobody"
    assert flagged.discovery == DiscoveryPolicy(
        quota=0, window=5400, memory=7 * 86_400, per_address=0, overall=5
    )  # 0: no quota, no ceiling


def test_server_run_serves_what_the_file_says(home, monkeypatch):
    served: list[RunOptions] = []

    async def serve(options: RunOptions) -> None:
        served.append(options)

    levels: list[object] = []
    monkeypatch.setattr(server_run, "serve", serve)
    monkeypatch.setattr(logging, "basicConfig", lambda **kwargs: levels.append(kwargs["level"]))
    config = write_config(home, FULL)
    assert main(["--config", str(config), "server", "run", "--min-expires", "120"]) == 0
    (options,) = served
    assert (options.port, options.config.domain, options.config.min_expires) == (5080, "example.org", 120)
    assert levels == ["DEBUG"]


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("[server]\nport = 5060\n", "unknown setting server.port"),
        ("[server]\ntls-port = 5061\n", "unknown setting server.tls-port"),
        ("[server]\nmin_expires = '60'\n", "server.min_expires has the wrong type (str)"),
        ("[server]\nsip = 5060\n", "server.sip has the wrong type (int)"),
        ("[server]\nmin_expires = 0\n", "server.min_expires must be at least 1, not 0"),
        ("[server]\nmax_pending = 0\n", "server.max_pending must be at least 1, not 0"),
        ("[server]\nlegacy = 'sometimes'\n", "server.legacy must be one of auto, always, never, not 'sometimes'"),
        ("[server]\nsip = 'localhost'\n", "server.sip wants HOST:PORT, e.g. 127.0.0.1:5070, not 'localhost'"),
        ("[server]\ndomain = 'a b'\n", "server.domain 'a b' is not a SIP domain"),
        ("[server]\nhttp_tls = 'yes'\n", "server.http_tls has the wrong type (str)"),
        (
            "[server]\ndiscoverable = 'friends'\n",
            "server.discoverable must be one of everyone, contacts, nobody, not 'friends'",
        ),
        ("[server]\ndiscovery_quota = -1\n", "server.discovery_quota must be a number of at least 0, not -1"),
        ("[server]\ndiscovery_window = 0\n", "server.discovery_window must be a number above 0, not 0"),
        ("[server]\ndiscovery_memory = '90'\n", "server.discovery_memory has the wrong type (str)"),
    ],
)
def test_a_wrong_server_section_is_one_line_naming_the_file_and_key(home, monkeypatch, capsys, text, message):
    monkeypatch.setattr(server_run, "serve", pytest.fail)  # never reached
    config = write_config(home, text)
    assert main(["--config", str(config), "server", "run"]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1, err
    assert err.startswith(f"smartbook: {config}: {message}")


@pytest.mark.parametrize(
    "argv",
    [
        ["--rate-limit", "-1"],
        ["--notify-interval", "nan"],
        ["--min-expires", "0"],
        ["--max-pending-per-source", "0"],
        ["--tls-port", "65536"],
        ["--legacy", "sometimes"],
        ["--log-level", "info"],
        ["--discoverable", "friends"],
        ["--discovery-quota", "-1"],
        ["--discovery-window", "0"],
        ["--discovery-memory", "inf"],
    ],
)
def test_wrong_options_are_refused_by_the_parser(argv, capsys):
    with pytest.raises(SystemExit) as exit_:
        main(["server", "run", *argv])
    assert exit_.value.code == 2
    assert argv[0] in capsys.readouterr().err


def test_a_wrong_sip_option_is_one_line(capsys):
    assert main(["server", "run", "--sip", "localhost"]) == 2
    assert capsys.readouterr().err == "smartbook: --sip wants HOST:PORT, e.g. 127.0.0.1:5070, not 'localhost'\n"
