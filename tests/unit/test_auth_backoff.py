"""The backoff on failed digest authentication: a guesser is slowed by orders of magnitude, nobody elsewhere can
lock the real user out, and the state stays bounded. The rules on an injected clock, then the server's core."""

from __future__ import annotations

import itertools

import pytest

from smartbook_tui.cli import build_parser, main
from smartbook_tui.cli.server_run import run_options
from smartbook_tui.config import load_settings
from smartbook_tui.server.auth_backoff import DEFAULT_FAILURES, AuthBackoff
from smartbook_tui.server.store import Store
from smartbook_tui.sip.auth import Credentials, DigestSession
from smartbook_tui.sip.message import Headers, SipRequest, parse_message
from tests.unit.test_authentication import DOMAIN, PASSWORD, Peer, answer, make_server, sign_in, signed_try, store

__all__ = ["store"]  # the fixture

GUESSER, USER = "198.51.100.7", "203.0.113.9"
_serial = itertools.count()


def guess(backoff: AuthBackoff, account: str, address: str, now: float) -> bool:
    """One wrong try when the backoff lets it be checked; whether it was."""
    if backoff.wait(account, address, now) > 0:
        return False
    backoff.failed(account, address, now)
    return True


def guesses_made(backoff: AuthBackoff, account: str, address: str, seconds: float, rate: float) -> int:
    """The tries checked of a guesser trying `rate` times a second for `seconds`."""
    return sum(guess(backoff, account, address, n / rate) for n in range(int(seconds * rate)))


# ---------------------------------------------------------------------------------------------- the rules


def test_after_five_failures_each_next_try_waits_twice_as_long_up_to_the_longest() -> None:
    backoff = AuthBackoff(5, longest=600.0)
    waits = [backoff.failed("alice", GUESSER, 0.0) for _ in range(16)]
    assert waits == [0.0] * 4 + [1.0, 2.0, 4.0, 8.0, 16.0, 32.0, 64.0, 128.0, 256.0, 512.0, 600.0, 600.0]
    assert backoff.wait("alice", GUESSER, 599.0) == 1.0
    assert backoff.wait("alice", GUESSER, 600.0) == 0.0


def test_one_address_guessing_falls_from_hundreds_a_second_to_a_few_an_hour() -> None:
    backoff = AuthBackoff(5)
    made = guesses_made(backoff, "alice", GUESSER, seconds=3_600, rate=100)  # 360,000 tries offered
    assert made <= 5 + 10 + 6, made  # five at once, one per doubling wait (17 min), then one per 10 min
    assert made * 10_000 < 360_000  # four orders of magnitude


def test_an_address_spraying_many_names_is_held_back_across_them() -> None:
    backoff = AuthBackoff(5)
    for number in range(5):
        backoff.failed(f"user{number}", GUESSER, 0.0)
    assert backoff.wait("someone-else", GUESSER, 0.0) == 1.0
    assert backoff.wait("someone-else", USER, 0.0) == 0.0


def test_one_address_guessing_never_holds_back_the_user_elsewhere() -> None:
    backoff = AuthBackoff(5)
    guesses_made(backoff, "alice", GUESSER, seconds=60, rate=100)
    assert backoff.wait("alice", GUESSER, 60.0) > 0
    assert backoff.wait("alice", USER, 60.0) == 0.0  # an address alice never signed in from


def test_guessers_on_many_addresses_hold_back_new_addresses_but_not_a_trusted_one() -> None:
    backoff = AuthBackoff(5)
    backoff.succeeded("alice", USER, 0.0)  # her phone, signed in an hour before
    for number in range(50):
        backoff.failed("alice", f"192.0.2.{number}", 3_600.0)
    assert backoff.wait("alice", "198.18.0.1", 3_600.0) > 0  # a new address waits...
    assert backoff.wait("alice", USER, 3_600.0) == 0.0  # ...hers does not
    backoff.succeeded("alice", USER, 3_600.0)  # and her sign-in ends the account's streak
    assert backoff.wait("alice", "198.18.0.1", 3_600.0) == 0.0


