"""The rules of SMS codes and quotas (accounts_api/codes.py), on a fake clock: expiry, tries, and both quotas."""

from __future__ import annotations

from dataclasses import replace

from smartbook_tui.server.accounts_api.codes import (
    EVENTS_WINDOW,
    SMS_WINDOW,
    Accepted,
    CodePolicy,
    Expired,
    Throttled,
    Void,
    Wrong,
    check_code,
    new_code,
    send_refusal,
)
from smartbook_tui.server.accounts_api.limits import RequestLimiter

POLICY = CodePolicy()
NUMBER = "+33612345678"
T0 = 1_800_000_000.0  # a fake "now", seconds since the epoch


def test_a_code_is_four_digits_valid_ten_minutes():
    code = new_code(POLICY, "activate", NUMBER, T0, digits=lambda _: 42)
    assert (code.code, code.phone, code.expires_at, code.wrong_tries) == ("0042", NUMBER, T0 + 600, 0)
    assert check_code(POLICY, code, "0042", [], T0 + 599.9) == Accepted(NUMBER)
    assert check_code(POLICY, code, "0042", [], T0 + 600) == Expired()


def test_three_wrong_tries_void_a_code_even_for_the_right_one_after():
    code = new_code(POLICY, "link", NUMBER, T0, digits=lambda _: 1234)
    assert check_code(POLICY, code, "0000", [], T0) == Wrong(2)
    code = replace(code, wrong_tries=1)
    assert check_code(POLICY, code, "0000", [], T0) == Wrong(1)
    code = replace(code, wrong_tries=2)
    assert check_code(POLICY, code, "0000", [], T0) == Void(counted=True)  # this try is the third
    code = replace(code, wrong_tries=3)
    assert check_code(POLICY, code, "1234", [], T0) == Void()


def test_three_sms_a_number_a_day_then_wait_until_the_oldest_is_a_day_old():
    sent = [T0, T0 + 100, T0 + 200]
    assert send_refusal(POLICY, sent[:2], None, T0 + 300) is None
    assert send_refusal(POLICY, sent, None, T0 + 300) == Throttled("too_many_sms", int(SMS_WINDOW - 300))
    assert send_refusal(POLICY, sent, None, T0 + SMS_WINDOW - 0.5) == Throttled("too_many_sms", 1)
    assert send_refusal(POLICY, sent, None, T0 + SMS_WINDOW) is None


def test_five_code_events_an_account_in_thirty_minutes_then_429():
    events = [T0 + minute * 60 for minute in range(5)]
    assert send_refusal(POLICY, [], events[:4], T0 + 300) is None
    assert send_refusal(POLICY, [], events, T0 + 300) == Throttled("too_many_code_events", int(EVENTS_WINDOW - 300))
    assert send_refusal(POLICY, [], events, T0 + EVENTS_WINDOW + 1) is None  # the first left the window
    code = new_code(POLICY, "activate", NUMBER, T0 + 300, digits=lambda _: 7)
    # Past the limit, a wrong try is refused with the wait; the right code is still taken.
    assert check_code(POLICY, code, "0008", events, T0 + 301) == Throttled("too_many_code_events", 1499)
    assert check_code(POLICY, code, "0007", events, T0 + 301) == Accepted(NUMBER)


def test_the_policy_is_the_operators():
    policy = CodePolicy(lifetime=60, tries=1, sms_per_number=1, events_per_account=2)
    code = new_code(policy, "recover", NUMBER, T0, digits=lambda _: 5)
    assert check_code(policy, code, "0006", [], T0) == Void(counted=True)
    assert check_code(policy, code, "0005", [], T0 + 60) == Expired()
    assert send_refusal(policy, [T0], None, T0 + 1) == Throttled("too_many_sms", int(SMS_WINDOW - 1))
    assert send_refusal(policy, [], [T0, T0 + 1], T0 + 2) == Throttled("too_many_code_events", int(EVENTS_WINDOW - 2))


def test_request_limits_per_address_and_in_all_say_how_long_to_wait():
    limiter = RequestLimiter(per_address=3, overall=0)  # 3 a minute
    assert [limiter.admit("10.0.0.1", T0) for _ in range(3)] == [None, None, None]
    assert limiter.admit("10.0.0.1", T0) == ("too_many_requests", 20)
    assert limiter.admit("10.0.0.2", T0) is None  # another address has its own
    assert limiter.admit("10.0.0.1", T0 + 20) is None  # one request's worth came back
    everyone = RequestLimiter(per_address=0, overall=2)
    assert [everyone.admit(f"10.0.0.{n}", T0) for n in range(3)] == [None, None, ("busy", 1)]
    assert everyone.admit("10.0.0.9", T0 + 0.5) is None
    unlimited = RequestLimiter(per_address=0, overall=0)
    assert all(unlimited.admit("10.0.0.1", T0) is None for _ in range(1000))
