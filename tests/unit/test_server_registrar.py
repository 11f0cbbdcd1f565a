import logging

import pytest

from smartbook_tui.server.registrar import RegisterError, Registrar, contact_values
from smartbook_tui.sip.message import Headers, SipRequest

ALICE = "sip:alice@example.org"


def register(*contacts: str, expires: int | None = None, call_id: str = "c1", cseq: int = 1, to: str = ALICE):
    headers = Headers(
        [
            ("Via", "SIP/2.0/UDP 192.0.2.1;branch=z9hG4bKr"),
            ("From", f"<{to}>;tag=1"),
            ("To", f"<{to}>"),
            ("Call-ID", call_id),
            ("CSeq", f"{cseq} REGISTER"),
        ]
    )
    for contact in contacts:
        headers.add("Contact", contact)
    if expires is not None:
        headers.add("Expires", expires)
    return SipRequest("REGISTER", "sip:example.org", headers)


def test_register_query_refresh_and_unregister():
    registrar = Registrar()
    bindings = registrar.register(ALICE, register("<sip:alice@192.0.2.1:5060>", expires=600), 0.0, source="peer-1")
    assert [(str(b.contact.uri), b.expires_in(0.0), b.source) for b in bindings] == [
        ("sip:alice@192.0.2.1:5060", 600, "peer-1")
    ]
    assert contact_values(bindings, 100.0) == ["<sip:alice@192.0.2.1:5060>;expires=500"]
    assert registrar.register(ALICE, register(cseq=2), 10.0) == bindings  # no Contact: a query
    refreshed = registrar.register(ALICE, register("<sip:alice@192.0.2.1:5060>", expires=600, cseq=3), 300.0)
    assert refreshed[0].expires_in(300.0) == 600
    assert registrar.register(ALICE, register("<sip:alice@192.0.2.1:5060>;expires=0", cseq=4), 301.0) == []


def test_several_devices_and_instance_ids():
    registrar = Registrar()
    registrar.register(ALICE, register('<sip:a@192.0.2.1>;+sip.instance="<urn:uuid:1>"', call_id="p"), 0.0)
    registrar.register(ALICE, register("<sip:a@192.0.2.2>", call_id="d"), 0.0)
    moved = registrar.register(ALICE, register('<sip:a@198.51.100.7>;+sip.instance="<urn:uuid:1>"', call_id="p2"), 1.0)
    assert sorted(str(b.contact.uri) for b in moved) == ["sip:a@192.0.2.2", "sip:a@198.51.100.7"]


def test_expiry_limits():
    registrar = Registrar(min_expires=60, max_expires=3600, default_expires=600)
    with pytest.raises(RegisterError) as refused:
        registrar.register(ALICE, register("<sip:a@192.0.2.1>", expires=30), 0.0)
    assert (refused.value.status, refused.value.headers) == (423, {"Min-Expires": "60"})
    assert registrar.register(ALICE, register("<sip:a@192.0.2.1>;expires=99999"), 0.0)[0].expires_in(0.0) == 3600
    assert registrar.register(ALICE, register("<sip:b@192.0.2.1>", cseq=2), 0.0)[-1].expires_in(0.0) == 600


def test_expiry_drops_bindings_and_reports_the_account():
    registrar = Registrar()
    registrar.register(ALICE, register("<sip:a@192.0.2.1>", expires=60), 0.0)
    assert registrar.next_expiry == 60.0
    assert registrar.expire(59.0) == set()
    assert registrar.expire(60.0) == {"sip:alice@example.org"}
    assert registrar.bindings(ALICE, 61.0) == []


def test_star_removes_everything_but_only_alone_with_expires_0():
    registrar = Registrar()
    registrar.register(ALICE, register("<sip:a@192.0.2.1>", "<sip:a@192.0.2.2>"), 0.0)
    with pytest.raises(RegisterError, match="Contact: \\* needs Expires: 0"):
        registrar.register(ALICE, register("*", expires=60, cseq=2), 1.0)
    assert registrar.register(ALICE, register("*", expires=0, cseq=3), 1.0) == []


@pytest.mark.parametrize(
    ("request_", "status"),
    [
        (register("<sip:a@192.0.2.1>", to="sip:mallory@example.org"), 403),
        (register("<sip:a@192.0.2.1>;expires=soon"), 400),
        (register("<not a uri"), 400),
    ],
)
def test_refusals(request_, status):
    with pytest.raises(RegisterError) as refused:
        Registrar().register(ALICE, request_, 0.0)
    assert refused.value.status == status


def test_out_of_order_cseq_and_the_device_cap():
    registrar = Registrar(max_bindings=2)
    registrar.register(ALICE, register("<sip:a@192.0.2.1>", cseq=5), 0.0)
    with pytest.raises(RegisterError) as refused:
        registrar.register(ALICE, register("<sip:a@192.0.2.1>", cseq=4), 1.0)
    assert refused.value.status == 500
    registrar.register(ALICE, register("<sip:a@192.0.2.2>", call_id="c2"), 1.0)
    with pytest.raises(RegisterError) as refused:
        registrar.register(ALICE, register("<sip:a@192.0.2.3>", call_id="c3"), 1.0)
    assert refused.value.status == 403


def test_a_refused_register_changes_nothing():
    registrar = Registrar(max_bindings=1)
    before = registrar.register(ALICE, register("<sip:a@192.0.2.1>"), 0.0)
    with pytest.raises(RegisterError):
        registrar.register(ALICE, register("<sip:a@192.0.2.2>", call_id="c2"), 1.0)
    with pytest.raises(RegisterError):
        registrar.register(ALICE, register("<sip:a@192.0.2.1>;expires=0", "<sip:a@192.0.2.3>;expires=5"), 2.0)
    assert registrar.bindings(ALICE, 3.0) == before


def test_new_and_removed_registrations_are_logged_with_the_user_agent(caplog):
    caplog.set_level(logging.DEBUG, logger="smartbook_tui.server.registrar")
    registrar = Registrar()
    phone = register("<sip:a@192.0.2.1;transport=tcp>", expires=600)
    phone.headers.add("User-Agent", "smartbook/0.1.0")
    registrar.register(ALICE, phone, 0.0, source="TCP 192.0.2.1:40000")
    registrar.register(ALICE, register("<sip:a@192.0.2.2>", expires=60, call_id="desk"), 0.0)
    refresh = register("<sip:a@192.0.2.1;transport=tcp>", expires=600, cseq=2)
    refresh.headers.add("User-Agent", "smartbook/0.1.0")
    registrar.register(ALICE, refresh, 100.0)
    registrar.expire(60.0)
    registrar.register(ALICE, register("<sip:a@192.0.2.1;transport=tcp>;expires=0", cseq=3), 200.0)

    info = [record.getMessage() for record in caplog.records if record.levelno == logging.INFO]
    assert info == [
        "sip:alice@example.org registers sip:a@192.0.2.1;transport=tcp from TCP 192.0.2.1:40000 for 600 s"
        " (User-Agent: smartbook/0.1.0)",
        "sip:alice@example.org registers sip:a@192.0.2.2 for 60 s (no User-Agent)",
        "sip:alice@example.org: registration of sip:a@192.0.2.2 expired (no User-Agent)",
        "sip:alice@example.org unregisters sip:a@192.0.2.1;transport=tcp (User-Agent: smartbook/0.1.0)",
    ]
    debug = [record.getMessage() for record in caplog.records if record.levelno == logging.DEBUG]
    assert debug == ["sip:alice@example.org refreshes sip:a@192.0.2.1;transport=tcp for 600 s"]
