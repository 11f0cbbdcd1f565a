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
"""

from __future__ import annotations

import os
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

import platformdirs

ENVIRONMENT_VARIABLE = "SMARTBOOK_CONFIG"

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
    "carddav": {"url": str, "user": str, "password_file": str, "ca": str, "insecure_http": bool, "cache": str},
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
class Settings:
    domain: str | None = None
    vcard: list[Path] = field(default_factory=list)
    region: str | None = None
    carddav: CardDavSettings = field(default_factory=CardDavSettings)
    account: AccountSettings = field(default_factory=AccountSettings)


def load_settings(explicit: Path | None = None, environ: Mapping[str, str] = os.environ) -> Settings:
    """The settings of the file given, else of $SMARTBOOK_CONFIG, else of the default path if it exists."""
    path = explicit or (Path(environ[ENVIRONMENT_VARIABLE]) if environ.get(ENVIRONMENT_VARIABLE) else None)
    if path is None:
        path = default_config_path()
        if not path.exists():
            return Settings()  # first run: no file is fine
    try:
        data = tomllib.loads(path.expanduser().read_text(encoding="utf-8"))
    except OSError as exc:
        raise ConfigError(f"cannot read the settings file {path}: {exc.strerror}") from None
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
        raise ConfigError(f"the settings file {path} is not valid TOML: {exc}") from None
    _check(data, path)
    return _settings(data)


def _check(data: Mapping[str, object], path: Path) -> None:
    for section, values in data.items():
        if section not in _SCHEMA or not isinstance(values, dict):
            raise ConfigError(f"{path}: unknown section [{section}] (known: {', '.join(_SCHEMA)})")
        for key, value in values.items():
            expected = _SCHEMA[section].get(key)
            if expected is None:
                raise ConfigError(f"{path}: unknown setting {section}.{key}")
            if not isinstance(value, expected):
                raise ConfigError(f"{path}: {section}.{key} has the wrong type ({type(value).__name__})")
    for entry in data.get("contacts", {}).get("vcard", []):
        if not isinstance(entry, str):
            raise ConfigError(f"{path}: contacts.vcard must be a list of paths")


def _path(value: object) -> Path | None:
    return Path(str(value)).expanduser() if value else None


def _settings(data: Mapping[str, Mapping[str, object]]) -> Settings:
    account, contacts, carddav = (data.get(name, {}) for name in ("account", "contacts", "carddav"))
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
    )
