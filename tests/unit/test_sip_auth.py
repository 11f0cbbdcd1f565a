import hashlib
import re

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from smartbook_tui.sip import auth as auth_module
from smartbook_tui.sip.auth import (
    REFUSED,
    SUPPORTED_ALGORITHMS,
    AuthError,
    Challenge,
    Credentials,
    DigestSession,
    authorization,
    choose_challenge,
    parse_challenge,
)

PASSWORD = "s3cret-Circle-Of-Life"
_FIELD = re.compile(r'([\w-]+)=(?:"((?:[^"\\]|\\.)*)"|([^,\s]+))')


def fields(header: str) -> dict[str, str]:
    """The parameters of an Authorization value, unquoted (a small parser of the tests' own)."""
    assert header.startswith("Digest ")
    found = {}
    for name, quoted, bare in _FIELD.findall(header[len("Digest ") :]):
        assert name not in found
        found[name] = re.sub(r"\\(.)", r"\1", quoted) if bare == "" else bare
    return found


def md5(text: str) -> str:
    return hashlib.md5(text.encode()).hexdigest()


def sip_challenge(nonce: str = "n1", *, stale: bool = False, realm: str = "sip.example.org", extra: str = "") -> str:
    value = f'Digest realm="{realm}", nonce="{nonce}", algorithm=MD5, qop="auth"{extra}'
    return value + (", stale=true" if stale else "")


# ---------------------------------------------------------------------------------------------- RFC vectors


def test_rfc2617_section_3_5_example():
    challenge = parse_challenge(
        'Digest\r\n        realm="testrealm@host.com",\r\n        qop="auth,auth-int",\r\n'
        '        nonce="dcd98b7102dd2f0e8b11d0f600bfb0c093",\r\n'
        '        opaque="5ccc069c403ebaf9f0171e9517f40e41"'
    )
    header = authorization(
        challenge,
        method="GET",
        uri="/dir/index.html",
        credentials=Credentials("Mufasa", "Circle Of Life"),
        cnonce="0a4f113b",
        nonce_count=1,
    )
    assert fields(header) == {
        "username": "Mufasa",
        "realm": "testrealm@host.com",
        "nonce": "dcd98b7102dd2f0e8b11d0f600bfb0c093",
        "uri": "/dir/index.html",
        "response": "6629fae49393a05397450978507c4ef1",
        "algorithm": "MD5",
        "cnonce": "0a4f113b",
        "qop": "auth",
        "nc": "00000001",
        "opaque": "5ccc069c403ebaf9f0171e9517f40e41",
    }
    assert header == (
        'Digest username="Mufasa", realm="testrealm@host.com", nonce="dcd98b7102dd2f0e8b11d0f600bfb0c093", '
        'uri="/dir/index.html", response="6629fae49393a05397450978507c4ef1", algorithm=MD5, cnonce="0a4f113b", '
        'qop=auth, nc=00000001, opaque="5ccc069c403ebaf9f0171e9517f40e41"'
    )


@pytest.mark.parametrize(
    ("algorithm", "response"),
    [
        ("SHA-256", "753927fa0e85d155564e2e272a28d1802ca10daf4496794697cf8db5856cb6c1"),
        ("MD5", "8ca523f5e9506fed4657c9700eebdbec"),
    ],
)
def test_rfc7616_section_3_9_1_examples(algorithm, response):
    challenge = parse_challenge(
        f'Digest realm="http-auth@example.org", qop="auth, auth-int", algorithm={algorithm}, '
        'nonce="7ypf/xlj9XXwfDPEoM4URrv/xwf94BcCAzFZH4GiTo0v", opaque="FQhe/qaU925kfnzjCev0ciny7QMkPqMAFRtzCUYo5tdS"'
    )
    header = authorization(
        challenge,
        method="GET",
        uri="/dir/index.html",
        credentials=Credentials("Mufasa", "Circle of Life"),
        cnonce="f2/wE4q74E6zIJEtWaHKaf5wv/H5QzzpXusqGemxURZJ",
        nonce_count=1,
    )
    got = fields(header)
    assert got["response"] == response
    assert (got["algorithm"], got["qop"], got["nc"]) == (algorithm, "auth", "00000001")
    assert got["opaque"] == "FQhe/qaU925kfnzjCev0ciny7QMkPqMAFRtzCUYo5tdS"


