"""The settings file: TOML at the XDG config path (or --config / SMARTBOOK_CONFIG), every setting also a flag,
the flag winning. Unknown settings are refused by name, so a typo never goes unnoticed.

    [account]
    sip_uri = "sip:alice@example.org" # the account (its domain is where numbers become resources)
    username = "alice"                # for digest auth, when not the user part of sip_uri
    password_file = "~/.config/smartbook/password"   # or $SMARTBOOK_PASSWORD; never in this file
    proxy = "sip.example.org:5060"    # where requests go (default: the account's domain)
    transport = "tcp"                 # udp, tcp or tls
    ca = "~/ca.pem"                   # extra CAs to trust for TLS
    rls_uri = "sip:rls@example.org"   # the resource list server (default: sip:rls@<domain>)
    list_uri = "sip:buddies@example.org"  # a server-stored list, instead of sending the book
    domain = "example.org"            # only when there is no sip_uri

    [contacts]
    vcard = ["~/Contacts"]            # files or directories
    region = "FR"                     # ISO 3166 region of national numbers

    [carddav]
    url = "https://dav.example.org/"
    user = "alice"
    password_file = "~/.config/smartbook/carddav-password"
    ca = "~/ca.pem"                   # extra CAs to trust
    insecure_http = false             # plain http beyond this machine
    cache = "~/.cache/smartbook/carddav"
    poll = 5                          # seconds between two looks for changes while the app runs

    [app]                             # the app (`smartbook` with no command)
    users_only = false                # start with only the service's users shown
    share_book = false                # true: consent given to send the book's numbers to the service
    null_audio = false                # no sound card: the null audio device
    audio_device = "USB"              # the sound device for calls, by (a part of) its name; default: the system's
    call_log = "~/.local/share/smartbook/calls.json"   # the calls kept between runs
    log_file = "~/.local/state/smartbook/log/smartbook.log"
    service_name = "Linphone"         # the service's name on the badge and the toggle
    account_api = "https://sip.example.org/api"   # the server's account API, for the Assistant

    [server]                          # `smartbook server ...`: each key is the option of the same name
    sip = "0.0.0.0:5060"              # UDP and TCP address, HOST:PORT (default 127.0.0.1:5070)
    advertise = "sip.example.org"     # the host written in Via and Contact, when `sip` binds every address
    domain = "example.org"            # the accounts' SIP domain and digest realm (not [account] domain)
    db = "~/.local/share/smartbook/server.sqlite3"
    tls_cert = "/etc/smartbook/fullchain.pem"   # with tls_key: also listen on TLS
    tls_key = "/etc/smartbook/privkey.pem"
    tls_port = 5061                   # default: the SIP port + 1
    ready_file = "/run/smartbook/ready.json"    # the listening addresses, as JSON
    notify_interval = 2               # seconds between two NOTIFYs of one subscription
    notify_max_resources = 200        # resources in one NOTIFY
    max_list_size = 10000             # entries of a list
    min_expires = 60                  # seconds: shortest registration, publication or subscription
    rate_limit = 200                  # requests a second from one source (0: no limit)
    max_pending_per_source = 200      # call requests from one source waiting for their final answer
    max_pending = 10000               # call requests waiting for their final answer, from everyone
    auth_failures = 10                # failed digest tries in a row before each next one waits (0: never)
    trusted_proxies = ["10.0.0.5"]    # SIP proxies in front whose Via names the client the limits count
    legacy = "auto"                   # the NOTIFY form of liblinphone < 5.4: auto, always or never
    discoverable = "everyone"         # who finds an account by its number, unless it says: everyone, contacts, nobody
    discovery_quota = 12000           # new numbers an account's lists may check in a window (0: no quota)
    discovery_window = 24             # hours of that window
    discovery_memory = 90             # days a number named stays free to name again
    discovery_per_address = 100000    # new numbers checked from one client address in a window, all accounts (0: none)
    discovery_overall = 2000000       # new numbers checked in a window by everyone (0: no ceiling)
    max_connections_per_address = 200 # TCP and TLS connections open from one address (an IPv6 /64)
    first_message_timeout = 5         # seconds a new connection has to send one whole message
    message_timeout = 10              # seconds a message has to arrive whole once begun (TCP, TLS)
    udp_rate = 2000                   # UDP datagrams a second read from one address (0: no limit)
    stream_rate = 2000                # SIP messages a second read from one address over TCP and TLS (0: no limit)
    udp_buffer = 4194304              # bytes of UDP socket buffers asked of the kernel
    overload_lag = 0.2                # seconds of loop lag from which new requests get 503 (0: never refuse)
    cluster = "redis://10.0.0.7:6379/0"   # share the live state with the other nodes through this Redis
    node_id = "node-1"                # this node's name among them (default: host name and SIP address)
    log_level = "INFO"                # DEBUG, INFO, WARNING or ERROR
    log_format = "text"               # text, or json (one object a line)
    http = "127.0.0.1:8080"           # serve the account API (HTTP, under /api) here
    region = "FR"                     # ISO region of numbers the API is given in national form
    sms_countries = "FR,BE"           # regions whose mobile numbers the API takes (default: every region)
    sms = "console"                   # SMS gateway: console (log + outbox file) or http
    sms_outbox = "~/sms-outbox.jsonl" # console: where each SMS is appended as a JSON line (0600)
    sms_url = "https://sms.example.org/send"    # http: the provider's URL
    sms_header = ["Authorization: Bearer ..."]  # http: headers sent with each POST
    sms_body = '{"to": "$to", "text": "$text"}' # http: the JSON body; $to and $text are put in escaped
    code_lifetime = 600               # seconds an SMS code is valid
    code_tries = 3                    # wrong tries that void a code
    sms_per_number = 3                # SMS to one number in 24 hours
    code_events = 5                   # codes sent or wrong tries of one account in 30 minutes
    api_rate = 30                     # API requests a minute from one address (0: no limit)
    api_global_rate = 100             # API requests a second from everyone (0: no limit)
    http_proxies = "127.0.0.1"        # reverse proxies in front of the API whose X-Forwarded-For is believed
    http_tls = true                   # the API speaks HTTPS, with tls_cert and tls_key
"""

