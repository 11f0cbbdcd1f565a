"""How a book over the server's limit is cut into list subscriptions, and how their states read as one."""

from __future__ import annotations

from smartbook_tui.subscriber.book import (
    SERVER_LIST_LIMIT,
    ListLimits,
    combine,
    limit_after_refusal,
    split_book,
)
from smartbook_tui.subscriber.machine import Phase, Status, TooLarge

BOOK = tuple(f"sip:+336{index:08d}@example.org;user=phone" for index in range(20_001))


def test_a_book_within_the_limit_is_one_list():
    assert split_book(BOOK[:10], None) == [BOOK[:10]]
    assert split_book(BOOK[:10_000], 10_000) == [BOOK[:10_000]]


def test_a_book_over_the_limit_is_cut_in_even_parts_each_within_it():
    parts = split_book(BOOK, 10_000)
    assert [len(part) for part in parts] == [6667, 6667, 6667]
    assert tuple(uri for part in parts for uri in part) == BOOK  # every entry once, in book order
    assert [len(part) for part in split_book(BOOK[:20_000], 10_000)] == [10_000, 10_000]


def test_after_a_413_the_servers_figure_else_half():
    assert limit_after_refusal(TooLarge(20_000, 10_000)) == 10_000
    assert limit_after_refusal(TooLarge(20_000, None)) == 10_000
    assert limit_after_refusal(TooLarge(7, 7)) == 3  # a figure that would send the same again: halved
    assert limit_after_refusal(TooLarge(1, None)) is None  # nothing smaller to send


def test_limits_are_kept_per_list_server_and_only_go_down():
    limits = ListLimits()
    limits.learn("sip:rls@example.org", 10_000)
    limits.learn("sip:rls@example.org", 12_000)
    assert limits.get("sip:rls@example.org") == 10_000
    assert limits.get("sip:rls@other.example") is None


def test_a_server_not_heard_from_is_taken_to_take_the_default_until_it_refuses():
    limits = ListLimits(SERVER_LIST_LIMIT)
    assert limits.get("sip:rls@example.org") == SERVER_LIST_LIMIT
    limits.learn("sip:rls@example.org", 5_000)
    assert limits.get("sip:rls@example.org") == 5_000
    assert limits.get("sip:rls@other.example") == SERVER_LIST_LIMIT


def test_the_combined_status_shows_the_worst_part_and_completes_with_all():
    active = Status(Phase.ACTIVE, "", complete=False)
    done = Status(Phase.ACTIVE, "the state of all 10000 resources has arrived", complete=True)
    waiting = Status(Phase.WAITING, "no connection to the server (refused); trying again in 2 s")
    assert combine([done], 10_000) == done  # one part speaks for itself
    assert combine([done, waiting], 20_000) == Status(
        Phase.WAITING, "1 of 2 list subscriptions waiting: no connection to the server (refused); trying again in 2 s"
    )
    assert combine([done, active], 20_000) == Status(Phase.ACTIVE, "1 of 2 list subscriptions complete", False)
    assert combine([done, done], 20_000) == Status(
        Phase.ACTIVE, "the state of all 20000 resources has arrived, over 2 list subscriptions", True
    )
    failed = Status(Phase.FAILED, "the server forbids this subscription")
    assert combine([done, failed], 20_000).phase is Phase.FAILED