def test_sip_md5_without_qop_uses_the_rfc2069_response():
    challenge = parse_challenge('Digest realm="atlanta.com", nonce="84a4cc6f3082121f32b42a2187831a9e"')
    assert (challenge.algorithm, challenge.qop, challenge.opaque) == ("MD5", (), None)
    header = authorization(
        challenge,
        method="REGISTER",
        uri="sip:atlanta.com",
        credentials=Credentials("bob", "zanzibar"),
        cnonce="unused",
        nonce_count=1,
    )
    ha1 = md5("bob:atlanta.com:zanzibar")
    ha2 = md5("REGISTER:sip:atlanta.com")
    assert fields(header) == {
        "username": "bob",
        "realm": "atlanta.com",
        "nonce": "84a4cc6f3082121f32b42a2187831a9e",
        "uri": "sip:atlanta.com",
        "response": md5(f"{ha1}:84a4cc6f3082121f32b42a2187831a9e:{ha2}"),
        "algorithm": "MD5",
    }


def test_md5_sess_hashes_nonce_and_cnonce_into_a1():
    challenge = parse_challenge('Digest realm="r", nonce="n", algorithm=md5-SESS, qop=auth')
    assert challenge.algorithm == "MD5-sess"
    got = fields(
        authorization(
            challenge, method="INVITE", uri="sip:b@r", credentials=Credentials("a", "p"), cnonce="c", nonce_count=7
        )
    )
    ha1 = md5(f"{md5('a:r:p')}:n:c")
    assert got["response"] == md5(f"{ha1}:n:00000007:c:auth:{md5('INVITE:sip:b@r')}")
    assert (got["algorithm"], got["nc"]) == ("MD5-sess", "00000007")


def test_sha256_sess():
    def sha(text: str) -> str:
        return hashlib.sha256(text.encode()).hexdigest()

    challenge = parse_challenge('Digest realm="r", nonce="n", algorithm=SHA-256-sess, qop="auth"')
    got = fields(
        authorization(
            challenge, method="BYE", uri="sip:b@r", credentials=Credentials("a", "p"), cnonce="c", nonce_count=1
        )
    )
    ha1 = sha(f"{sha('a:r:p')}:n:c")
    assert got["response"] == sha(f"{ha1}:n:00000001:c:auth:{sha('BYE:sip:b@r')}")


def test_auth_int_only_when_auth_is_not_offered_and_it_covers_the_body():
    body = b"<presence/>"
    challenge = parse_challenge('Digest realm="r", nonce="n", qop="auth-int"')
    got = fields(
        authorization(
            challenge,
            method="PUBLISH",
            uri="sip:a@r",
            credentials=Credentials("a", "p"),
            cnonce="c",
            nonce_count=1,
            body=body,
        )
    )
    ha2 = md5(f"PUBLISH:sip:a@r:{hashlib.md5(body).hexdigest()}")
    assert got["qop"] == "auth-int"
    assert got["response"] == md5(f"{md5('a:r:p')}:n:00000001:c:auth-int:{ha2}")
    both = parse_challenge('Digest realm="r", nonce="n", qop="auth-int,auth"')
    answer = authorization(
        both, method="PUBLISH", uri="sip:a@r", credentials=Credentials("a", "p"), cnonce="c", nonce_count=1
    )
    assert fields(answer)["qop"] == "auth"


def test_userhash_sends_the_hashed_user_name():
    challenge = parse_challenge('Digest realm="r", nonce="n", algorithm=SHA-256, qop=auth, userhash=TRUE')
    assert challenge.userhash
    got = fields(
        authorization(
            challenge, method="REGISTER", uri="sip:r", credentials=Credentials("alice", "p"), cnonce="c", nonce_count=1
        )
    )
    assert got["username"] == hashlib.sha256(b"alice:r").hexdigest()
    assert got["userhash"] == "true"