from __future__ import annotations

import math
import os
import tomllib
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, fields
from pathlib import Path

import platformdirs

from smartbook_tui.atomic_file import write_atomically
from smartbook_tui.server.accounts_api.options import SMS_GATEWAYS, checked_proxies
from smartbook_tui.server.client_address import trusted_addresses
from smartbook_tui.server.cluster.options import checked_cluster_url, checked_node_id
from smartbook_tui.server.discovery import DISCOVERABLE
from smartbook_tui.server.logs import LOG_FORMATS
from smartbook_tui.server.sms import parse_header
from smartbook_tui.settings_writer import replace_section

ENVIRONMENT_VARIABLE = "SMARTBOOK_CONFIG"
LEGACY_MODES = ("auto", "always", "never")
LOG_LEVELS = ("DEBUG", "INFO", "WARNING", "ERROR")
_NUMBER = (int, float)  # a TOML integer is as good as a float where a number is expected

# section -> setting -> the type its value must have
_SCHEMA: dict[str, dict[str, type | tuple[type, ...]]] = {
    "account": {
        "domain": str,
        "sip_uri": str,
        "username": str,
        "password_file": str,
        "proxy": str,
        "transport": str,
        "ca": str,
        "rls_uri": str,
        "list_uri": str,
    },
    "contacts": {"vcard": list, "region": str},
    "carddav": {
        "url": str,
        "user": str,
        "password_file": str,
        "ca": str,
        "insecure_http": bool,
        "cache": str,
        "poll": _NUMBER,
    },
    "app": {
        "users_only": bool,
        "share_book": bool,
        "null_audio": bool,
        "audio_device": str,
        "log_file": str,
        "call_log": str,
        "service_name": str,
        "account_api": str,
    },
    "server": {
        "sip": str,
        "advertise": str,
        "domain": str,
        "db": str,
        "tls_cert": str,
        "tls_key": str,
        "tls_port": int,
        "ready_file": str,
        "notify_interval": _NUMBER,
        "notify_max_resources": int,
        "max_list_size": int,
        "min_expires": int,
        "rate_limit": _NUMBER,
        "max_pending_per_source": int,
        "max_pending": int,
        "auth_failures": int,
        "trusted_proxies": list,
        "legacy": str,
        "discoverable": str,
        "discovery_quota": int,
        "discovery_window": _NUMBER,
        "discovery_memory": _NUMBER,
        "discovery_per_address": int,
        "discovery_overall": int,
        "max_connections_per_address": int,
        "first_message_timeout": _NUMBER,
        "message_timeout": _NUMBER,
        "udp_rate": _NUMBER,
        "stream_rate": _NUMBER,
        "udp_buffer": int,
        "overload_lag": _NUMBER,
        "cluster": str,
        "node_id": str,
        "log_level": str,
        "log_format": str,
        "http": str,
        "region": str,
        "sms_countries": str,
        "sms": str,
        "sms_outbox": str,
        "sms_url": str,
        "sms_header": list,
        "sms_body": str,
        "code_lifetime": _NUMBER,
        "code_tries": int,
        "sms_per_number": int,
        "code_events": int,
        "api_rate": _NUMBER,
        "api_global_rate": _NUMBER,
        "http_proxies": str,
        "http_tls": bool,
    },
}


