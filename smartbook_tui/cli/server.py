"""`smartbook server`: the presence server (`run`), its accounts (`account add|list|set|remove`), the lists
stored on it (`list set|show|remove`) and the accounts that checked the most numbers lately (`discovery top`).

`--db` and `--domain` may be given after `server` or after the action, or be set in the [server] section of the
settings file (`db` and `domain`; [account] `domain` is the client's); the option wins.

Passwords never come from the command line (other users can read it): a file, standard input, or a prompt that does
not echo when standard input is a terminal. They are never printed, and never in an error message.
"""

from __future__ import annotations

import argparse
import getpass
import json
import re
import sys
import time
from collections.abc import Callable
from datetime import datetime
from pathlib import Path

from smartbook_tui.config import ConfigError, load_settings
from smartbook_tui.contacts import number_resource_uri, to_e164
from smartbook_tui.password_file import PasswordFileError, read_password_file
from smartbook_tui.server.discovery import DISCOVERABLE, Discoverable
from smartbook_tui.server.store import Account, ResourceList, Store, StoreError, database_location, is_e164
from smartbook_tui.sip.uri import SipParseError, parse_sip_uri

from .messages import fail
from .server_run import DEFAULT_DOMAIN, add_run_parser, default_db_path, positive_float, positive_int, store_location

_PUBLIC_HELP = "show the account's live status to every watcher, not only to the accounts it watches back"
_DEFAULT = "default"  # --discoverable: the server's own setting (server run --discoverable)
# what `account set --discoverable` says the account now has
_DISCOVERY_SAID: dict[Discoverable | None, str] = {
    "everyone": "discovery by number for everyone",
    "contacts": "discovery by number for its contacts only",
    "nobody": "no discovery by number",
    None: "the server's default discovery by number",
}
_COMMENT = re.compile(r"(?:^|\s)#.*")  # a "#" starting a line or after a space; URIs hold no spaces

Action = Callable[[Store, str, argparse.Namespace], int]


class _Refused(Exception):
    """Input the command cannot use; the message is one line for a person."""