def test_values_are_quoted_with_escapes():
    challenge = parse_challenge(r'Digest realm="a \"quoted\" realm\\", nonce="n\"1", opaque="o\\p"')
    assert (challenge.realm, challenge.nonce, challenge.opaque) == ('a "quoted" realm\\', 'n"1', "o\\p")
    header = authorization(
        challenge, method="REGISTER", uri="sip:r", credentials=Credentials('bo"b\\', "p"), cnonce="c", nonce_count=1
    )
    assert r'username="bo\"b\\"' in header
    assert r'realm="a \"quoted\" realm\\"' in header
    assert r'nonce="n\"1"' in header
    assert r'opaque="o\\p"' in header
    got = fields(header)
    assert (got["username"], got["realm"], got["nonce"]) == ('bo"b\\', 'a "quoted" realm\\', 'n"1')
    # The response covers the unquoted values.
    ha1 = md5('bo"b\\:a "quoted" realm\\:p')
    assert got["response"] == md5(f'{ha1}:n"1:{md5("REGISTER:sip:r")}')


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"nonce_count": 0}, "nonce count 0"),
        ({"nonce_count": 2**32}, "nonce count"),
        ({"method": "REG ISTER"}, "request method"),
        ({"uri": "sip:a b"}, "request URI"),
        ({"uri": ""}, "request URI"),
        ({"cnonce": ""}, "cnonce"),
        ({"credentials": Credentials("", PASSWORD)}, "user name is empty"),
        ({"credentials": Credentials("al\r\nice", PASSWORD)}, "user name contains a control character"),
        ({"credentials": Credentials("alice", PASSWORD, realm="other")}, "credentials are for"),
    ],
)
def test_bad_request_data_is_refused(change, message):
    arguments = {
        "method": "REGISTER",
        "uri": "sip:r",
        "credentials": Credentials("alice", PASSWORD),
        "cnonce": "c",
        "nonce_count": 1,
    } | change
    with pytest.raises(AuthError, match=message) as error:
        authorization(parse_challenge(sip_challenge()), **arguments)
    assert PASSWORD not in str(error.value)


def test_sess_without_qop_cannot_be_answered():
    challenge = parse_challenge('Digest realm="r", nonce="n", algorithm=MD5-sess')
    with pytest.raises(AuthError, match="MD5-sess without a qop"):
        authorization(
            challenge, method="REGISTER", uri="sip:r", credentials=Credentials("a", "p"), cnonce="c", nonce_count=1
        )


def test_unsupported_algorithm_and_qop():
    with pytest.raises(AuthError, match=r"^the server asks for an unsupported digest algorithm SHA-512-256$"):
        authorization(
            parse_challenge('Digest realm="r", nonce="n", algorithm=SHA-512-256, qop=auth'),
            method="REGISTER",
            uri="sip:r",
            credentials=Credentials("a", "p"),
            cnonce="c",
            nonce_count=1,
        )
    with pytest.raises(AuthError, match="unsupported quality of protection"):
        authorization(
            parse_challenge('Digest realm="r", nonce="n", qop="auth-conf"'),
            method="REGISTER",
            uri="sip:r",
            credentials=Credentials("a", "p"),
            cnonce="c",
            nonce_count=1,
        )


# ---------------------------------------------------------------------------------------------- parsing


@pytest.mark.parametrize(
    "value",
    [
        'Digest realm="sip.example.org", nonce="abc", qop="auth", algorithm=MD5',
        'digest   REALM = "sip.example.org" ,NONCE=abc,QOP=auth',
        'DIGEST nonce="abc",\tqop="auth",realm="sip.example.org", unknown="x, y", unknown=z, other=1',
        '  Digest realm="sip.example.org",, , nonce="abc" , qop=" auth "  ',
        'Digest realm="sip.example.org",\r\n nonce="abc",\r\n\tqop="auth"',
        'Digest realm="sip.\\example.org", nonce="\\abc", qop="auth", algorithm="md5"',
    ],
)
def test_parsing_variants_give_the_same_challenge(value):
    assert parse_challenge(value) == Challenge(
        scheme="Digest", realm="sip.example.org", nonce="abc", algorithm="MD5", qop=("auth",)
    )


def test_parse_reads_every_parameter():
    challenge = parse_challenge(
        'Digest realm="r", domain="sip:a.example sip:b.example", nonce=Zm9v/YmFy==, opaque="o", stale=TRUE, '
        'algorithm=sha-256, qop="auth,auth-int", userhash=true, charset=UTF-8'
    )
    assert challenge == Challenge(
        scheme="Digest",
        realm="r",
        nonce="Zm9v/YmFy==",
        algorithm="SHA-256",
        qop=("auth", "auth-int"),
        opaque="o",
        stale=True,
        userhash=True,
        domain=("sip:a.example", "sip:b.example"),
    )


@pytest.mark.parametrize(("value", "stale"), [("true", True), ("TRUE", True), ('"true"', True), ("false", False)])
def test_stale_flag(value, stale):
    assert parse_challenge(f'Digest realm="r", nonce="n", stale={value}').stale is stale


