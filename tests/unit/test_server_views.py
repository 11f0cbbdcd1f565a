"""What a watcher sees of an account: the view's PIDF document is its presence as `build_pidf` writes it."""

from __future__ import annotations

import pytest

from smartbook_tui.presence import Activity, BasicStatus, Person, Presence, PresenceTuple, build_pidf, summarize
from smartbook_tui.presence.summary import Availability
from smartbook_tui.server.views import account_view

ALIAS = "sip:+33612345678@example.org;user=phone"


@pytest.mark.parametrize("entity", [ALIAS, 'sip:"a&b"<c>@example.org'])
@pytest.mark.parametrize("address", ["sip:bob@example.org", "sip:b&o<b>@example.org"])
@pytest.mark.parametrize("allowed", [True, False])
@pytest.mark.parametrize("legacy", [True, False])
def test_an_account_view_carries_its_presence_as_written(entity, address, allowed, legacy):
    view = account_view(entity, address, None, allowed=allowed, legacy=legacy)
    assert view.presence is not None
    assert view.document == build_pidf(view.presence)
    assert (view.presence.entity, view.presence.tuples[0].contact) == (entity, address)
    assert view.reachable


def test_each_form_shows_what_the_gate_lets_through():
    def status(allowed: bool, legacy: bool, live: Presence | None = None) -> Availability:
        view = account_view(ALIAS, "sip:bob@example.org", live, allowed=allowed, legacy=legacy)
        summary = summarize(view.presence)
        assert (summary.has_account, summary.sip_address) == (True, "sip:bob@example.org")
        return summary.status

    assert status(allowed=False, legacy=False) is Availability.UNKNOWN  # hidden
    assert status(allowed=False, legacy=True) is Availability.ONLINE  # as Flexisip shows it
    assert status(allowed=True, legacy=False) is Availability.OFFLINE  # a friend publishing nothing
    assert status(allowed=True, legacy=True) is Availability.ONLINE  # never closed for legacy Linphone
    live = Presence(
        "sip:bob@example.org",
        (PresenceTuple("t", BasicStatus.OPEN, "sip:bob@example.org"),),
        (Person("p", (Activity.AWAY,)),),
    )
    assert status(allowed=True, legacy=False, live=live) is Availability.AWAY
