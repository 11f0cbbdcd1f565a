import pytest

from smartbook_tui.server.requests import accepts_deflate, entry_key, is_legacy_linphone
from smartbook_tui.sip.message import Headers, SipRequest


@pytest.mark.parametrize(
    ("uri", "key"),
    [
        ("sip:+33612345678@example.org;user=phone", "+33612345678"),
        ("sip:+33612345678@EXAMPLE.org;user=phone", "+33612345678"),
        ("sip:+33612345678@example.org", "+33612345678"),
        ("sip:+33-6-12-34-56-78@example.org;user=phone", "+33612345678"),
        ("tel:+33612345678", "+33612345678"),
        ("tel:0612345678;phone-context=example.org", None),
        ("sip:alice@example.org", "alice"),
        ("sip:alice@example.org;transport=tcp", "alice"),
        ("sip:alice@elsewhere.net", None),
        ("sip:+33612345678@elsewhere.net;user=phone", None),
        ("sip:example.org", None),
        ("sip:+123@example.org;user=phone", None),
        ("mailto:alice@example.org", None),
        ("not a uri", None),
    ],
)
def test_entry_key_names_a_number_a_username_or_nothing(uri, key):
    assert entry_key(uri, "example.org") == key


@pytest.mark.parametrize(
    ("user_agent", "legacy"),
    [
        ("Linphonec/5.1.65 (belle-sip/5.1.55)", True),
        ("LinphoneAndroid/5.0.14 (Pixel) LinphoneSDK/5.2.98", True),
        ("Linphone-Desktop/5.2.0 (Debian) Qt/5.15 LinphoneCore/5.3.1", True),
        ("LinphoneiOS/6.0 (iPhone) LinphoneSDK/5.4.2", False),
        ("Linphone-Desktop/6.0 LinphoneCore/5.10.0", False),
        ("Linphone/3.12.0 (belle-sip/1.6.3)", True),
        ("LinphoneAndroid/4.3.1 (Galaxy)", True),
        ("LinphoneAndroid/6.0.1 (Pixel)", False),
        ("smartbook/0.1", False),
        (None, False),
    ],
)
def test_legacy_linphone_is_told_by_its_library_version(user_agent, legacy):
    assert is_legacy_linphone(user_agent) is legacy


@pytest.mark.parametrize(
    ("values", "deflate"),
    [(["deflate"], True), (["gzip, DEFLATE;q=0.5"], True), (["deflate;q=0"], False), (["gzip"], False), ([], False)],
)
def test_accept_encoding(values, deflate):
    request = SipRequest("SUBSCRIBE", "sip:rls@example.org", Headers([("Accept-Encoding", v) for v in values]))
    assert accepts_deflate(request) is deflate