def add_arguments(server: argparse.ArgumentParser) -> None:
    server.description = (
        "Run smartbook's presence server, or manage its accounts and the resource lists stored on it, and see "
        "who checks the most phone numbers, in its database."
    )
    _add_store_options(server, suppress=False)
    server.set_defaults(run=run)
    parts = server.add_subparsers(dest="server_command", required=True, metavar="COMMAND")
    add_run_parser(parts, lambda parser: _add_store_options(parser, suppress=True))

    account = _subparser(parts, "account", "add, list, change or remove accounts")
    actions = account.add_subparsers(dest="account_command", required=True, metavar="ACTION")
    add = _subparser(actions, "add", "create an account (the password from a file or standard input)")
    add.add_argument("user", metavar="USER", help="the username (the account is USER@DOMAIN)")
    add.add_argument("--phone", metavar="+E164", help="the account's verified phone number, e.g. +33612345678")
    source = add.add_mutually_exclusive_group(required=True)
    source.add_argument("--password-file", type=Path, metavar="FILE", help="a file holding the password alone")
    source.add_argument(
        "--password-stdin",
        action="store_true",
        help="read the password from standard input (asked for twice, without echo, on a terminal)",
    )
    add.add_argument("--public-presence", action="store_true", help=_PUBLIC_HELP)
    add.set_defaults(server_action=_account_add)
    listing = _subparser(actions, "list", "print the accounts of DOMAIN")
    listing.add_argument("--json", action="store_true", help="one JSON object a line")
    listing.set_defaults(server_action=_account_list)
    change = _subparser(actions, "set", "change an account's phone number or who sees its presence")
    change.add_argument("user", metavar="USER")
    phone = change.add_mutually_exclusive_group()
    phone.add_argument("--phone", metavar="+E164", help="make this the account's verified phone number")
    phone.add_argument("--no-phone", action="store_true", help="unlink the account's phone number")
    presence = change.add_mutually_exclusive_group()
    presence.add_argument(
        "--public-presence", dest="public_presence", action="store_const", const=True, help=_PUBLIC_HELP
    )
    presence.add_argument(
        "--private-presence",
        dest="public_presence",
        action="store_const",
        const=False,
        help="show the account's live status only to the accounts it watches back, as new accounts do",
    )
    change.add_argument(
        "--discoverable",
        choices=(*DISCOVERABLE, _DEFAULT),
        help="who finds the account by its number in a list: everyone, only the accounts its own lists name "
        "(contacts), or nobody (they see a number without an account); default: the server's --discoverable",
    )
    change.set_defaults(server_action=_account_set)
    remove = _subparser(actions, "remove", "remove an account with its number and lists")
    remove.add_argument("user", metavar="USER")
    remove.set_defaults(server_action=_account_remove)

    lists = _subparser(parts, "list", "store, show or remove the resource lists of accounts")
    actions = lists.add_subparsers(dest="list_command", required=True, metavar="ACTION")
    store = _subparser(actions, "set", "store a list, replacing the one of that URI")
    store.add_argument("owner", metavar="OWNER", help="the username of the account the list belongs to")
    store.add_argument("list_uri", metavar="LIST-URI", help="the list's SIP URI, e.g. sip:friends@example.org")
    store.add_argument(
        "--entries",
        type=Path,
        required=True,
        metavar="FILE",
        help="one SIP URI a line, in order ('#' starts a comment); a line with an E.164 number stands for the "
        "number's resource, sip:+E164@DOMAIN;user=phone",
    )
    store.set_defaults(server_action=_list_set)
    show = _subparser(actions, "show", "print a list's entries, one a line (without LIST-URI: every list)")
    show.add_argument("owner", metavar="OWNER")
    show.add_argument("list_uri", metavar="LIST-URI", nargs="?")
    show.set_defaults(server_action=_list_show)
    drop = _subparser(actions, "remove", "remove a list")
    drop.add_argument("owner", metavar="OWNER")
    drop.add_argument("list_uri", metavar="LIST-URI")
    drop.set_defaults(server_action=_list_remove)
    _add_discovery_parser(parts)