@pytest.mark.parametrize(
    ("value", "message"),
    [
        ("", "is empty"),
        ("   ", "is empty"),
        ('Basic realm="r"', '^the server asks for "Basic" authentication; only Digest is supported$'),
        ('Bearer realm="r"', "only Digest"),
        ("Digest", "no realm"),
        ('Digest realm="r"', "^the server's challenge has no nonce$"),
        ('Digest realm="r", nonce=""', "no nonce"),
        ('Digest nonce="n"', "no realm"),
        ('Digest realm="r, nonce=n', "unterminated"),
        ('Digest realm="r", nonce="n\\', "unterminated"),
        ('Digest realm="r", nonce', "without a value"),
        ('Digest realm="r", nonce=', "without a value"),
        ('Digest realm=, nonce="n"', "without a value"),
        ('Digest realm="r" nonce="n"', "unexpected text"),
        ('Digest realm="r", nonce="n" x', "unexpected text"),
        ('Digest realm="r", nonce="n", Basic realm="x"', "without a value"),
        ('Digest realm="r", realm="s", nonce="n"', "gives realm twice"),
        ('Digest realm="r", nonce="n\r\nVia: evil"', "control character"),
        ('Digest realm="r", nonce="n\x00"', "control character"),
        ('Digest,realm="r", nonce="n"', "malformed"),
        ('Digest realm="r", @="n"', "malformed"),
        ('"Digest" realm="r"', "does not start with an authentication scheme"),
    ],
)
def test_broken_challenges_raise_auth_error(value, message):
    with pytest.raises(AuthError, match=message) as error:
        parse_challenge(value)
    assert "\n" not in str(error.value)


def test_text_that_is_not_utf8_is_refused():
    # What a header decoded with errors="surrogateescape" holds for bytes that are not UTF-8.
    with pytest.raises(AuthError, match="not valid UTF-8"):
        parse_challenge('Digest realm="r", nonce="\udcff"')
    challenge = parse_challenge(sip_challenge())
    with pytest.raises(AuthError, match="not valid UTF-8") as error:
        authorization(
            challenge,
            method="REGISTER",
            uri="sip:r",
            credentials=Credentials("alice", PASSWORD + "\udcff"),
            cnonce="c",
            nonce_count=1,
        )
    assert PASSWORD not in str(error.value)


def test_long_server_text_is_cut_short_in_messages():
    with pytest.raises(AuthError) as error:
        parse_challenge("X" * 10_000 + ' realm="r"')
    assert len(str(error.value)) < 120


# ---------------------------------------------------------------------------------------------- choosing


def test_choose_prefers_sha256_and_skips_what_cannot_be_answered():
    values = [
        'Basic realm="r"',
        'Digest realm="r", nonce="n0", algorithm=SHA-512-256, qop=auth',
        'Digest realm="r", nonce="n1", algorithm=MD5, qop=auth',
        "Digest garbage",
        'Digest realm="r", nonce="n2", algorithm=SHA-256, qop=auth',
        'Digest realm="r", nonce="n3", algorithm=SHA-256-sess, qop=auth',
    ]
    assert choose_challenge(values).nonce == "n2"
    assert choose_challenge(values[:4]).nonce == "n1"


def test_choose_keeps_the_servers_order_among_equals():
    values = [sip_challenge("first"), sip_challenge("second")]
    assert choose_challenge(values).nonce == "first"


def test_choose_filters_by_realm():
    values = [sip_challenge("n1", realm="proxy.example"), sip_challenge("n2", realm="sip.example.org")]
    assert choose_challenge(values, realm="sip.example.org").nonce == "n2"
    with pytest.raises(AuthError, match=r'realm "proxy\.example", not "elsewhere"'):
        choose_challenge(values[:1], realm="elsewhere")


def test_choose_errors_say_why():
    with pytest.raises(TypeError, match="list of header values"):
        choose_challenge(sip_challenge())
    with pytest.raises(AuthError, match=r"^the server sent no authentication challenge$"):
        choose_challenge([])
    with pytest.raises(AuthError, match=r"^the server asks for an unsupported digest algorithm SHA-512-256$"):
        choose_challenge(['Digest realm="r", nonce="n", algorithm=SHA-512-256, qop=auth'] * 2)
    with pytest.raises(AuthError, match=r"^none of the server's 2 challenges can be answered: .*SHA-512-256.*Basic"):
        choose_challenge(['Digest realm="r", nonce="n", algorithm=SHA-512-256', 'Basic realm="r"'])


def test_supported_algorithms():
    assert SUPPORTED_ALGORITHMS == ("MD5", "MD5-sess", "SHA-256", "SHA-256-sess")