class ConfigError(ValueError):
    """The settings file cannot be used; the message names the file and what to fix, in one line."""


def default_config_path() -> Path:
    return platformdirs.user_config_path("smartbook") / "config.toml"


@dataclass(slots=True)
class CardDavSettings:
    url: str | None = None
    user: str | None = None
    password_file: Path | None = None
    ca: Path | None = None
    insecure_http: bool = False
    cache: Path | None = None
    poll: float | None = None  # seconds between two syncs while a session runs


@dataclass(slots=True)
class AppSettings:
    """The [app] section: the app's own options; None where the file is silent."""

    users_only: bool | None = None
    share_book: bool | None = None
    null_audio: bool | None = None
    audio_device: str | None = None
    log_file: Path | None = None
    call_log: Path | None = None
    service_name: str | None = None
    account_api: str | None = None


@dataclass(slots=True)
class AccountSettings:
    sip_uri: str | None = None
    username: str | None = None
    password_file: Path | None = None
    proxy: str | None = None
    transport: str | None = None
    ca: Path | None = None
    rls_uri: str | None = None
    list_uri: str | None = None


@dataclass(slots=True)
class ServerSettings:
    """The [server] section: the options of `smartbook server` and its commands; None where the file is silent."""

    sip: str | None = None
    advertise: str | None = None
    domain: str | None = None  # the server's accounts' domain, not the client's [account] domain
    db: str | None = None  # a SQLite file's path or a postgresql:// URL, as written (`store.database_location`)
    tls_cert: Path | None = None
    tls_key: Path | None = None
    tls_port: int | None = None
    ready_file: Path | None = None
    notify_interval: float | None = None
    notify_max_resources: int | None = None
    max_list_size: int | None = None
    min_expires: int | None = None
    rate_limit: float | None = None
    max_pending_per_source: int | None = None
    max_pending: int | None = None
    auth_failures: int | None = None
    trusted_proxies: list[str] | None = None
    legacy: str | None = None
    discoverable: str | None = None
    discovery_quota: int | None = None
    discovery_window: float | None = None  # hours
    discovery_memory: float | None = None  # days
    discovery_per_address: int | None = None
    discovery_overall: int | None = None
    max_connections_per_address: int | None = None
    first_message_timeout: float | None = None
    message_timeout: float | None = None
    udp_rate: float | None = None
    stream_rate: float | None = None
    udp_buffer: int | None = None
    overload_lag: float | None = None
    cluster: str | None = None
    node_id: str | None = None
    log_level: str | None = None
    log_format: str | None = None
    http: str | None = None
    region: str | None = None
    sms_countries: str | None = None
    sms: str | None = None
    sms_outbox: Path | None = None
    sms_url: str | None = None
    sms_header: list[str] | None = None
    sms_body: str | None = None
    code_lifetime: float | None = None
    code_tries: int | None = None
    sms_per_number: int | None = None
    code_events: int | None = None
    api_rate: float | None = None
    api_global_rate: float | None = None
    http_proxies: str | None = None
    http_tls: bool | None = None


