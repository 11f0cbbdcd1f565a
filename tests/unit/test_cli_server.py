import getpass
import hashlib
import io
import json
import sqlite3
import time
from datetime import datetime

import pytest

from smartbook_tui.cli import main
from smartbook_tui.server.store import SCHEMA_VERSION, Store
from tests.peers import postgres

PASSWORD = "correct horse battery staple"


database = postgres.database  # the fixture: the admin commands run on SQLite and on PostgreSQL


@pytest.fixture
def db(database):
    return database


@pytest.fixture
def password_file(tmp_path):
    path = tmp_path / "password"
    path.write_text(PASSWORD + "\n")
    return path


@pytest.fixture
def server(db):
    def run(*args: str) -> int:
        return main(["server", "--db", str(db), *args])

    return run


def error_line(capsys) -> str:
    err = capsys.readouterr().err
    assert err.count("\n") == 1, err
    assert err.startswith("smartbook: ")
    return err.removeprefix("smartbook: ").rstrip("\n")


def test_add_list_remove(server, db, password_file, capsys):
    assert server("account", "add", "alice", "--phone", "+33 6 12 34 56 78", "--password-file", str(password_file)) == 0
    assert server("--domain", "Example.org", "account", "add", "bob", "--password-file", str(password_file)) == 0
    out, err = capsys.readouterr()
    assert out == "added alice@127.0.0.1 with the number +33612345678\nadded bob@example.org\n"
    assert err == ""
    assert PASSWORD not in out

    assert server("account", "list") == 0
    (line,) = capsys.readouterr().out.splitlines()
    assert line.split()[:4] == ["alice@127.0.0.1", "+33612345678", "activated", "private"]

    assert server("--domain", "example.org", "account", "list", "--json") == 0
    (bob,) = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    assert {key: bob[key] for key in ("username", "domain", "address", "phone", "activated", "public_presence")} == {
        "username": "bob",
        "domain": "example.org",
        "address": "sip:bob@example.org",
        "phone": None,
        "activated": True,
        "public_presence": False,
    }

    with Store.open(db) as store:
        a1 = f"alice:127.0.0.1:{PASSWORD}".encode()
        assert store.ha1("alice", "127.0.0.1", "MD5") == hashlib.md5(a1).hexdigest()
        assert store.ha1("alice", "127.0.0.1", "SHA-256") == hashlib.sha256(a1).hexdigest()

    assert server("account", "remove", "alice") == 0
    assert capsys.readouterr().out == "removed alice@127.0.0.1\n"
    assert server("account", "list") == 0
    assert capsys.readouterr().out == ""
    assert server("account", "remove", "alice") == 2
    assert error_line(capsys) == "no account alice@127.0.0.1"


def test_options_may_follow_the_action(tmp_path, password_file, capsys):
    db = tmp_path / "elsewhere.sqlite3"
    args = ["--db", str(db), "--domain", "example.org"]
    assert main(["server", "account", "add", "alice", "--password-file", str(password_file), *args]) == 0
    assert main(["server", "--domain", "example.com", "account", "list", *args]) == 0
    assert capsys.readouterr().out.splitlines()[1].startswith("alice@example.org ")


def test_the_database_defaults_to_the_user_data_directory(tmp_path, password_file, monkeypatch, capsys):
    monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path / "data"))
    assert main(["server", "account", "add", "alice", "--password-file", str(password_file)]) == 0
    assert (tmp_path / "data" / "smartbook" / "server.sqlite3").is_file()


def test_password_from_standard_input(server, db, monkeypatch, capsys):
    monkeypatch.setattr("sys.stdin", io.StringIO("s3cret\r\n"))
    assert server("account", "add", "alice", "--password-stdin") == 0
    with Store.open(db) as store:
        assert store.ha1("alice", "127.0.0.1", "MD5") == hashlib.md5(b"alice:127.0.0.1:s3cret").hexdigest()
    assert "s3cret" not in "".join(capsys.readouterr())


class Terminal(io.StringIO):
    def isatty(self) -> bool:
        return True


