"""The phone engine's decisions, without pjsua2: what a REGISTER answer tells the user and whether it is tried
again, the backoff, what each own status publishes (as the contact list reads it), and pjsip's log lines."""

from __future__ import annotations

from pathlib import Path

import pytest

from smartbook_tui.phone.rules import (
    Activity,
    SipAnswer,
    Where,
    publish_refusal,
    published_as,
    registration_outcome,
    retry_delay,
    sip_answer,
    without_credentials,
)
from smartbook_tui.phone.settings import PhoneAccount
from smartbook_tui.phone.states import OwnStatus, Registration, RegistrationState
from smartbook_tui.presence import Availability, parse_pidf, summarize

WHERE = Where("alice", "example.org", "proxy.example.org:5060")


def test_a_2xx_registers_and_an_expiry_of_0_unregisters():
    assert registration_outcome(200, "OK", 300, WHERE, answered=True) == Registration(RegistrationState.REGISTERED)
    assert registration_outcome(200, "OK", 0, WHERE, answered=True) == Registration(RegistrationState.UNREGISTERED)


@pytest.mark.parametrize("code", [401, 403, 407])
def test_a_wrong_password_says_so_and_is_not_retried(code):
    assert registration_outcome(code, "Unauthorized", 0, WHERE, answered=True) == Registration(
        RegistrationState.FAILED, "wrong password for alice at example.org", retrying=False
    )


@pytest.mark.parametrize(
    ("code", "reason", "answered", "detail"),
    [
        (408, "Request Timeout", False, "no answer from proxy.example.org:5060"),
        (503, "Connection refused", False, "cannot reach proxy.example.org:5060: Connection refused"),
        (503, "Service Unavailable", True, "proxy.example.org:5060 answered 503 Service Unavailable"),
        (408, "Request Timeout", True, "proxy.example.org:5060 answered 408 Request Timeout"),
        (500, "Server Internal Error", True, "proxy.example.org:5060 answered 500 Server Internal Error"),
    ],
)
def test_network_failures_and_server_errors_are_retried(code, reason, answered, detail):
    assert registration_outcome(code, reason, 0, WHERE, answered=answered) == Registration(
        RegistrationState.FAILED, detail, retrying=True
    )


@pytest.mark.parametrize(("code", "reason"), [(404, "Not Found"), (604, "Does Not Exist Anywhere")])
def test_another_refusal_is_shown_and_left_to_the_settings(code, reason):
    assert registration_outcome(code, reason, 0, WHERE, answered=True) == Registration(
        RegistrationState.FAILED, f"proxy.example.org:5060 refused the registration: {code} {reason}", retrying=False
    )


def test_the_backoff_doubles_from_2_s_to_5_min_with_jitter():
    assert [retry_delay(failures, 0.5) for failures in (1, 2, 3, 4)] == [2.0, 4.0, 8.0, 16.0]
    assert retry_delay(9, 0.5) == retry_delay(50, 0.5) == 300.0
    assert retry_delay(1, 0.0) == pytest.approx(1.6)
    assert retry_delay(1, 0.999) == pytest.approx(2.4, abs=0.01)


def _pidf(open_tuple: bool, activity: Activity, note: str | None) -> bytes:
    """The PIDF pjsip writes (pjsip_pres_create_pidf + pjrpid_add_element) for an own status."""
    basic = "open" if open_tuple else "closed"
    tuple_note = f"<note>{note}</note>" if note else ""
    person = ""
    if activity is not Activity.UNKNOWN:
        element = activity.name.lower()
        person_note = f"<dm:note>{note}</dm:note>" if note else ""
        person = f'<dm:person id="pj1"><rpid:activities><rpid:{element}/></rpid:activities>{person_note}</dm:person>'
    return (
        '<?xml version="1.0" encoding="UTF-8"?>'
        '<presence xmlns="urn:ietf:params:xml:ns:pidf" xmlns:dm="urn:ietf:params:xml:ns:pidf:data-model"'
        ' xmlns:rpid="urn:ietf:params:xml:ns:pidf:rpid" entity="sip:alice@example.org">'
        f'<tuple id="t1"><status><basic>{basic}</basic></status>{tuple_note}</tuple>{person}</presence>'
    ).encode()