@dataclass(slots=True)
class Settings:
    domain: str | None = None
    vcard: list[Path] = field(default_factory=list)
    region: str | None = None
    carddav: CardDavSettings = field(default_factory=CardDavSettings)
    account: AccountSettings = field(default_factory=AccountSettings)
    server: ServerSettings = field(default_factory=ServerSettings)
    app: AppSettings = field(default_factory=AppSettings)


def settings_path(explicit: Path | None = None, environ: Mapping[str, str] = os.environ) -> Path:
    """The settings file: the one given, else $SMARTBOOK_CONFIG's, else the default path (which may not exist)."""
    if explicit is not None:
        return explicit.expanduser()
    if environ.get(ENVIRONMENT_VARIABLE):
        return Path(environ[ENVIRONMENT_VARIABLE]).expanduser()
    return default_config_path()


def load_settings(
    explicit: Path | None = None, environ: Mapping[str, str] = os.environ, *, missing_ok: bool = False
) -> Settings:
    """The settings of the file given, else of $SMARTBOOK_CONFIG, else of the default path if it exists.
    A file named but missing is an error (a typo), unless `missing_ok`: the app creates it at first run."""
    path = settings_path(explicit, environ)
    named = explicit is not None or bool(environ.get(ENVIRONMENT_VARIABLE))
    if (missing_ok or not named) and not path.exists():
        return Settings()  # first run: no file is fine
    data = _read(path)
    _check(data, path)
    return _settings(data)


def save_account(path: Path, account: AccountSettings) -> None:
    """Write `account` as the [account] section of the settings file `path` (created 0600 if need be, else its
    mode kept), atomically.
    The other sections, and [account] keys that are not part of an account (domain), are kept as the user wrote
    them. Raises ConfigError when the file cannot be read, is not a valid settings file, or cannot be written."""
    path = path.expanduser()
    try:
        mode = path.stat().st_mode & 0o777
    except FileNotFoundError:
        text, mode = "", 0o600  # private from the start: the file may later hold a server's secrets
    except OSError as exc:
        raise ConfigError(f"cannot read the settings file {path}: {exc.strerror}") from None
    else:
        text = _read_text(path)
    data = _parse(text, path)
    _check(data, path)
    saved: dict[str, object] = {}
    for name in _ACCOUNT_KEYS:
        value = getattr(account, name)
        if value is not None:
            saved[name] = str(value)
    kept = {key: value for key, value in data.get("account", {}).items() if key not in _ACCOUNT_KEYS}
    try:
        write_atomically(path, replace_section(text, "account", saved | kept).encode("utf-8"), mode=mode)
    except OSError as exc:
        raise ConfigError(f"cannot write the settings file {path}: {exc.strerror}") from None


def _read(path: Path) -> dict[str, object]:
    return _parse(_read_text(path), path)


def _read_text(path: Path) -> str:
    try:
        return path.read_text(encoding="utf-8")
    except OSError as exc:
        raise ConfigError(f"cannot read the settings file {path}: {exc.strerror}") from None
    except UnicodeDecodeError as exc:
        raise ConfigError(f"the settings file {path} is not valid TOML: {exc}") from None


def _parse(text: str, path: Path) -> dict[str, object]:
    try:
        return tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"the settings file {path} is not valid TOML: {exc}") from None