def test_guessers_spread_over_many_addresses_cost_the_user_on_a_new_network_a_minute_at_most() -> None:
    backoff = AuthBackoff(5)
    for number in range(5_000):  # a guesser with a new address for each try, one a second
        address = f"10.{number // 65_536}.{number // 256 % 256}.{number % 256}"
        if backoff.wait("alice", address, float(number)) == 0:
            backoff.failed("alice", address, float(number))
    assert 0 < backoff.wait("alice", "198.18.0.1", 5_000.0) <= 60.0  # her phone on a new network
    assert backoff.wait("alice", "10.0.0.1", 5_000.0) <= 60.0


def test_a_trusted_address_is_held_back_by_its_own_failures_only() -> None:
    backoff = AuthBackoff(5)
    backoff.succeeded("alice", USER, 0.0)
    waits = [backoff.failed("alice", USER, 10.0) for _ in range(5)]
    assert waits == [0.0] * 4 + [1.0]
    backoff.succeeded("alice", USER, 11.0)
    assert backoff.wait("alice", USER, 11.0) == 0.0


def test_a_sign_in_does_not_clear_its_address_spraying_streak() -> None:
    backoff = AuthBackoff(5)
    for number in range(5):
        backoff.failed(f"user{number}", GUESSER, 0.0)
    backoff.succeeded("mallory", GUESSER, 0.5)  # the guesser's own account
    assert backoff.wait("user9", GUESSER, 0.5) == 0.5


def test_a_quiet_streak_is_forgotten() -> None:
    backoff = AuthBackoff(5, forget=3_600.0)
    for _ in range(4):
        backoff.failed("alice", GUESSER, 0.0)
    assert backoff.failed("alice", GUESSER, 3_601.0) == 0.0  # the fifth in a row, but an hour later: the first


def test_the_state_stays_bounded() -> None:
    backoff = AuthBackoff(5, capacity=100, trusted_capacity=50)
    for number in range(5_000):
        address = f"10.{number // 65_536}.{number // 256 % 256}.{number % 256}"
        backoff.failed(f"name{number}", address, 0.0)
        backoff.succeeded(f"name{number}", address, 0.0)
        backoff.failed(f"other{number}", address, 0.0)
    tables = (backoff._pairs, backoff._accounts, backoff._addresses)
    assert [len(table.streaks) for table in tables] == [100, 100, 100]
    assert len(backoff._trusted) == 50


def test_no_failures_allowed_means_no_backoff() -> None:
    backoff = AuthBackoff(0)
    assert guesses_made(backoff, "alice", GUESSER, seconds=10, rate=100) == 1_000


def test_a_negative_count_is_refused() -> None:
    with pytest.raises(ValueError, match="cannot be negative"):
        AuthBackoff(-1)


# ---------------------------------------------------------------------------------------------- the server


def test_fifty_wrong_passwords_are_held_back_while_the_user_elsewhere_signs_in_at_once(store: Store) -> None:
    server = make_server(store, rate_limit=0, auth_failures=5)
    guesser, user = Peer(address=(GUESSER, 5060)), Peer(address=(USER, 5060))
    statuses = []
    for number in range(50):  # ten a second
        now = number / 10
        reply = answer(server, signed_try(server, "alice", "not the password", guesser, now), guesser, now)
        statuses.append(reply.status)
        if reply.status == 503:
            assert int(reply.headers.get("Retry-After") or 0) >= 1
            assert reply.reason == "Service Unavailable (too many failed sign-ins)"
    assert statuses[:5] == [401] * 5
    assert statuses.count(401) <= 7, statuses  # five, then one after 1 s and one after 2 s more
    assert set(statuses[5:]) <= {401, 503}
    assert sign_in(server, "alice", PASSWORD, user, 5.0).status == 200
    assert sign_in(server, "alice", PASSWORD, guesser, 5.0).status == 503  # the right password too: not checked