def test_password_typed_on_a_terminal_is_asked_twice_without_echo(server, db, monkeypatch, capsys):
    monkeypatch.setattr("sys.stdin", Terminal())
    typed = iter(["typed", "typed", "one", "other"])
    prompts = []
    monkeypatch.setattr(getpass, "getpass", lambda prompt: prompts.append(prompt) or next(typed))
    assert server("account", "add", "alice", "--password-stdin") == 0
    assert prompts == ["Password for alice@127.0.0.1: ", "The same password again: "]
    with Store.open(db) as store:
        assert store.ha1("alice", "127.0.0.1", "MD5") == hashlib.md5(b"alice:127.0.0.1:typed").hexdigest()
    capsys.readouterr()
    assert server("account", "add", "bob", "--password-stdin") == 2
    assert error_line(capsys) == "the two passwords typed differ: nothing was changed"


def test_password_problems_are_one_line(server, tmp_path, monkeypatch, capsys):
    missing = tmp_path / "missing"
    assert server("account", "add", "alice", "--password-file", str(missing)) == 2
    assert error_line(capsys) == f"cannot read the password file {missing}: No such file or directory"
    empty = tmp_path / "empty"
    empty.write_text("\n")
    assert server("account", "add", "alice", "--password-file", str(empty)) == 2
    assert error_line(capsys) == f"the password file {empty} holds no password"
    two = tmp_path / "two"
    two.write_text("first\nsecond\n")
    assert server("account", "add", "alice", "--password-file", str(two)) == 2
    assert error_line(capsys) == f"the password file {two} holds more than one line: put the password alone on one line"
    monkeypatch.setattr("sys.stdin", io.StringIO(""))
    assert server("account", "add", "alice", "--password-stdin") == 2
    assert error_line(capsys) == "standard input holds no password"


def test_passwords_are_never_arguments(server, capsys):
    for option in ("--password", "--pass"):
        with pytest.raises(SystemExit) as exit_:
            server("account", "add", "alice", option, "hunter2")
        assert exit_.value.code == 2
    with pytest.raises(SystemExit):
        server("account", "add", "alice")  # one of --password-file and --password-stdin is required
    capsys.readouterr()


def test_wrong_accounts_are_one_line_and_exit_2(server, password_file, capsys):
    assert server("account", "add", "alice", "--password-file", str(password_file)) == 0
    capsys.readouterr()
    cases = [
        (["alice"], "the account alice@127.0.0.1 exists already"),
        (["bob@example.org"], "give the username alone (bob), and the domain with --domain 127.0.0.1"),
        (["b b"], "'b b' is not a username: 1 to 64 letters, digits or -_.!~*'()&=+$,;?/ (no '@')"),
        (
            ["bob", "--phone", "06 12 34 56 78"],
            "--phone '06 12 34 56 78' is not a phone number in international form: write it as "
            "+<country code><number>, e.g. +33612345678",
        ),
        (
            ["0612345678"],
            "the username 0612345678 looks like a phone number: only an account whose verified number it is may be "
            "named so",
        ),
        (["--domain", "a b", "bob"], "'a b' is not a SIP domain: give a host name or address, such as example.org"),
    ]
    for args, message in cases:
        assert server("account", "add", *args, "--password-file", str(password_file)) == 2
        assert error_line(capsys) == message
    assert server("account", "add", "bob", "--phone", "+33612345678", "--password-file", str(password_file)) == 0
    capsys.readouterr()
    assert server("account", "add", "carol", "--phone", "+33612345678", "--password-file", str(password_file)) == 2
    assert error_line(capsys) == "the number +33612345678 is another account's already"


