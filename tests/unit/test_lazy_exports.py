"""The packages' names load on first use: every exported name is the submodule's own, and the app's launch path
does not load the vCard parser, phonenumbers, lxml, CardDAV's HTTP client or the NOTIFY decoders before its first
frame."""

from __future__ import annotations

import importlib
import subprocess
import sys

import pytest

PACKAGES = ("smartbook_tui.contacts", "smartbook_tui.presence", "smartbook_tui.subscriber")


@pytest.mark.parametrize("package", PACKAGES)
def test_every_exported_name_is_its_submodules(package: str) -> None:
    module = importlib.import_module(package)
    table = module._SUBMODULE_OF
    assert sorted(table) == sorted(module.__all__)
    for name, submodule in table.items():
        assert getattr(module, name) is getattr(importlib.import_module(f"{package}.{submodule}"), name)


@pytest.mark.parametrize("package", PACKAGES)
def test_an_unknown_name_is_an_attribute_error(package: str) -> None:
    module = importlib.import_module(package)
    with pytest.raises(AttributeError, match="no_such_name"):
        module.no_such_name  # noqa: B018


def test_star_import_and_submodule_import_still_work() -> None:
    namespace: dict[str, object] = {}
    exec("from smartbook_tui.presence import *\nfrom smartbook_tui.contacts import vcard", namespace)
    assert "parse_pidf" in namespace
    assert namespace["vcard"] is importlib.import_module("smartbook_tui.contacts.vcard")


def _loaded_after(statement: str, modules: list[str]) -> list[str]:
    code = f"import sys\n{statement}\nprint(' '.join(m for m in {modules!r} if m in sys.modules))"
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    return done.stdout.split()


def test_the_contact_model_loads_no_parser() -> None:
    assert _loaded_after("from smartbook_tui.contacts import Contact", ["vobject", "phonenumbers"]) == []


def test_the_launch_path_loads_no_parser_http_client_or_notify_decoder() -> None:
    launch = "import smartbook_tui.cli.app, smartbook_tui.roster.live_book, smartbook_tui.tui.app"
    heavy = [
        "vobject",
        "phonenumbers",
        "lxml",
        "httpx",
        "smartbook_tui.presence.notify",
        "smartbook_tui.subscriber.tracker",
    ]
    assert _loaded_after(launch, heavy) == []


def test_the_badge_rule_and_the_roster_load_no_xml_parser() -> None:
    statements = (
        "import smartbook_tui.presence.summary",
        "import smartbook_tui.roster.model",
        "from smartbook_tui.presence import NO_PRESENCE, Availability, PresenceSummary, Presence",
    )
    for statement in statements:
        assert _loaded_after(statement, ["lxml", "smartbook_tui.presence.pidf"]) == [], statement