def _add_discovery_parser(parts: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    discovery = _subparser(parts, "discovery", "see which accounts check the most phone numbers")
    actions = discovery.add_subparsers(dest="discovery_command", required=True, metavar="ACTION")
    top = _subparser(
        actions,
        "top",
        "print the accounts whose lists checked the most new numbers lately, a harvester first: the new numbers "
        "charged in the quota's window, those of its last list withheld, and when it last checked (local time)",
    )
    top.add_argument(
        "--since",
        type=positive_float,
        default=24.0,
        metavar="HOURS",
        help="only the accounts that checked a list in the last HOURS (default 24)",
    )
    top.add_argument("--limit", type=positive_int, default=20, metavar="N", help="at most N accounts (default 20)")
    top.set_defaults(server_action=_discovery_top)


def _subparser(
    actions: argparse._SubParsersAction[argparse.ArgumentParser], name: str, summary: str
) -> argparse.ArgumentParser:
    parser = actions.add_parser(name, help=summary, description=summary[0].upper() + summary[1:] + ".")
    _add_store_options(parser, suppress=True)
    return parser


def _add_store_options(parser: argparse.ArgumentParser, *, suppress: bool) -> None:
    """The options of every server command; on the subcommands they default to nothing, so that a value given
    after `server` is kept when the subcommand does not repeat it."""
    parser.add_argument(
        "--db",
        type=database_location,
        metavar="PATH|URL",
        default=argparse.SUPPRESS if suppress else None,
        help="the server's database: a SQLite file, or a PostgreSQL database as postgresql://USER[:PASSWORD]@HOST"
        f"[:PORT]/NAME (default: [server] db in the settings file, else {default_db_path()})",
    )
    parser.add_argument(
        "--domain",
        default=argparse.SUPPRESS if suppress else None,
        help="the SIP domain of the accounts, also their digest realm (default: [server] domain in the settings "
        f"file, else {DEFAULT_DOMAIN})",
    )


def run(args: argparse.Namespace) -> int:
    action: Action = args.server_action
    try:
        domain, db = store_location(args, load_settings(args.config))
        with Store.open(db) as store:
            return action(store, domain, args)
    except (ConfigError, StoreError, _Refused) as exc:
        return fail(str(exc))


# ------------------------------------------------------------------------------------------------ accounts


def _account_add(store: Store, domain: str, args: argparse.Namespace) -> int:
    user = _username(args.user, domain)
    phone = _phone(args.phone) if args.phone is not None else None
    password = _read_password(args, f"{user}@{domain}")
    account = store.add_account(user, domain, password, phone, public_presence=args.public_presence)
    having = ([f"the number {account.phone}"] if account.phone else []) + (
        ["public presence"] if account.public_presence else []
    )
    print(f"added {account.name}" + (f" with {' and '.join(having)}" if having else ""))
    return 0


def _account_set(store: Store, domain: str, args: argparse.Namespace) -> int:
    user = _username(args.user, domain)
    if args.phone is None and not args.no_phone and args.public_presence is None and args.discoverable is None:
        raise _Refused(
            f"nothing to change: give --phone +E164, --no-phone, --public-presence, --private-presence or "
            f"--discoverable after {user}"
        )
    account: Account | None = None
    having: list[str] = []
    if args.phone is not None or args.no_phone:
        account = store.set_phone(user, domain, _phone(args.phone) if args.phone is not None else None)
        having.append(f"the number {account.phone}" if account.phone else "no number")
    if args.public_presence is not None:
        account = store.set_public_presence(user, domain, args.public_presence)
        having.append("public presence" if account.public_presence else "private presence")
    if args.discoverable is not None:
        discoverable = None if args.discoverable == _DEFAULT else args.discoverable
        account = store.set_discoverable(user, domain, discoverable)
        having.append(_DISCOVERY_SAID[account.discoverable])
    assert account is not None  # one of the changes was asked for
    print(f"{account.name} now has {' and '.join(having)}")
    return 0


def _phone(text: str) -> str:
    """The --phone value in E.164; international form only, no region is guessed."""
    phone = to_e164(text, None)
    if phone is None:
        raise _Refused(
            f"--phone {text[:40]!r} is not a phone number in international form: write it as "
            "+<country code><number>, e.g. +33612345678"
        )
    return phone


def _account_list(store: Store, domain: str, args: argparse.Namespace) -> int:
    for account in store.accounts(domain):
        if args.json:
            print(json.dumps(_account_json(account), ensure_ascii=False))
        else:
            state = "activated" if account.activated else "not activated"
            presence = "public" if account.public_presence else "private"
            discoverable = account.discoverable or _DEFAULT
            created = account.created.strftime("%Y-%m-%d %H:%M:%SZ")
            print(
                f"{account.name:<32} {account.phone or '-':<16} {state:<13} {presence:<7} {discoverable:<8} {created}"
            )
    return 0


def _account_json(account: Account) -> dict[str, object]:
    return {
        "username": account.username,
        "domain": account.domain,
        "address": account.address,
        "phone": account.phone,
        "activated": account.activated,
        "public_presence": account.public_presence,
        "discoverable": account.discoverable,  # null: the server's --discoverable
        "created": account.created.isoformat(),
    }


def _account_remove(store: Store, domain: str, args: argparse.Namespace) -> int:
    user = _username(args.user, domain)
    store.remove_account(user, domain)
    print(f"removed {user}@{domain}")
    return 0


def _username(user: str, domain: str) -> str:
    if "@" in user:
        raise _Refused(f"give the username alone ({user.partition('@')[0]}), and the domain with --domain {domain}")
    return user


def _read_password(args: argparse.Namespace, account: str) -> str:
    """The password from --password-file, or standard input: its one line, without the line break."""
    if args.password_file is not None:
        source = f"the password file {args.password_file.expanduser()}"
        try:
            text = read_password_file(args.password_file)
        except PasswordFileError as exc:
            raise _Refused(str(exc)) from None
    elif sys.stdin is not None and sys.stdin.isatty():
        source = "the password typed"
        text = getpass.getpass(f"Password for {account}: ")
        if getpass.getpass("The same password again: ") != text:
            raise _Refused("the two passwords typed differ: nothing was changed")
    else:
        source = "standard input"
        try:
            text = sys.stdin.read() if sys.stdin is not None else ""
        except UnicodeDecodeError:
            raise _Refused(f"{source} is not UTF-8 text") from None
    password = text.strip("\r\n")  # as read_password_file reads a file
    if not password:
        raise _Refused(f"{source} holds no password")
    if "\n" in password or "\r" in password:
        raise _Refused(f"{source} holds more than one line: put the password alone on one line")
    return password


# ------------------------------------------------------------------------------------------------ lists


def _list_set(store: Store, domain: str, args: argparse.Namespace) -> int:
    owner = _username(args.owner, domain)
    entries = _read_entries(args.entries.expanduser(), domain)
    stored = store.set_list(owner, domain, args.list_uri, entries)
    print(f"stored {stored.uri} of {owner}@{domain}: {_entries_count(stored)}")
    return 0


def _read_entries(path: Path, domain: str) -> list[str]:
    try:
        lines = path.read_text(encoding="utf-8").splitlines()
    except OSError as exc:
        raise _Refused(f"cannot read the entries file {path}: {exc.strerror or type(exc).__name__}") from None
    except UnicodeDecodeError:
        raise _Refused(f"the entries file {path} is not UTF-8 text") from None
    entries: list[str] = []
    first_line: dict[str, int] = {}
    for number, line in enumerate(lines, 1):
        text = _COMMENT.sub("", line).strip()
        if not text:
            continue
        if is_e164(text):
            text = number_resource_uri(text, domain)
        try:
            entry = str(parse_sip_uri(text))
        except SipParseError as exc:
            raise _Refused(f"{path} line {number}: {exc}") from None
        if entry in first_line:
            raise _Refused(f"{path} line {number}: {entry} is on line {first_line[entry]} already")
        first_line[entry] = number
        entries.append(entry)
    return entries


def _list_show(store: Store, domain: str, args: argparse.Namespace) -> int:
    owner = _username(args.owner, domain)
    if args.list_uri is None:
        for stored in store.lists_of(owner, domain):
            print(f"{stored.uri} ({_entries_count(stored)})")
            for entry in stored.entries:
                print(f"    {entry}")
        return 0
    found = store.get_list(owner, domain, args.list_uri)
    if found is None:
        raise _Refused(f"{owner}@{domain} has no list {args.list_uri}: see smartbook server list show {owner}")
    for entry in found.entries:  # as `list set --entries` reads them back
        print(entry)
    return 0


def _list_remove(store: Store, domain: str, args: argparse.Namespace) -> int:
    owner = _username(args.owner, domain)
    store.remove_list(owner, domain, args.list_uri)
    print(f"removed {args.list_uri} of {owner}@{domain}")
    return 0


def _entries_count(stored: ResourceList) -> str:
    return f"{len(stored.entries)} entr{'y' if len(stored.entries) == 1 else 'ies'}"


# ------------------------------------------------------------------------------------------------ discovery


def _discovery_top(store: Store, domain: str, args: argparse.Namespace) -> int:
    probes = store.discovery_top(domain, time.time() - args.since * 3600, args.limit)
    if not probes:
        print(f"no account checked any numbers in the last {args.since:g} hours")
        return 0
    width = max(32, *(len(probe.account) for probe in probes))
    print(f"{'ACCOUNT':<{width}} {'NEW NUMBERS':>11} {'WITHHELD':>8}  LAST CHECKED")
    for probe in probes:
        checked = datetime.fromtimestamp(probe.updated_at).strftime("%Y-%m-%d %H:%M:%S")
        print(f"{probe.account:<{width}} {probe.charged:>11} {probe.withheld:>8}  {checked}")
    return 0