def test_add_with_public_presence(server, db, password_file, capsys):
    assert server("account", "add", "alice", "--public-presence", "--password-file", str(password_file)) == 0
    args = ["--phone", "+33612345678", "--password-file", str(password_file), "--public-presence"]
    assert server("account", "add", "bob", *args) == 0
    assert server("account", "add", "carol", "--password-file", str(password_file)) == 0
    assert capsys.readouterr().out.splitlines() == [
        "added alice@127.0.0.1 with public presence",
        "added bob@127.0.0.1 with the number +33612345678 and public presence",
        "added carol@127.0.0.1",
    ]
    with Store.open(db) as store:
        assert [account.public_presence for account in store.accounts()] == [True, True, False]
        assert store.changes("127.0.0.1").usernames == {"alice", "bob", "carol"}

    assert server("account", "list") == 0
    assert [line.split()[:4] for line in capsys.readouterr().out.splitlines()] == [
        ["alice@127.0.0.1", "-", "activated", "public"],
        ["bob@127.0.0.1", "+33612345678", "activated", "public"],
        ["carol@127.0.0.1", "-", "activated", "private"],
    ]
    assert server("account", "list", "--json") == 0
    listed = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    assert [(account["username"], account["public_presence"]) for account in listed] == [
        ("alice", True),
        ("bob", True),
        ("carol", False),
    ]


def test_account_set_changes_the_number_and_the_presence(server, db, password_file, capsys):
    assert server("account", "add", "alice", "--password-file", str(password_file)) == 0
    capsys.readouterr()
    with Store.open(db) as store:
        start = store.changes("127.0.0.1").last
    steps = [
        (["--phone", "+33 6 12 34 56 78"], "alice@127.0.0.1 now has the number +33612345678", "+33612345678", False),
        (["--public-presence"], "alice@127.0.0.1 now has public presence", "+33612345678", True),
        (
            ["--phone", "+33699999999", "--private-presence"],
            "alice@127.0.0.1 now has the number +33699999999 and private presence",
            "+33699999999",
            False,
        ),
        (["--no-phone", "--public-presence"], "alice@127.0.0.1 now has no number and public presence", None, True),
        (["--public-presence"], "alice@127.0.0.1 now has public presence", None, True),  # already: no change
    ]
    for args, said, phone, public in steps:
        assert server("account", "set", "alice", *args) == 0
        assert capsys.readouterr() == (said + "\n", "")
        with Store.open(db) as store:
            alice = store.get_account("alice", "127.0.0.1")
            assert (alice.phone, alice.public_presence) == (phone, public)
    with Store.open(db) as store:
        changes = store.changes("127.0.0.1", start)
        assert changes.usernames == {"alice"}
        assert changes.numbers == {"+33612345678", "+33699999999"}

    args = ["--db", str(db), "--domain", "example.org"]  # the store options may follow the action here too
    assert main(["server", "account", "set", "alice", "--public-presence", *args]) == 2
    assert error_line(capsys) == "no account alice@example.org"


def test_account_set_says_who_finds_the_account_by_its_number(server, db, password_file, capsys):
    assert server("account", "add", "alice", "--phone", "+33612345678", "--password-file", str(password_file)) == 0
    capsys.readouterr()
    with Store.open(db) as store:
        start = store.changes("127.0.0.1").last
    steps = [
        (["--discoverable", "contacts"], "discovery by number for its contacts only", "contacts"),
        (["--discoverable", "nobody", "--public-presence"], "public presence and no discovery by number", "nobody"),
        (["--discoverable", "everyone"], "discovery by number for everyone", "everyone"),
        (["--discoverable", "default"], "the server's default discovery by number", None),
    ]
    for args, said, discoverable in steps:
        assert server("account", "set", "alice", *args) == 0
        assert capsys.readouterr() == (f"alice@127.0.0.1 now has {said}\n", "")
        with Store.open(db) as store:
            assert store.get_account("alice", "127.0.0.1").discoverable == discoverable
        assert server("account", "list", "--json") == 0
        (listed,) = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
        assert listed["discoverable"] == discoverable
    with Store.open(db) as store:
        assert store.changes("127.0.0.1", start).numbers == {"+33612345678"}  # the watchers' views are worked out again

    assert server("account", "set", "alice", "--discoverable", "contacts") == 0
    assert server("account", "add", "bob", "--password-file", str(password_file)) == 0
    capsys.readouterr()
    assert server("account", "list") == 0
    assert [line.split()[:5] for line in capsys.readouterr().out.splitlines()] == [
        ["alice@127.0.0.1", "+33612345678", "activated", "public", "contacts"],
        ["bob@127.0.0.1", "-", "activated", "private", "default"],
    ]
    with pytest.raises(SystemExit) as exit_:
        server("account", "set", "alice", "--discoverable", "friends")
    assert exit_.value.code == 2
    assert "invalid choice: 'friends'" in capsys.readouterr().err
    assert server("account", "set", "carol", "--discoverable", "nobody") == 2
    assert error_line(capsys) == "no account carol@127.0.0.1"