def _check(data: Mapping[str, object], path: Path) -> None:
    for section, values in data.items():
        if section not in _SCHEMA or not isinstance(values, dict):
            raise ConfigError(f"{path}: unknown section [{section}] (known: {', '.join(_SCHEMA)})")
        for key, value in values.items():
            expected = _SCHEMA[section].get(key)
            if expected is None:
                raise ConfigError(f"{path}: unknown setting {section}.{key}")
            if not isinstance(value, expected) or (isinstance(value, bool) and expected is not bool):
                raise ConfigError(f"{path}: {section}.{key} has the wrong type ({type(value).__name__})")
    for entry in data.get("contacts", {}).get("vcard", []):
        if not isinstance(entry, str):
            raise ConfigError(f"{path}: contacts.vcard must be a list of paths")
    for key, value in data.get("server", {}).items():
        check = _SERVER_CHECKS.get(key)
        problem = check(value) if check is not None else None
        if problem:
            raise ConfigError(f"{path}: server.{key} {problem}")
    poll = data.get("carddav", {}).get("poll")
    if poll is not None and not (math.isfinite(poll) and poll > 0):
        raise ConfigError(f"{path}: carddav.poll must be a number of seconds above 0, not {poll}")


_ACCOUNT_KEYS = tuple(entry.name for entry in fields(AccountSettings))  # in the order they are written


def split_host_port(text: str, default_host: str = "127.0.0.1") -> tuple[str, int] | None:
    """HOST:PORT (an IPv6 host in brackets; no host: `default_host`) as host and port, or None when it is not."""
    host, sep, port = text.rpartition(":")
    if not sep or not port.isdigit() or not 0 <= int(port) < 65536:
        return None
    return host.strip("[]") or default_host, int(port)


def _at_least_one(value: object) -> str | None:
    return f"must be at least 1, not {value}" if isinstance(value, int) and value < 1 else None


def _not_negative(value: object) -> str | None:
    if isinstance(value, _NUMBER) and not (math.isfinite(value) and value >= 0):
        return f"must be a number of at least 0, not {value}"
    return None


def _positive(value: object) -> str | None:
    if isinstance(value, _NUMBER) and not (math.isfinite(value) and value > 0):
        return f"must be a number above 0, not {value}"
    return None


def _region(value: object) -> str | None:
    return _regions(value) if "," not in str(value) else f"is one region, such as FR, not {str(value)[:40]!r}"


def _regions(value: object) -> str | None:
    from smartbook_tui.server.accounts_api.phones import checked_regions  # noqa: PLC0415 (phonenumbers only for [server])

    try:
        checked_regions(str(value))
    except ValueError as error:
        return str(error)
    return None


def _proxies(value: object) -> str | None:
    try:
        checked_proxies(str(value))
    except ValueError as error:
        return str(error)
    return None


def _addresses(value: object) -> str | None:
    try:
        trusted_addresses(str(entry) for entry in (value if isinstance(value, list) else ()))
    except ValueError as error:
        return f"wants a list of IP addresses: {error}"
    return None


def _redis_url(value: object) -> str | None:
    try:
        checked_cluster_url(str(value))
    except ValueError as error:
        return str(error)
    return None


def _non_empty(value: object) -> str | None:
    try:
        checked_node_id(str(value))
    except ValueError as error:
        return str(error)
    return None


def _headers(value: object) -> str | None:
    for entry in value if isinstance(value, list) else ():
        try:
            parse_header(entry if isinstance(entry, str) else "")
        except ValueError:
            return f"wants a list of 'Name: value' strings, not {str(entry)[:60]!r}"
    return None


def _port(value: object) -> str | None:
    return f"must be a port, 0 to 65535, not {value}" if isinstance(value, int) and not 0 <= value < 65536 else None


def _one_of(choices: tuple[str, ...]) -> Callable[[object], str | None]:
    def check(value: object) -> str | None:
        return None if value in choices else f"must be one of {', '.join(choices)}, not {str(value)[:40]!r}"

    return check


def _host_port(value: object) -> str | None:
    if split_host_port(str(value)) is None:
        return f"wants HOST:PORT, e.g. 127.0.0.1:5070, not {str(value)[:60]!r}"
    return None


