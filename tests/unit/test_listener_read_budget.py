"""The listener's per-address budget of messages a second (`ReadBudget`), on a clock of the test's: datagrams
admitted or dropped unread, stream messages charged and their reading paused."""

from __future__ import annotations

import pytest

from smartbook_tui.sip.aio.read_budget import ReadBudget


def admitted(budget: ReadBudget, source: str, count: int, now: float) -> int:
    return sum(budget.admit(source, now) for _ in range(count))


def test_a_source_gets_a_seconds_worth_at_once_then_the_rate() -> None:
    budget = ReadBudget(100)
    assert admitted(budget, "192.0.2.1", 1_000, now=0.0) == 100
    assert admitted(budget, "192.0.2.1", 1_000, now=0.5) == 50
    assert admitted(budget, "192.0.2.1", 1_000, now=10.0) == 100  # a burst again, never more


def test_one_source_over_its_budget_leaves_another_its_own() -> None:
    budget = ReadBudget(100)
    admitted(budget, "192.0.2.1", 10_000, now=0.0)
    assert admitted(budget, "192.0.2.2", 100, now=0.0) == 100


def test_past_the_sources_kept_the_quiet_ones_are_forgotten_and_the_busy_one_stays_counted() -> None:
    budget = ReadBudget(10, max_sources=3)
    admitted(budget, "192.0.2.1", 10, now=0.0)  # spent
    budget.admit("192.0.2.2", 0.0)
    budget.admit("192.0.2.3", 0.0)
    assert admitted(budget, "192.0.2.1", 100, now=1.5) == 10  # busy still: spent again
    assert budget.admit("192.0.2.4", 2.0)  # 2 and 3 have been quiet a whole refill: forgotten
    assert admitted(budget, "192.0.2.1", 100, now=2.0) == 5  # its half second's worth, not a fresh burst


def test_stream_messages_past_the_budget_make_a_debt_that_pauses_reading_until_paid() -> None:
    budget = ReadBudget(100)
    assert budget.charge("192.0.2.1", 100, now=0.0) == 0.0  # a second's worth at once
    assert budget.charge("192.0.2.1", 50, now=0.0) == 0.5  # half a second owed
    assert budget.charge("192.0.2.1", 0, now=0.25) == 0.25
    assert budget.charge("192.0.2.1", 1, now=0.5) == 0.01
    assert budget.charge("192.0.2.2", 100, now=0.5) == 0.0  # another address: its own
    assert not budget.admit("192.0.2.1", 0.5)  # still owing


def test_a_rate_of_zero_is_refused() -> None:
    with pytest.raises(ValueError, match="positive rate"):
        ReadBudget(0)