@pytest.mark.parametrize(
    ("status", "seen"),
    [
        (OwnStatus.ONLINE, Availability.ONLINE),
        (OwnStatus.AWAY, Availability.AWAY),
        (OwnStatus.BUSY, Availability.BUSY),
        (OwnStatus.DO_NOT_DISTURB, Availability.BUSY),
        (OwnStatus.OFFLINE, Availability.OFFLINE),
    ],
)
def test_each_own_status_reads_back_as_the_user_meant_it(status, seen):
    summary = summarize(parse_pidf(_pidf(*published_as(status), "Back at 3")))
    assert (summary.status, summary.note) == (seen, "Back at 3")


def test_pjsip_log_lines():
    assert sip_answer(
        "pjsua_core.c RX 350 bytes Response msg 200/PUBLISH/cseq=25278 (rdata0x5) from TCP 127.0.0.1:5060:"
    ) == SipAnswer(200, "PUBLISH")
    assert sip_answer("pjsua_core.c TX 682 bytes Request msg REGISTER/cseq=5 (tdta0x5) to TCP 127.0.0.1:5060:") is None
    refused = "pjsua_pres.c Client publication (PUBLISH) failed (403/Forbidden)"
    assert publish_refusal(refused, 403) == "the server refused it: 403 Forbidden"
    unsent = "pjsua_pres.c Client publication (PUBLISH) failed (503/Service Unavailable)"
    assert publish_refusal(unsent, None) == "it could not be sent: no connection to the server"
    failed = "pjsua_pres.c Client publication (PUBLISH) failed, status=120111, msg=Connection refused"
    assert publish_refusal(failed, None) == "it could not be sent: Connection refused"
    assert publish_refusal("pjsua_pres.c Acc 0: sending PUBLISH..", 200) is None


def test_logged_messages_leave_the_credentials_out():
    message = (
        "TX 934 bytes Request msg REGISTER/cseq=2 (tdta0x5) to TCP 127.0.0.1:5060:\r\n"
        "REGISTER sip:127.0.0.1 SIP/2.0\r\n"
        'Authorization: Digest username="alice", realm="127.0.0.1", response="0123456789abcdef"\r\n'
        'proxy-authorization: Digest username="alice", response="fedcba9876543210"\r\n'
        "Content-Length:  0\r\n"
    )
    logged = without_credentials(message)
    assert "response=" not in logged
    assert "Authorization: (not logged)\r\n" in logged
    assert "proxy-authorization: (not logged)\r\n" in logged
    assert logged.endswith("Content-Length:  0\r\n")


def test_an_account_routes_through_its_proxy_and_hides_its_password():
    account = PhoneAccount("sip:alice@example.org", "alice", "s3cret", ("192.0.2.7", 5070), "tcp")
    assert account.route() == ("sip:example.org;transport=tcp", "sip:192.0.2.7:5070;transport=tcp;lr")
    assert account.where == Where("alice", "example.org", "192.0.2.7:5070")
    assert "s3cret" not in repr(account)
    direct = PhoneAccount("sip:alice@example.org:5080", "alice", "s3cret", None, "udp")
    assert direct.route() == ("sip:example.org:5080", None)
    assert direct.problem() is None


def test_an_unusable_account_is_said_in_one_line():
    def account(sip_uri: str = "sip:alice@example.org", transport: str = "tcp", ca: Path | None = None):
        return PhoneAccount(sip_uri, "alice", "pw", None, transport, ca)

    assert account(transport="sctp").problem() == "unknown transport 'sctp'; use udp, tcp or tls"
    assert account("sip:example.org").problem() == "'sip:example.org' names no user: write it sip:USER@DOMAIN"
    missing = Path("/nonexistent/ca.pem")
    assert account(transport="tls", ca=missing).problem() == "the CA file /nonexistent/ca.pem cannot be read"
