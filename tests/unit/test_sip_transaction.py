from smartbook_tui.sip.message import Headers, SipRequest, SipResponse
from smartbook_tui.sip.transaction import (
    T1,
    T2,
    T4,
    ClientTransaction,
    Retransmit,
    ServerTransaction,
    State,
    TimedOut,
    server_key,
)


def subscribe() -> SipRequest:
    return SipRequest(
        "SUBSCRIBE",
        "sip:rls@example.org",
        Headers(
            [
                ("Via", "SIP/2.0/UDP 192.0.2.1:5060;branch=z9hG4bK.abc;rport"),
                ("From", "<sip:alice@example.org>;tag=1"),
                ("To", "<sip:rls@example.org>"),
                ("Call-ID", "c1"),
                ("CSeq", "1 SUBSCRIBE"),
            ]
        ),
    )


def response(status: int) -> SipResponse:
    return SipResponse(status, "Whatever", subscribe().headers.copy())


def run_timers(transaction: ClientTransaction, until: float) -> list[tuple[float, object]]:
    happened = []
    while transaction.deadline is not None and transaction.deadline <= until:
        now = transaction.deadline
        outcome = transaction.on_timer(now)
        if outcome is not None:
            happened.append((now, outcome))
    return happened


def test_udp_retransmits_t1_doubling_to_t2_then_times_out_at_64_t1():
    transaction = ClientTransaction(subscribe(), reliable=False)
    data = transaction.start(100.0)
    assert data.startswith(b"SUBSCRIBE sip:rls@example.org SIP/2.0\r\n")
    happened = run_timers(transaction, 200.0)
    retransmitted_at = [round(now - 100.0, 3) for now, outcome in happened if isinstance(outcome, Retransmit)]
    assert retransmitted_at[:5] == [T1, 3 * T1, 7 * T1, 7 * T1 + T2, 7 * T1 + 2 * T2]
    assert all(outcome.data == data for _, outcome in happened if isinstance(outcome, Retransmit))
    assert happened[-1] == (100.0 + 64 * T1, TimedOut())
    assert transaction.state is State.TERMINATED
    assert transaction.deadline is None


def test_tcp_never_retransmits_but_still_times_out():
    transaction = ClientTransaction(subscribe(), reliable=True)
    transaction.start(0.0)
    assert run_timers(transaction, 100.0) == [(64 * T1, TimedOut())]


def test_provisional_slows_retransmission_to_t2_and_final_absorbs_retransmitted_finals():
    transaction = ClientTransaction(subscribe(), reliable=False)
    data = transaction.start(0.0)
    assert transaction.on_response(response(100), 0.1).status == 100
    assert transaction.state is State.PROCEEDING
    assert run_timers(transaction, 0.6) == [(0.5, Retransmit(data))]  # still retransmits, then every T2
    assert transaction.deadline == 0.5 + T2
    final = transaction.on_response(response(200), 1.0)
    assert final.status == 200
    assert transaction.on_response(response(200), 1.1) is None  # a retransmitted 200: absorbed
    assert transaction.deadline == 1.0 + T4
    assert run_timers(transaction, 10.0) == []
    assert transaction.state is State.TERMINATED


def test_keys_match_responses_and_retransmitted_requests():
    assert ClientTransaction(subscribe(), reliable=True).key == ("z9hG4bK.abc", "SUBSCRIBE")
    assert server_key(subscribe()) == ("z9hG4bK.abc", "192.0.2.1:5060", "SUBSCRIBE")


def test_server_transaction_answers_retransmissions_with_its_last_response():
    transaction = ServerTransaction(subscribe(), reliable=False)
    assert transaction.on_retransmission() is None
    sent = transaction.respond(response(200), 5.0)
    assert transaction.on_retransmission() == sent
    assert transaction.deadline == 5.0 + 64 * T1
    transaction.on_timer(5.0 + 64 * T1)
    assert transaction.state is State.TERMINATED
    reliable = ServerTransaction(subscribe(), reliable=True)
    reliable.respond(response(200), 5.0)
    assert reliable.deadline == 5.0