def _domain(value: object) -> str | None:
    from smartbook_tui.server.store import StoreError, checked_domain  # noqa: PLC0415 (sqlite3 and SIP only for [server])

    try:
        checked_domain(str(value))
    except StoreError:
        return f"{str(value)[:60]!r} is not a SIP domain: give a host name or address, such as example.org"
    return None


# [server] setting -> what is wrong with its (well-typed) value, if anything; as the options of `server run` check
_SERVER_CHECKS: dict[str, Callable[[object], str | None]] = {
    "sip": _host_port,
    "domain": _domain,
    "tls_port": _port,
    "notify_interval": _not_negative,
    "notify_max_resources": _at_least_one,
    "max_list_size": _at_least_one,
    "min_expires": _at_least_one,
    "rate_limit": _not_negative,
    "max_pending_per_source": _at_least_one,
    "max_pending": _at_least_one,
    "auth_failures": _not_negative,
    "trusted_proxies": _addresses,
    "legacy": _one_of(LEGACY_MODES),
    "discoverable": _one_of(DISCOVERABLE),
    "discovery_quota": _not_negative,
    "discovery_window": _positive,
    "discovery_memory": _positive,
    "discovery_per_address": _not_negative,
    "discovery_overall": _not_negative,
    "max_connections_per_address": _at_least_one,
    "first_message_timeout": _positive,
    "message_timeout": _positive,
    "udp_rate": _not_negative,
    "stream_rate": _not_negative,
    "udp_buffer": _at_least_one,
    "overload_lag": _not_negative,
    "cluster": _redis_url,
    "node_id": _non_empty,
    "log_level": _one_of(LOG_LEVELS),
    "log_format": _one_of(LOG_FORMATS),
    "http": _host_port,
    "region": _region,
    "sms_countries": _regions,
    "sms": _one_of(SMS_GATEWAYS),
    "sms_header": _headers,
    "code_lifetime": _positive,
    "code_tries": _at_least_one,
    "sms_per_number": _at_least_one,
    "code_events": _at_least_one,
    "api_rate": _not_negative,
    "api_global_rate": _not_negative,
    "http_proxies": _proxies,
}


def _path(value: object) -> Path | None:
    return Path(str(value)).expanduser() if value else None


def _float(value: object) -> float | None:
    return float(value) if isinstance(value, _NUMBER) else None