# ---------------------------------------------------------------------------------------------- the session


def answer(session: DigestSession, *values: str, cnonce: str = "c") -> dict[str, str]:
    return fields(session.answer(list(values), method="SUBSCRIBE", uri="sip:rls@sip.example.org", cnonce=cnonce))


def test_nonce_count_progression():
    session = DigestSession(Credentials("alice", PASSWORD))
    assert session.authorize(method="SUBSCRIBE", uri="sip:rls@sip.example.org", cnonce="c") is None
    assert answer(session, sip_challenge("n1"))["nc"] == "00000001"
    session.accepted()
    # Reusing the nonce for later requests counts on.
    for expected in ("00000002", "00000003"):
        header = session.authorize(method="SUBSCRIBE", uri="sip:rls@sip.example.org", cnonce="c")
        assert header is not None
        assert (fields(header)["nonce"], fields(header)["nc"]) == ("n1", expected)
        session.accepted()
    # The nonce expired: a new nonce starts at 1 again.
    assert answer(session, sip_challenge("n2", stale=True))["nc"] == "00000001"
    session.accepted()
    header = session.authorize(method="SUBSCRIBE", uri="sip:rls@sip.example.org", cnonce="c")
    assert fields(header or "")["nc"] == "00000002"
    # The server goes back to the first nonce: its count goes on from where it was.
    assert answer(session, sip_challenge("n1", stale=True))["nc"] == "00000004"


def test_stale_challenge_with_the_same_nonce_counts_on():
    session = DigestSession(Credentials("alice", PASSWORD))
    assert answer(session, sip_challenge("n1"))["nc"] == "00000001"
    assert session.should_retry(parse_challenge(sip_challenge("n1", stale=True)))
    assert answer(session, sip_challenge("n1", stale=True))["nc"] == "00000002"


def test_the_same_nonce_again_without_stale_means_a_wrong_password():
    session = DigestSession(Credentials("alice", "wrong"))
    first = parse_challenge(sip_challenge("n1"))
    assert session.should_retry(first)
    answer(session, sip_challenge("n1"))
    assert not session.should_retry(first)
    with pytest.raises(AuthError, match=f"^{REFUSED}$"):
        answer(session, sip_challenge("n1"))
    assert REFUSED == "the server refused the user name or password"


def test_a_new_nonce_or_stale_deserves_a_retry():
    session = DigestSession(Credentials("alice", PASSWORD))
    answer(session, sip_challenge("n1"))
    assert session.should_retry(parse_challenge(sip_challenge("n2")))
    assert session.should_retry(parse_challenge(sip_challenge("n2", stale=True)))
    assert session.should_retry(parse_challenge(sip_challenge("n1", stale=True)))


def test_fresh_nonces_on_every_401_stop_after_max_attempts():
    session = DigestSession(Credentials("alice", "wrong"))
    answer(session, sip_challenge("n1"))
    answer(session, sip_challenge("n2"))
    assert not session.should_retry(parse_challenge(sip_challenge("n3")))
    with pytest.raises(AuthError, match=f"^{REFUSED}$"):
        answer(session, sip_challenge("n3"))
    with pytest.raises(AuthError, match="stale"):
        answer(session, sip_challenge("n3", stale=True))


def test_accepted_resets_the_rule_but_not_the_counts():
    session = DigestSession(Credentials("alice", PASSWORD), max_attempts=1)
    answer(session, sip_challenge("n1"))
    assert not session.should_retry(parse_challenge(sip_challenge("n2")))
    session.accepted()
    # A server that hands out the same nonce again later: answered, with the next count.
    assert session.should_retry(parse_challenge(sip_challenge("n1")))
    assert answer(session, sip_challenge("n1"))["nc"] == "00000002"


def test_preemptive_credentials_do_not_count_as_attempts():
    session = DigestSession(Credentials("alice", PASSWORD))
    answer(session, sip_challenge("n1"))
    session.accepted()
    for _ in range(5):
        session.authorize(method="SUBSCRIBE", uri="sip:rls@sip.example.org", cnonce="c")
    assert session.should_retry(parse_challenge(sip_challenge("n1")))
    assert session.should_retry(parse_challenge(sip_challenge("n2")))


def test_session_uses_the_realm_of_its_credentials():
    session = DigestSession(Credentials("alice", PASSWORD, realm="sip.example.org"))
    got = answer(session, sip_challenge("p1", realm="proxy.example"), sip_challenge("s1"))
    assert (got["realm"], got["nonce"]) == ("sip.example.org", "s1")
    with pytest.raises(AuthError, match="realm"):
        answer(session, sip_challenge("p2", realm="proxy.example"))


