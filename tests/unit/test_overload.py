"""When the server counts itself behind (its UDP receive queue, its loop's lag; with hysteresis) and which requests
it then refuses; how the threshold is set (`--overload-lag`, the `overload_lag` setting)."""

import pytest

from smartbook_tui.cli import build_parser
from smartbook_tui.cli.server_run import run_options
from smartbook_tui.config import load_settings
from smartbook_tui.server.overload import (
    DEFAULT_OVERLOAD_LAG,
    FILL_HIGH,
    HOLD,
    RETRY_AFTER,
    RETRY_AFTER_LATEST,
    Backlog,
    is_new_request,
    retry_after,
)
from smartbook_tui.server.store import Store
from smartbook_tui.sip.message import SipMessage, parse_message
from tests.unit.core_kit import Peer, make_core


def test_a_lag_over_the_threshold_makes_it_behind_and_a_short_calm_does_not_end_it():
    backlog = Backlog(0.2)
    assert not backlog.observe(0.05, 0.0, now=0.0)
    assert backlog.observe(0.3, 0.0, now=1.0)
    assert backlog.observe(0.0, 0.0, now=1.1)  # calm for less than HOLD
    assert backlog.observe(0.15, 0.0, now=1.5)  # over half the threshold: the calm starts again
    assert backlog.observe(0.0, 0.0, now=1.6)
    assert backlog.observe(0.0, 0.0, now=1.6 + HOLD / 2)


def test_a_filling_receive_queue_makes_it_behind_until_it_has_drained_for_hold_seconds():
    backlog = Backlog(0.2)
    assert not backlog.observe(0.0, FILL_HIGH / 2, now=0.0)
    assert backlog.observe(0.0, FILL_HIGH, now=1.0)
    assert backlog.observe(0.0, FILL_HIGH / 2, now=1.0 + 2 * HOLD)  # still a quarter of the mark or more
    assert backlog.observe(0.0, 0.0, now=5.0)
    assert backlog.observe(0.0, 0.0, now=5.0 + HOLD / 2)
    assert not backlog.observe(0.0, 0.0, now=5.0 + HOLD)


def test_it_serves_again_after_a_calm_of_hold_seconds():
    backlog = Backlog(0.2)
    backlog.observe(1.0, 0.0, now=0.0)
    backlog.observe(0.01, 0.0, now=0.1)
    assert backlog.observe(0.01, 0.0, now=0.1 + HOLD) is False
    assert backlog.observe(0.1, 0.05, now=5.0) is False  # under both marks: still serving


def test_it_keeps_the_worst_readings_of_the_time_it_is_behind():
    backlog = Backlog(0.2)
    backlog.observe(0.5, 0.0, now=0.0)
    backlog.observe(0.0, FILL_HIGH + 0.1, now=0.1)
    assert (backlog.lag, backlog.fill) == (0.5, FILL_HIGH + 0.1)
    backlog.observe(0.0, 0.0, now=0.2)
    backlog.observe(0.0, 0.0, now=0.2 + HOLD)
    backlog.observe(0.3, 0.0, now=9.0)  # behind again: from fresh readings
    assert (backlog.lag, backlog.fill) == (0.3, 0.0)


def test_a_threshold_of_zero_or_less_is_refused():
    with pytest.raises(ValueError, match="positive"):
        Backlog(0)


def request(method: str, *, to_tag: str | None = None, to: str | None = None) -> SipMessage:
    to = to if to is not None else "<sip:bob@example.org>" + (f";tag={to_tag}" if to_tag else "")
    text = (
        f"{method} sip:bob@example.org SIP/2.0\r\nVia: SIP/2.0/UDP 127.0.0.1:5070;branch=z9hG4bK1\r\n"
        f"From: <sip:alice@example.org>;tag=a\r\nTo: {to}\r\nCall-ID: c1\r\nCSeq: 1 {method}\r\n"
        "Content-Length: 0\r\n\r\n"
    )
    return parse_message(text.encode())