def _settings(data: Mapping[str, Mapping[str, object]]) -> Settings:
    account, contacts, carddav, server, app = (
        data.get(name, {}) for name in ("account", "contacts", "carddav", "server", "app")
    )
    return Settings(
        domain=account.get("domain"),  # type: ignore[arg-type]
        vcard=[Path(entry).expanduser() for entry in contacts.get("vcard", [])],  # type: ignore[union-attr]
        region=contacts.get("region"),  # type: ignore[arg-type]
        carddav=CardDavSettings(
            url=carddav.get("url"),  # type: ignore[arg-type]
            user=carddav.get("user"),  # type: ignore[arg-type]
            password_file=_path(carddav.get("password_file")),
            ca=_path(carddav.get("ca")),
            insecure_http=bool(carddav.get("insecure_http", False)),
            cache=_path(carddav.get("cache")),
            poll=_float(carddav.get("poll")),
        ),
        account=AccountSettings(
            sip_uri=account.get("sip_uri"),  # type: ignore[arg-type]
            username=account.get("username"),  # type: ignore[arg-type]
            password_file=_path(account.get("password_file")),
            proxy=account.get("proxy"),  # type: ignore[arg-type]
            transport=account.get("transport"),  # type: ignore[arg-type]
            ca=_path(account.get("ca")),
            rls_uri=account.get("rls_uri"),  # type: ignore[arg-type]
            list_uri=account.get("list_uri"),  # type: ignore[arg-type]
        ),
        server=ServerSettings(
            sip=server.get("sip"),  # type: ignore[arg-type]
            advertise=server.get("advertise"),  # type: ignore[arg-type]
            domain=server.get("domain"),  # type: ignore[arg-type]
            db=str(server["db"]) if server.get("db") else None,
            tls_cert=_path(server.get("tls_cert")),
            tls_key=_path(server.get("tls_key")),
            tls_port=server.get("tls_port"),  # type: ignore[arg-type]
            ready_file=_path(server.get("ready_file")),
            notify_interval=_float(server.get("notify_interval")),
            notify_max_resources=server.get("notify_max_resources"),  # type: ignore[arg-type]
            max_list_size=server.get("max_list_size"),  # type: ignore[arg-type]
            min_expires=server.get("min_expires"),  # type: ignore[arg-type]
            rate_limit=_float(server.get("rate_limit")),
            max_pending_per_source=server.get("max_pending_per_source"),  # type: ignore[arg-type]
            max_pending=server.get("max_pending"),  # type: ignore[arg-type]
            auth_failures=server.get("auth_failures"),  # type: ignore[arg-type]
            trusted_proxies=server.get("trusted_proxies"),  # type: ignore[arg-type]
            legacy=server.get("legacy"),  # type: ignore[arg-type]
            discoverable=server.get("discoverable"),  # type: ignore[arg-type]
            discovery_quota=server.get("discovery_quota"),  # type: ignore[arg-type]
            discovery_window=_float(server.get("discovery_window")),
            discovery_memory=_float(server.get("discovery_memory")),
            discovery_per_address=server.get("discovery_per_address"),  # type: ignore[arg-type]
            discovery_overall=server.get("discovery_overall"),  # type: ignore[arg-type]
            max_connections_per_address=server.get("max_connections_per_address"),  # type: ignore[arg-type]
            first_message_timeout=_float(server.get("first_message_timeout")),
            message_timeout=_float(server.get("message_timeout")),
            udp_rate=_float(server.get("udp_rate")),
            stream_rate=_float(server.get("stream_rate")),
            udp_buffer=server.get("udp_buffer"),  # type: ignore[arg-type]
            overload_lag=_float(server.get("overload_lag")),
            cluster=server.get("cluster"),  # type: ignore[arg-type]
            node_id=server.get("node_id"),  # type: ignore[arg-type]
            log_level=server.get("log_level"),  # type: ignore[arg-type]
            log_format=server.get("log_format"),  # type: ignore[arg-type]
            http=server.get("http"),  # type: ignore[arg-type]
            region=server.get("region"),  # type: ignore[arg-type]
            sms_countries=server.get("sms_countries"),  # type: ignore[arg-type]
            sms=server.get("sms"),  # type: ignore[arg-type]
            sms_outbox=_path(server.get("sms_outbox")),
            sms_url=server.get("sms_url"),  # type: ignore[arg-type]
            sms_header=server.get("sms_header"),  # type: ignore[arg-type]
            sms_body=server.get("sms_body"),  # type: ignore[arg-type]
            code_lifetime=_float(server.get("code_lifetime")),
            code_tries=server.get("code_tries"),  # type: ignore[arg-type]
            sms_per_number=server.get("sms_per_number"),  # type: ignore[arg-type]
            code_events=server.get("code_events"),  # type: ignore[arg-type]
            api_rate=_float(server.get("api_rate")),
            api_global_rate=_float(server.get("api_global_rate")),
            http_proxies=server.get("http_proxies"),  # type: ignore[arg-type]
            http_tls=server.get("http_tls"),  # type: ignore[arg-type]
        ),
        app=AppSettings(
            users_only=app.get("users_only"),  # type: ignore[arg-type]
            share_book=app.get("share_book"),  # type: ignore[arg-type]
            null_audio=app.get("null_audio"),  # type: ignore[arg-type]
            audio_device=app.get("audio_device"),  # type: ignore[arg-type]
            log_file=_path(app.get("log_file")),
            call_log=_path(app.get("call_log")),
            service_name=app.get("service_name"),  # type: ignore[arg-type]
            account_api=app.get("account_api"),  # type: ignore[arg-type]
        ),
    )