def test_discovery_top_shows_who_checked_the_most_numbers(server, db, password_file, capsys):
    assert server("discovery", "top") == 0
    assert capsys.readouterr() == ("no account checked any numbers in the last 24 hours\n", "")
    for user in ("alice", "bob", "carol", "dan"):
        assert server("account", "add", user, "--password-file", str(password_file)) == 0
    assert server("--domain", "example.org", "account", "add", "erin", "--password-file", str(password_file)) == 0
    capsys.readouterr()
    now = time.time()
    with Store.open(db) as store:
        for user, domain, charged, withheld, when in [
            ("alice", "127.0.0.1", 40, 0, now - 600),
            ("bob", "127.0.0.1", 12_000, 2_345, now - 60),
            ("carol", "127.0.0.1", 900, 0, now - 3 * 3600),
            ("dan", "127.0.0.1", 50_000, 0, now - 30 * 3600),  # before the last 24 hours
            ("erin", "example.org", 700, 0, now - 7200),  # another domain: not this server's
        ]:
            store.save_named_numbers(
                user, domain, b"", charged=charged, withheld=withheld, now=when, forget_before=now - 90 * 86_400
            )

    def local(seconds_ago: float) -> str:
        return datetime.fromtimestamp(now - seconds_ago).strftime("%Y-%m-%d %H:%M:%S")

    assert server("discovery", "top") == 0
    out, err = capsys.readouterr()
    assert err == ""
    header, *rows = out.splitlines()
    assert header.split() == ["ACCOUNT", "NEW", "NUMBERS", "WITHHELD", "LAST", "CHECKED"]
    assert [row.split() for row in rows] == [
        ["bob@127.0.0.1", "12000", "2345", *local(60).split()],
        ["carol@127.0.0.1", "900", "0", *local(3 * 3600).split()],
        ["alice@127.0.0.1", "40", "0", *local(600).split()],
    ]
    assert server("discovery", "top", "--since", "2.5", "--limit", "2") == 0
    assert [row.split()[0] for row in capsys.readouterr().out.splitlines()[1:]] == ["bob@127.0.0.1", "alice@127.0.0.1"]
    assert server("--domain", "example.org", "discovery", "top") == 0
    assert capsys.readouterr().out.splitlines()[1].split()[:2] == ["erin@example.org", "700"]
    assert server("discovery", "top", "--since", "48") == 0
    assert capsys.readouterr().out.splitlines()[1].split()[:2] == ["dan@127.0.0.1", "50000"]
    assert server("discovery", "top", "--since", "0.001") == 0
    assert capsys.readouterr().out == "no account checked any numbers in the last 0.001 hours\n"
    for args in (["--since", "0"], ["--limit", "0"], ["--since", "nan"]):
        with pytest.raises(SystemExit) as exit_:
            server("discovery", "top", *args)
        assert exit_.value.code == 2
        assert args[0] in capsys.readouterr().err