def test_a_failed_answer_changes_no_state():
    session = DigestSession(Credentials("alice", PASSWORD))
    with pytest.raises(AuthError, match="request URI"):
        session.answer([sip_challenge("n1")], method="SUBSCRIBE", uri="", cnonce="c")
    assert session.nonce_count(parse_challenge(sip_challenge("n1"))) == 1
    assert answer(session, sip_challenge("n1"))["nc"] == "00000001"


def test_max_attempts_must_be_positive():
    with pytest.raises(ValueError, match="max_attempts"):
        DigestSession(Credentials("a", "p"), max_attempts=0)


# ---------------------------------------------------------------------------------------------- secrets


def test_the_password_never_shows():
    credentials = Credentials("alice", PASSWORD, realm="sip.example.org")
    session = DigestSession(credentials)
    assert PASSWORD not in repr(credentials)
    assert PASSWORD not in str(credentials)
    assert "alice" in repr(credentials)
    assert PASSWORD not in repr(session)
    header = session.answer([sip_challenge("n1")], method="REGISTER", uri="sip:sip.example.org", cnonce="c")
    assert PASSWORD not in header
    messages = []
    for values in ([sip_challenge("n1")], ['Digest realm="other", nonce="x"'], ["Basic x"], []):
        with pytest.raises(AuthError) as error:
            session.answer(values, method="REGISTER", uri="sip:sip.example.org", cnonce="c")
        messages.append(str(error.value))
    assert messages[0] == REFUSED
    assert all(PASSWORD not in message for message in messages)


# ---------------------------------------------------------------------------------------------- properties


@settings(max_examples=300, deadline=None)
@given(st.text(max_size=200))
def test_random_text_raises_only_auth_error(value):
    message = ""
    try:
        parse_challenge(value)
    except AuthError as error:
        message = str(error)
    assert "\n" not in message


_PIECES = st.sampled_from(
    [
        "Digest ",
        "digest",
        "realm",
        "nonce",
        "qop",
        "stale",
        "algorithm",
        "=",
        '"',
        "\\",
        ",",
        " ",
        "\t",
        "\r\n ",
        "x",
        "é",
    ]
)


@settings(max_examples=300, deadline=None)
@given(st.lists(_PIECES, max_size=30).map("".join))
def test_random_header_like_text_raises_only_auth_error(value):
    try:
        challenge = parse_challenge(value)
    except AuthError:
        return
    assert challenge.nonce
    assert challenge.scheme == "Digest"


_VALUE = st.text(st.characters(min_codepoint=0x20, max_codepoint=0x2FF, exclude_characters="\x7f"), min_size=1)


def quote(value: str) -> str:
    return '"' + value.replace("\\", "\\\\").replace('"', '\\"') + '"'


@settings(max_examples=200, deadline=None)
@given(realm=_VALUE, nonce=_VALUE, opaque=_VALUE, username=_VALUE)
def test_quoted_values_survive_a_round_trip(realm, nonce, opaque, username):
    challenge = parse_challenge(f"Digest opaque={quote(opaque)}, nonce={quote(nonce)}, realm={quote(realm)}, qop=auth")
    assert (challenge.realm, challenge.nonce, challenge.opaque) == (realm, nonce, opaque)
    header = authorization(
        challenge, method="REGISTER", uri="sip:r", credentials=Credentials(username, "p"), cnonce="c", nonce_count=1
    )
    got = fields(header)
    assert (got["username"], got["realm"], got["nonce"], got["opaque"]) == (username, realm, nonce, opaque)


_LIST_PIECES = st.sampled_from(["a", "Nc", "=", '"', "\\", ",", " ", "\t", "x y", "/=", "é", '\\"'])


@settings(max_examples=500, deadline=None)
@given(st.lists(_LIST_PIECES, max_size=24).map("".join))
def test_the_quick_parameter_reader_agrees_with_the_checked_one(text):
    """A server reads every request's credentials with one pattern a parameter; whenever that reader takes a list,
    the step-by-step reader (which words the errors) reads it the same, and where it gives up, that one refuses."""
    quick = auth_module._plain_pairs(text, 0)
    try:
        checked = auth_module._checked_pairs(text, 0, "the header")
    except AuthError:
        assert quick is None
        return
    assert quick in (None, checked)