@pytest.mark.parametrize("method", ["REGISTER", "PUBLISH", "SUBSCRIBE", "OPTIONS", "INVITE", "MESSAGE"])
def test_out_of_dialog_requests_are_new(method):
    assert is_new_request(request(method))


@pytest.mark.parametrize("method", ["SUBSCRIBE", "BYE", "NOTIFY", "INVITE"])
def test_in_dialog_requests_are_not_new(method):
    assert not is_new_request(request(method, to_tag="s1"))


@pytest.mark.parametrize("method", ["ACK", "CANCEL"])
def test_ack_and_cancel_always_pass(method):
    assert not is_new_request(request(method))


def test_a_probe_of_the_server_itself_always_passes():
    """A front's OPTIONS probe answered 503 would take a busy node for a dead one (an OPTIONS to a user is a call's)."""
    probe = parse_message(
        b"OPTIONS sip:127.0.0.1:5070 SIP/2.0\r\nVia: SIP/2.0/UDP 127.0.0.1:5060;branch=z9hG4bKp\r\n"
        b"From: <sip:front@127.0.0.1>;tag=f\r\nTo: <sip:127.0.0.1:5070>\r\nCall-ID: p1\r\nCSeq: 1 OPTIONS\r\n"
        b"Content-Length: 0\r\n\r\n"
    )
    assert not is_new_request(probe)


def test_responses_always_pass():
    response = parse_message(
        b"SIP/2.0 200 OK\r\nVia: SIP/2.0/UDP 127.0.0.1:5060;branch=z9hG4bKn\r\nFrom: <sip:a@x>;tag=s\r\n"
        b"To: <sip:b@x>;tag=w\r\nCall-ID: n1\r\nCSeq: 3 NOTIFY\r\nContent-Length: 0\r\n\r\n"
    )
    assert not is_new_request(response)


def test_an_unreadable_to_is_left_to_the_core():
    assert not is_new_request(request("PUBLISH", to="<sip:bob@example.org"))


def options(*argv: str, config: str | None = None):
    args = build_parser().parse_args([*(["--config", config] if config else []), "server", "run", *argv])
    return run_options(args, load_settings(args.config))


def test_the_threshold_comes_from_the_flag_the_setting_or_the_default(tmp_path, monkeypatch):
    monkeypatch.setenv("HOME", str(tmp_path))
    assert options().overload_lag == DEFAULT_OVERLOAD_LAG
    assert options("--overload-lag", "0").overload_lag == 0
    config = tmp_path / "config.toml"
    config.write_text("[server]\noverload_lag = 0.5\n")
    assert options(config=str(config)).overload_lag == 0.5
    assert options("--overload-lag", "0.1", config=str(config)).overload_lag == 0.1


def test_a_retransmission_of_a_request_already_answered_is_known_so_an_overloaded_server_answers_it_again(tmp_path):
    """While behind, the server refuses what is new, but a retransmission gets the answer already given (a 503
    would contradict it): the core says which requests it holds a transaction for."""
    options = parse_message(
        b"OPTIONS sip:example.org SIP/2.0\r\nVia: SIP/2.0/UDP 192.0.2.9:5060;branch=z9hG4bK-again\r\n"
        b"From: <sip:a@example.org>;tag=f\r\nTo: <sip:example.org>\r\nCall-ID: again\r\nCSeq: 1 OPTIONS\r\n"
        b"Content-Length: 0\r\n\r\n"
    )
    with Store.open(tmp_path / "server.sqlite3") as store:
        core = make_core(store, "example.org", {"UDP": "192.0.2.1:5070", "TCP": "192.0.2.1:5070"})
        assert not core.answered_before(options)  # type: ignore[arg-type]
        core.receive(options, Peer(), 0.0)
        assert core.answered_before(options)  # type: ignore[arg-type]


def test_the_clients_refused_in_one_burst_are_told_to_come_back_at_different_seconds():
    told = [retry_after() for _ in range(1_000)]
    assert set(told) == set(range(RETRY_AFTER, RETRY_AFTER_LATEST + 1))