def test_wrong_passwords_sent_from_a_forged_udp_address_cannot_hold_back_the_user_there(store: Store) -> None:
    """A guesser gets its nonces at its own address and sends its tries with the user's address forged (UDP): the
    nonces were not sent there, so the tries are stale, never failures, and the user there signs in at once."""
    server = make_server(store, rate_limit=0, auth_failures=5)
    guesser, forged = Peer(address=(GUESSER, 5060)), Peer(address=(USER, 5060))
    statuses = [
        answer(server, signed_try(server, "alice", "not the password", guesser, 0.0), forged, 0.0).status
        for _ in range(30)
    ]
    assert statuses == [401] * 30
    assert sign_in(server, "alice", PASSWORD, forged, 1.0).status == 200


def test_a_held_back_name_without_an_account_looks_like_one_with_an_account(store: Store) -> None:
    server = make_server(store, rate_limit=0, auth_failures=5)
    guesser = Peer(address=(GUESSER, 5060))
    for user in ("alice", "nobody"):
        other = Peer(address=(f"198.51.100.{10 + len(user)}", 5060))
        replies = [sign_in(server, user, "not the password", other, 0.0) for _ in range(6)]
        assert [r.status for r in replies] == [401] * 5 + [503], user
    assert sign_in(server, "nobody", "x", guesser).status == sign_in(server, "alice", "x", guesser).status == 401


def message(peer: Peer, authorization: str | None = None) -> SipRequest:
    """A MESSAGE from alice, which leaves an account of the domain: the proxy asks for her credentials."""
    number = next(_serial)
    headers = Headers(
        [
            ("Via", f"SIP/2.0/UDP {peer.address[0]}:{peer.address[1]};branch=z9hG4bK-msg{number}"),
            ("Max-Forwards", "70"),
            ("From", f"<sip:alice@{DOMAIN}>;tag=m{number}"),
            ("To", f"<sip:alice@{DOMAIN}>"),
            ("Call-ID", f"msg-{number}"),
            ("CSeq", "1 MESSAGE"),
            ("Content-Type", "text/plain"),
        ]
    )
    if authorization is not None:
        headers.add("Proxy-Authorization", authorization)
    return parse_message(SipRequest("MESSAGE", f"sip:alice@{DOMAIN}", headers, b"hi").to_bytes())  # type: ignore[return-value]


def test_a_proxied_request_is_held_back_too(store: Store) -> None:
    server = make_server(store, rate_limit=0, auth_failures=1)
    guesser = Peer(address=(GUESSER, 5060))
    statuses = []
    for now in (0.0, 0.5):
        challenge = answer(server, message(guesser), guesser, now)
        assert challenge.status == 407
        value = DigestSession(Credentials("alice", "not the password")).answer(
            challenge.headers.get_all("Proxy-Authenticate"), method="MESSAGE", uri=f"sip:alice@{DOMAIN}", cnonce="c"
        )
        reply = answer(server, message(guesser, value), guesser, now)
        statuses.append((reply.status, reply.headers.get("Retry-After")))
    assert statuses == [(407, None), (503, "1")]


# ---------------------------------------------------------------------------------------------- the option


def test_the_failures_before_the_backoff_come_from_the_option_else_the_setting(tmp_path, monkeypatch) -> None:
    monkeypatch.setenv("HOME", str(tmp_path))
    config = tmp_path / "config.toml"
    config.write_text("[server]\nauth_failures = 3\n")

    def failures(*argv: str) -> int:
        args = build_parser().parse_args(["--config", str(config), "server", "run", *argv])
        return run_options(args, load_settings(args.config)).config.auth_failures

    assert failures() == 3
    assert failures("--auth-failures", "0") == 0
    config.write_text("")
    assert failures() == DEFAULT_FAILURES


def test_a_negative_option_or_setting_is_one_line(tmp_path, monkeypatch, capsys) -> None:
    monkeypatch.setenv("HOME", str(tmp_path))
    with pytest.raises(SystemExit):
        main(["server", "run", "--auth-failures", "-1"])
    assert "--auth-failures: must be at least 0, not -1" in capsys.readouterr().err
    config = tmp_path / "config.toml"
    config.write_text("[server]\nauth_failures = -2\n")
    assert main(["--config", str(config), "server", "run"]) == 2
    assert (
        capsys.readouterr().err == f"smartbook: {config}: server.auth_failures must be a number of at least 0, not -2\n"
    )