def test_wrong_account_sets_are_one_line_and_exit_2(server, password_file, capsys):
    assert server("account", "add", "alice", "--phone", "+33612345678", "--password-file", str(password_file)) == 0
    assert server("account", "add", "bob", "--password-file", str(password_file)) == 0
    assert (
        server("account", "add", "+33611111111", "--phone", "+33611111111", "--password-file", str(password_file)) == 0
    )
    capsys.readouterr()
    cases = [
        (
            ["bob"],
            "nothing to change: give --phone +E164, --no-phone, --public-presence, --private-presence or "
            "--discoverable after bob",
        ),
        (["carol", "--no-phone"], "no account carol@127.0.0.1"),
        (["carol", "--private-presence"], "no account carol@127.0.0.1"),
        (["bob@example.org", "--no-phone"], "give the username alone (bob), and the domain with --domain 127.0.0.1"),
        (
            ["bob", "--phone", "06 12 34 56 78"],
            "--phone '06 12 34 56 78' is not a phone number in international form: write it as "
            "+<country code><number>, e.g. +33612345678",
        ),
        (["bob", "--phone", "+33612345678"], "the number +33612345678 is another account's already"),
        (
            ["bob", "--phone", "+33612345678", "--public-presence"],  # nothing changed: the number comes first
            "the number +33612345678 is another account's already",
        ),
        (
            ["+33611111111", "--no-phone"],
            "the account +33611111111@127.0.0.1 is named after its number: it keeps +33611111111",
        ),
    ]
    for args, message in cases:
        assert server("account", "set", *args) == 2
        assert error_line(capsys) == message
    for args in (["--phone", "+33699999999", "--no-phone"], ["--public-presence", "--private-presence"]):
        with pytest.raises(SystemExit) as exit_:
            server("account", "set", "bob", *args)
        assert exit_.value.code == 2
        assert "not allowed with argument" in capsys.readouterr().err
    assert server("account", "list") == 0
    assert [line.split()[:4] for line in capsys.readouterr().out.splitlines()] == [
        ["+33611111111@127.0.0.1", "+33611111111", "activated", "private"],
        ["alice@127.0.0.1", "+33612345678", "activated", "private"],
        ["bob@127.0.0.1", "-", "activated", "private"],
    ]


def test_list_set_show_remove(server, tmp_path, password_file, capsys):
    assert server("account", "add", "alice", "--password-file", str(password_file)) == 0
    capsys.readouterr()
    entries = tmp_path / "friends.txt"
    entries.write_text(
        "# alice's friends\n"
        "sip:zoe@example.org   # Zoé\n"
        "\n"
        "+33612345678\n"
        "  SIP:bob@example.org\n"
        "sip:%27%3B%20DROP%20TABLE%20accounts%3B%20--@example.org\n"
    )
    assert server("list", "set", "alice", "sip:friends@127.0.0.1", "--entries", str(entries)) == 0
    assert capsys.readouterr().out == "stored sip:friends@127.0.0.1 of alice@127.0.0.1: 4 entries\n"
    expected = [
        "sip:zoe@example.org",
        "sip:+33612345678@127.0.0.1;user=phone",
        "sip:bob@example.org",
        "sip:';%20DROP%20TABLE%20accounts;%20--@example.org",
    ]
    assert server("list", "show", "alice", "sip:friends@127.0.0.1") == 0
    assert capsys.readouterr().out.splitlines() == expected

    again = tmp_path / "again.txt"
    again.write_text("\n".join(expected))  # what show prints, set reads back
    assert server("list", "set", "alice", "sip:copy@127.0.0.1", "--entries", str(again)) == 0
    single = tmp_path / "single.txt"
    single.write_text("sip:bob@example.org\n")
    assert server("list", "set", "alice", "sip:bob@127.0.0.1", "--entries", str(single)) == 0
    capsys.readouterr()
    assert server("list", "show", "alice") == 0
    assert capsys.readouterr().out.splitlines() == [
        "sip:bob@127.0.0.1 (1 entry)",
        "    sip:bob@example.org",
        "sip:copy@127.0.0.1 (4 entries)",
        *(f"    {entry}" for entry in expected),
        "sip:friends@127.0.0.1 (4 entries)",
        *(f"    {entry}" for entry in expected),
    ]

    assert server("list", "remove", "alice", "sip:copy@127.0.0.1") == 0
    assert capsys.readouterr().out == "removed sip:copy@127.0.0.1 of alice@127.0.0.1\n"
    assert server("list", "show", "alice", "sip:copy@127.0.0.1") == 2
    assert error_line(capsys) == (
        "alice@127.0.0.1 has no list sip:copy@127.0.0.1: see smartbook server list show alice"
    )
    assert server("account", "list") == 0  # the accounts table is still there
    assert capsys.readouterr().out.startswith("alice@127.0.0.1 ")


