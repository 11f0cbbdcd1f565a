"""The phone's decisions about calls, without pjsua2: the end reason a person reads, the other side's name and
address, which sound device a name chooses, and what may be called or sent as DTMF."""

from __future__ import annotations

import pytest

from smartbook_tui.phone.call_rules import call_target_problem, chosen_device, dtmf_problem, end_reason, remote_party
from smartbook_tui.phone.states import AudioDevice, CallDirection, CallInfo, CallState

OUT, IN = CallDirection.OUTGOING, CallDirection.INCOMING


@pytest.mark.parametrize(
    ("code", "words"),
    [
        (486, "busy"),
        (600, "busy"),
        (603, "declined"),
        (404, "not found"),
        (604, "not found"),
        (480, "unavailable"),
        (487, "cancelled"),
        (503, "network"),
        (407, "wrong password"),
        (401, "wrong password"),
        (403, "refused"),
        (488, "failed: 488 Not Acceptable Here"),
    ],
)
def test_a_refused_call_says_why(code, words):
    reason = "Not Acceptable Here" if code == 488 else "whatever"
    assert end_reason(code, reason, direction=OUT, answered=False, rang=True, by_you=False) == words


def test_a_timeout_is_no_answer_once_it_rang_and_the_network_before():
    assert end_reason(408, "Request Timeout", direction=OUT, answered=False, rang=True, by_you=False) == "no answer"
    assert end_reason(408, "Request Timeout", direction=OUT, answered=False, rang=False, by_you=False) == "network"


def test_who_hung_up():
    assert end_reason(200, "Normal", direction=OUT, answered=True, rang=True, by_you=True) == "hung up by you"
    assert end_reason(200, "Normal", direction=IN, answered=True, rang=False, by_you=False) == "hung up by them"
    assert end_reason(408, "Timeout", direction=IN, answered=True, rang=False, by_you=False) == "network"


def test_the_user_cancels_or_declines():
    assert end_reason(487, "Terminated", direction=OUT, answered=False, rang=True, by_you=True) == "cancelled"
    assert end_reason(486, "Busy Here", direction=IN, answered=False, rang=False, by_you=True) == "busy"
    assert end_reason(603, "Decline", direction=IN, answered=False, rang=False, by_you=True) == "declined"
    # The caller gave up while it rang here: the owner's call log shows it as missed.
    assert end_reason(487, "Terminated", direction=IN, answered=False, rang=False, by_you=False) == "cancelled"


def test_the_other_side_as_pjsip_gives_it():
    assert remote_party('"Bob Builder" <sip:bob@example.org>;tag=1') == ("sip:bob@example.org", "Bob Builder")
    assert remote_party("<sip:+33612345678@example.org;user=phone>") == (
        "sip:+33612345678@example.org;user=phone",
        "",
    )
    assert remote_party("not an address <") == ("not an address <", "")


def test_what_may_be_called():
    assert call_target_problem("sip:bob@example.org") is None
    assert call_target_problem("sip:+33612345678@example.org;user=phone") is None
    assert call_target_problem("bob") is not None
    assert call_target_problem("tel:+33612345678") == "cannot call 'tel:+33612345678': give a sip: address"


def test_dtmf_digits():
    assert dtmf_problem("0123456789*#ABCD") is None
    assert dtmf_problem("12x") == "'12x' is not DTMF: use 0-9, *, # and A-D"
    assert dtmf_problem("") is not None


DEVICES = [AudioDevice("HDA Intel PCH: ALC257 Analog", "ALSA", 2, 2), AudioDevice("USB Headset", "ALSA", 1, 2)]


def test_a_device_by_its_name_or_a_part_of_it():
    assert chosen_device(DEVICES, "USB Headset") == DEVICES[1]
    assert chosen_device(DEVICES, "headset") == DEVICES[1]
    assert chosen_device(DEVICES, "speaker") == (
        "no audio device named 'speaker'; there are: 'HDA Intel PCH: ALC257 Analog', 'USB Headset'"
    )
    assert chosen_device(DEVICES, "a").startswith("'a' names several audio devices")


def test_a_call_lasts_from_its_answer():
    ringing = CallInfo(1, OUT, "sip:bob@example.org", "", CallState.RINGING, started=100.0)
    assert ringing.duration(130.0) == 0.0
    talking = CallInfo(1, OUT, "sip:bob@example.org", "", CallState.CONFIRMED, started=100.0, connected=110.0)
    assert talking.duration(130.0) == 20.0
    ended = CallInfo(1, OUT, "sip:bob@example.org", "", CallState.ENDED, 100.0, connected=110.0, ended=115.0)
    assert ended.duration(130.0) == 5.0