def test_wrong_lists_are_one_line_and_exit_2(server, tmp_path, password_file, capsys):
    assert server("account", "add", "alice", "--password-file", str(password_file)) == 0
    good = tmp_path / "good.txt"
    good.write_text("sip:bob@example.org\n")
    bad = tmp_path / "bad.txt"
    bad.write_text("# header\nsip:bob@example.org\nbob@example.org\n")
    twice = tmp_path / "twice.txt"
    twice.write_text("sip:bob@example.org\nSIP:bob@example.org\n")
    missing = tmp_path / "missing.txt"
    capsys.readouterr()
    cases = [
        (["alice", "sip:f@x", "--entries", str(bad)], f"{bad} line 3: not a URI (no scheme): 'bob@example.org'"),
        (["alice", "sip:f@x", "--entries", str(twice)], f"{twice} line 2: sip:bob@example.org is on line 1 already"),
        (["alice", "sip:f@x", "--entries", str(missing)], f"cannot read the entries file {missing}"),
        (["alice", "friends", "--entries", str(good)], "bad list URI: not a URI (no scheme): 'friends'"),
        (["carol", "sip:f@x", "--entries", str(good)], "no account carol@127.0.0.1"),
    ]
    for args, message in cases:
        assert server("list", "set", *args) == 2
        assert error_line(capsys).startswith(message)
    assert server("list", "show", "carol") == 2
    assert error_line(capsys) == "no account carol@127.0.0.1"
    assert server("list", "remove", "alice", "sip:f@x") == 2
    assert error_line(capsys) == "alice@127.0.0.1 has no list sip:f@x"


def test_a_newer_database_is_one_line_and_exit_2(tmp_path, capsys):
    db = tmp_path / "server.sqlite3"
    Store.open(db).close()
    connection = sqlite3.connect(db)
    connection.execute(f"PRAGMA user_version = {SCHEMA_VERSION + 1}")
    connection.commit()
    connection.close()
    assert main(["server", "--db", str(db), "account", "list"]) == 2
    assert "newer than this smartbook knows" in error_line(capsys)


def test_server_needs_a_command(server, capsys):
    with pytest.raises(SystemExit) as exit_:
        server()
    assert exit_.value.code == 2
    assert "required: COMMAND" in capsys.readouterr().err


def test_the_settings_file_gives_the_database_and_the_domain(tmp_path, password_file, monkeypatch, capsys):
    monkeypatch.setenv("HOME", str(tmp_path))
    config = tmp_path / "config.toml"
    config.write_text(
        '[account]\ndomain = "client.example"\n[server]\ndomain = "Example.org"\ndb = "~/srv/server.sqlite3"\n'
    )
    with_file = ["--config", str(config), "server"]
    assert main([*with_file, "account", "add", "alice", "--password-file", str(password_file)]) == 0
    assert capsys.readouterr().out == "added alice@example.org\n"  # [server] domain, not [account] domain
    assert (tmp_path / "srv" / "server.sqlite3").is_file()

    assert main([*with_file, "account", "list", "--json"]) == 0
    (alice,) = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    assert (alice["username"], alice["domain"]) == ("alice", "example.org")

    other = tmp_path / "other.sqlite3"  # the options win, before or after the action
    assert main([*with_file, "--domain", "other.example", "account", "list"]) == 0
    assert main([*with_file, "account", "list", "--db", str(other)]) == 0
    assert capsys.readouterr().out == ""
    assert other.is_file()

    entries = tmp_path / "entries.txt"
    entries.write_text("+33612345678\n")
    assert main([*with_file, "list", "set", "alice", "sip:friends@example.org", "--entries", str(entries)]) == 0
    assert main([*with_file, "list", "show", "alice", "sip:friends@example.org"]) == 0
    assert capsys.readouterr().out.splitlines()[-1] == "sip:+33612345678@example.org;user=phone"


def test_a_wrong_server_section_is_one_line_and_exit_2(tmp_path, capsys):
    config = tmp_path / "config.toml"
    for text, message in [
        ("[server]\ndomain = 'a b'\n", "server.domain 'a b' is not a SIP domain"),
        ("[server]\ndatabase = 'x'\n", "unknown setting server.database"),
        ("[server]\ndb = false\n", "server.db has the wrong type (bool)"),
    ]:
        config.write_text(text)
        assert main(["--config", str(config), "server", "account", "list"]) == 2
        assert error_line(capsys).startswith(f"{config}: {message}")
