import hashlib

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from smartbook_tui.server.store import Store, compute_ha1
from smartbook_tui.sip.auth import Credentials, DigestSession, authorization, choose_challenge, parse_challenge
from smartbook_tui.sip.auth_server import (
    CREDENTIALS_REFUSED,
    Accepted,
    DigestVerifier,
    Malformed,
    Refused,
    Stale,
)

REALM = "example.org"
SECRET = b"0123456789abcdef0123456789abcdef"
PASSWORD = "s3cret-Circle-Of-Life"
URI = "sip:example.org"
NOW = 1_700_000_000.25
VERDICTS = (Accepted, Stale, Refused, Malformed)


def h(algorithm: str, text: str) -> str:
    """The tests' own digest, independent of the code under test (names it does not know hash with SHA-256)."""
    return hashlib.new("md5" if algorithm == "MD5" else "sha256", text.encode()).hexdigest()


def expected_response(algorithm, *, username, realm, password, nonce, nc, cnonce, method, uri, qop="auth"):
    """RFC 7616 section 3.4.1, qop=auth, not -sess."""
    ha1 = h(algorithm, f"{username}:{realm}:{password}")
    ha2 = h(algorithm, f"{method}:{uri}")
    return h(algorithm, f"{ha1}:{nonce}:{nc}:{cnonce}:{qop}:{ha2}")


def accounts(realm: str = REALM, users: dict[str, str] | None = None):
    """An `ha1` callback over {username: password}, recording its calls."""
    users = {"alice": PASSWORD} if users is None else users
    calls = []

    def ha1(username, algorithm):
        calls.append((username, algorithm))
        password = users.get(username)
        return None if password is None else compute_ha1(username, realm, password, algorithm)

    ha1.calls = calls
    return ha1


def header(**params: str) -> str:
    """A Digest credentials value with these parameters quoted, in this order; nc and qop and algorithm bare."""
    bare = {"nc", "qop", "algorithm"}
    return "Digest " + ", ".join(
        f"{name}={value}" if name in bare else f'{name}="{value}"' for name, value in params.items()
    )


def nonce_and_opaque(verifier: DigestVerifier, now: float = NOW) -> tuple[str, str]:
    challenge = parse_challenge(verifier.challenge(now)[0])
    return challenge.nonce, challenge.opaque


def credentials(
    verifier: DigestVerifier,
    *,
    nonce: str,
    opaque: str | None = None,
    username: str = "alice",
    password: str = PASSWORD,
    algorithm: str = "SHA-256",
    nc: str = "00000001",
    cnonce: str = "0a4f113b",
    method: str = "REGISTER",
    uri: str = URI,
    realm: str = REALM,
    **extra: str,
) -> str:
    response = expected_response(
        algorithm,
        username=username,
        realm=realm,
        password=password,
        nonce=nonce,
        nc=nc,
        cnonce=cnonce,
        method=method,
        uri=uri,
    )
    params = {"username": username, "realm": realm, "nonce": nonce, "uri": uri, "response": response}
    params |= {"algorithm": algorithm, "cnonce": cnonce, "qop": "auth", "nc": nc}
    if opaque is not None:
        params["opaque"] = opaque
    return header(**(params | extra))


@pytest.fixture
def verifier():
    return DigestVerifier(REALM, SECRET)


def verify(verifier, value, *, now=NOW, method="REGISTER", uri=URI, ha1=None):
    return verifier.verify(value, method=method, uri=uri, ha1=ha1 or accounts(), now=now)


# ---------------------------------------------------------------------------------------------- challenges


def test_challenges_are_what_the_client_reads(verifier):
    values = verifier.challenge(NOW)
    challenges = [parse_challenge(value) for value in values]
    assert [challenge.algorithm for challenge in challenges] == ["SHA-256", "MD5"]  # RFC 8760: SHA-256 first
    assert {challenge.nonce for challenge in challenges} == {challenges[0].nonce}
    for challenge in challenges:
        assert challenge.realm == REALM
        assert challenge.qop == ("auth",)
        assert challenge.opaque
        assert not challenge.stale
    assert choose_challenge(values).algorithm == "SHA-256"
    assert all(parse_challenge(value).stale for value in verifier.challenge(NOW, stale=True))


def test_nonces_differ_even_in_the_same_instant(verifier):
    nonces = {nonce_and_opaque(verifier, NOW)[0] for _ in range(50)}
    assert len(nonces) == 50


def test_a_realm_with_quotes_is_escaped():
    verifier = DigestVerifier('odd "realm" \\ here', SECRET)
    assert parse_challenge(verifier.challenge(NOW)[0]).realm == 'odd "realm" \\ here'


@pytest.mark.parametrize(
    ("arguments", "error"),
    [
        ({"realm": ""}, ValueError),
        ({"realm": "a\r\nb"}, ValueError),
        ({"secret": b"short"}, ValueError),
        ({"secret": "a text, not bytes!"}, ValueError),
        ({"nonce_lifetime": 0}, ValueError),
        ({"nonce_lifetime": float("inf")}, ValueError),
        ({"algorithms": ()}, ValueError),
        ({"algorithms": ("SHA-512",)}, ValueError),
        ({"algorithms": ("MD5", "md5")}, ValueError),
        ({"algorithms": "MD5"}, TypeError),
        ({"replay_cache_size": 0}, ValueError),
    ],
)
def test_bad_settings_are_refused(arguments, error):
    settings_ = {"realm": REALM, "secret": SECRET} | arguments
    with pytest.raises(error):
        DigestVerifier(settings_.pop("realm"), settings_.pop("secret"), **settings_)


def test_challenge_needs_a_finite_clock(verifier):
    with pytest.raises(ValueError, match="finite"):
        verifier.challenge(float("nan"))


# ---------------------------------------------------------------------------------------------- the client


@pytest.mark.parametrize("index", [0, 1])
def test_round_trip_with_the_client_for_each_offered_challenge(verifier, index):
    challenge = parse_challenge(verifier.challenge(NOW)[index])
    value = authorization(
        challenge,
        method="SUBSCRIBE",
        uri="sip:bob@example.org",
        credentials=Credentials("alice", PASSWORD),
        cnonce="f2/wE4q74E6zIJEt",
        nonce_count=1,
    )
    ha1 = accounts()
    verdict = verify(verifier, value, method="SUBSCRIBE", uri="sip:bob@example.org", ha1=ha1, now=NOW + 1)
    assert verdict == Accepted("alice", challenge.algorithm)
    assert ha1.calls == [("alice", challenge.algorithm)]


@pytest.mark.parametrize("algorithms", [("SHA-256-sess",), ("MD5-sess",), ("MD5",)])
def test_round_trip_with_other_algorithms(algorithms):
    verifier = DigestVerifier(REALM, SECRET, algorithms=algorithms)
    value = authorization(
        parse_challenge(verifier.challenge(NOW)[0]),
        method="REGISTER",
        uri=URI,
        credentials=Credentials("alice", PASSWORD),
        cnonce="c1",
        nonce_count=1,
    )
    ha1 = accounts()
    assert verify(verifier, value, ha1=ha1) == Accepted("alice", algorithms[0])
    assert ha1.calls == [("alice", algorithms[0].removesuffix("-sess"))]  # the store's HA1, hashed again here


def test_a_client_session_reusing_its_nonce_is_accepted_and_replays_are_not(verifier):
    session = DigestSession(Credentials("alice", PASSWORD))
    first = session.answer(verifier.challenge(NOW), method="REGISTER", uri=URI, cnonce="c1")
    assert verify(verifier, first) == Accepted("alice", "SHA-256")
    session.accepted()
    second = session.authorize(method="PUBLISH", uri="sip:alice@example.org", cnonce="c2")
    assert "nc=00000002" in second
    assert verify(verifier, second, method="PUBLISH", uri="sip:alice@example.org") == Accepted("alice", "SHA-256")
    assert isinstance(verify(verifier, first), Stale)


def test_the_store_serves_the_ha1(tmp_path):
    with Store.open(tmp_path / "server.sqlite3", clock=lambda: NOW) as store:
        store.add_account("alice", REALM, PASSWORD)
        verifier = DigestVerifier(REALM, SECRET)

        def from_store(username, algorithm):
            return store.ha1(username, REALM, algorithm)

        for password, verdict in ((PASSWORD, Accepted("alice", "SHA-256")), ("wrong", Refused(CREDENTIALS_REFUSED))):
            session = DigestSession(Credentials("alice", password))
            value = session.answer(verifier.challenge(NOW), method="REGISTER", uri=URI, cnonce="c")
            assert verify(verifier, value, ha1=from_store) == verdict


# ---------------------------------------------------------------------------------------------- RFC vectors


# (algorithm, username, realm, password, nonce, cnonce, method, uri, published response)
RFC_VECTORS = [
    (  # RFC 2617 section 3.5
        "MD5",
        "Mufasa",
        "testrealm@host.com",
        "Circle Of Life",
        "dcd98b7102dd2f0e8b11d0f600bfb0c093",
        "0a4f113b",
        "GET",
        "/dir/index.html",
        "6629fae49393a05397450978507c4ef1",
    ),
    (  # RFC 7616 section 3.9.1, MD5
        "MD5",
        "Mufasa",
        "http-auth@example.org",
        "Circle of Life",
        "7ypf/xlj9XXwfDPEoM4URrv/xwf94BcCAzFZH4GiTo0v",
        "f2/wE4q74E6zIJEtWaHKaf5wv/H5QzzpXusqGemxURZJ",
        "GET",
        "/dir/index.html",
        "8ca523f5e9506fed4657c9700eebdbec",
    ),
    (  # RFC 7616 section 3.9.1, SHA-256
        "SHA-256",
        "Mufasa",
        "http-auth@example.org",
        "Circle of Life",
        "7ypf/xlj9XXwfDPEoM4URrv/xwf94BcCAzFZH4GiTo0v",
        "f2/wE4q74E6zIJEtWaHKaf5wv/H5QzzpXusqGemxURZJ",
        "GET",
        "/dir/index.html",
        "753927fa0e85d155564e2e272a28d1802ca10daf4496794697cf8db5856cb6c1",
    ),
]


@pytest.mark.parametrize("vector", RFC_VECTORS, ids=["rfc2617-md5", "rfc7616-md5", "rfc7616-sha256"])
def test_rfc_vectors_adapted_to_our_nonces(vector):
    algorithm, username, realm, password, rfc_nonce, cnonce, method, uri, published = vector
    common = {"username": username, "realm": realm, "password": password, "cnonce": cnonce, "nc": "00000001"}
    # The tests' formula gives the published response for the RFC's own nonce...
    assert expected_response(algorithm, nonce=rfc_nonce, method=method, uri=uri, **common) == published
    # ...and the verifier accepts the same computation with a nonce it issued (HTTP's uri is compared as text).
    verifier = DigestVerifier(realm, SECRET, algorithms=(algorithm,))
    nonce, opaque = nonce_and_opaque(verifier)
    response = expected_response(algorithm, nonce=nonce, method=method, uri=uri, **common)
    value = header(
        username=username,
        realm=realm,
        nonce=nonce,
        uri=uri,
        algorithm=algorithm,
        qop="auth",
        nc="00000001",
        cnonce=cnonce,
        response=response,
        opaque=opaque,
    )
    ha1 = accounts(realm, {username: password})
    assert verifier.verify(value, method=method, uri=uri, ha1=ha1, now=NOW) == Accepted(username, algorithm)


def test_header_spelling_is_free(verifier):
    nonce, opaque = nonce_and_opaque(verifier)
    response = expected_response(
        "SHA-256", username="alice", realm=REALM, password=PASSWORD, nonce=nonce, nc="0000000A",
        cnonce="xyz", method="REGISTER", uri=URI,
    )  # fmt: skip
    value = (
        f'digest  NC=0000000A,\r\n\tUserName="alice" , Realm={REALM},nonce="{nonce}",uri="{URI}",'
        f'  QOP="auth", cnonce=xyz, Algorithm=sha-256, RESPONSE="{response.upper()}", opaque={opaque}, x-extra=1'
    )
    assert verify(verifier, value) == Accepted("alice", "SHA-256")


# ---------------------------------------------------------------------------------------------- refusals


def test_wrong_password_and_unknown_user_get_the_same_verdict_after_the_same_work(verifier):
    nonce, opaque = nonce_and_opaque(verifier)
    ha1 = accounts()
    wrong = verify(verifier, credentials(verifier, nonce=nonce, opaque=opaque, password="nope"), ha1=ha1)
    unknown = verify(verifier, credentials(verifier, nonce=nonce, opaque=opaque, username="mallory"), ha1=ha1)
    assert wrong == unknown == Refused(CREDENTIALS_REFUSED)
    assert ha1.calls == [("alice", "SHA-256"), ("mallory", "SHA-256")]


def test_a_wrong_response_does_not_use_up_the_nonce_count(verifier):
    nonce, opaque = nonce_and_opaque(verifier)
    attacker = credentials(verifier, nonce=nonce, opaque=opaque, password="guess", nc="ffffffff")
    assert verify(verifier, attacker) == Refused(CREDENTIALS_REFUSED)
    assert verify(verifier, credentials(verifier, nonce=nonce, opaque=opaque)) == Accepted("alice", "SHA-256")


def test_an_expired_nonce_is_stale_only_when_the_response_is_right(verifier):
    nonce, opaque = nonce_and_opaque(verifier)
    right = credentials(verifier, nonce=nonce, opaque=opaque)
    wrong = credentials(verifier, nonce=nonce, opaque=opaque, password="nope")
    assert isinstance(verify(verifier, right, now=NOW + 300.5), Stale)
    assert verify(verifier, wrong, now=NOW + 300.5) == Refused(CREDENTIALS_REFUSED)
    assert isinstance(verify(verifier, right, now=NOW - 1), Stale)  # issued "in the future": the clock went back
    assert verify(verifier, right, now=NOW + 300.0) == Accepted("alice", "SHA-256")


def test_a_shorter_lifetime():
    verifier = DigestVerifier(REALM, SECRET, nonce_lifetime=10)
    nonce, opaque = nonce_and_opaque(verifier)
    assert isinstance(verify(verifier, credentials(verifier, nonce=nonce, opaque=opaque), now=NOW + 11), Stale)


def _tampered(nonce: str) -> str:
    """One character of the first MAC (bytes 16 to 23 of the nonce) changed."""
    changed = nonce[25]
    return nonce[:25] + ("A" if changed != "A" else "B") + nonce[26:]


@pytest.mark.parametrize(
    "forge",
    [
        pytest.param(_tampered, id="tampered-mac"),
        pytest.param(lambda ours: ours[:-1], id="truncated"),
        pytest.param(lambda ours: ours + "AAAA", id="lengthened"),
        pytest.param(lambda ours: nonce_and_opaque(DigestVerifier("other.org", SECRET))[0], id="other-realm"),
        pytest.param(
            lambda ours: nonce_and_opaque(DigestVerifier(REALM, b"another secret, 16+"))[0], id="other-secret"
        ),
        pytest.param(lambda ours: "dcd98b7102dd2f0e8b11d0f600bfb0c093", id="foreign"),
        pytest.param(lambda ours: "!" * len(ours), id="not-base64"),
        pytest.param(lambda ours: "é" * len(ours), id="not-ascii"),
    ],
)
def test_a_nonce_not_issued_here_is_stale(verifier, forge):
    """Stale, not Malformed or Refused: the header is fine, and the client deserves a fresh challenge it answers
    without asking its user (after a restart, its nonce is simply from the previous secret; in a cluster, from
    another node's)."""
    nonce, opaque = nonce_and_opaque(verifier)
    forged = forge(nonce)
    verdict = verify(verifier, credentials(verifier, nonce=forged, opaque=opaque))
    assert isinstance(verdict, Stale)
    assert "not issued here" in verdict.reason


def test_a_nonce_answered_from_another_address_is_stale_and_its_response_never_checked(verifier):
    """A nonce serves from the address it was sent to alone: one answered from elsewhere (a forged UDP source) is
    stale before its response is looked at, so no account's HA1 is read and no failure can be pinned on the address;
    the client there is simply challenged again."""
    challenge = parse_challenge(verifier.challenge(NOW, bound_to="192.0.2.7")[0])
    value = credentials(verifier, nonce=challenge.nonce, opaque=challenge.opaque)
    looked_up: list[str] = []

    def ha1(user: str, algorithm: str) -> str | None:
        looked_up.append(user)
        return accounts()(user, algorithm)

    elsewhere = verifier.verify(value, method="REGISTER", uri=URI, ha1=ha1, now=NOW, bound_to="198.51.100.9")
    assert isinstance(elsewhere, Stale)
    assert "another address" in elsewhere.reason
    assert looked_up == []
    there = verifier.verify(value, method="REGISTER", uri=URI, ha1=ha1, now=NOW, bound_to="192.0.2.7")
    assert there == Accepted("alice", "SHA-256")


def test_a_replayed_or_lower_nonce_count_is_never_served_and_gets_a_fresh_nonce(verifier):
    """Stale, not Refused: the response is right (whoever sent it knows the password), a replay is not served, and
    a client whose requests a front's several processes reordered answers the fresh challenge at once."""
    nonce, opaque = nonce_and_opaque(verifier)
    first = credentials(verifier, nonce=nonce, opaque=opaque)
    assert verify(verifier, first) == Accepted("alice", "SHA-256")
    replay = verify(verifier, first)
    assert isinstance(replay, Stale)
    assert "replay" in replay.reason
    assert verify(verifier, credentials(verifier, nonce=nonce, opaque=opaque, nc="00000003")) == Accepted(
        "alice", "SHA-256"
    )  # gaps are fine
    assert isinstance(verify(verifier, credentials(verifier, nonce=nonce, opaque=opaque, nc="00000002")), Stale)
    other_nonce, _ = nonce_and_opaque(verifier)  # a new nonce counts from 1 again
    assert verify(verifier, credentials(verifier, nonce=other_nonce, opaque=opaque)) == Accepted("alice", "SHA-256")


def test_a_nonce_evicted_from_the_replay_map_turns_stale_not_replayable():
    verifier = DigestVerifier(REALM, SECRET, replay_cache_size=2)
    issued = [nonce_and_opaque(verifier) for _ in range(4)]
    values = [credentials(verifier, nonce=nonce, opaque=opaque) for nonce, opaque in issued]
    for value in values[:3]:  # the third evicts the first
        assert verify(verifier, value) == Accepted("alice", "SHA-256")
    assert isinstance(verify(verifier, values[0]), Stale)
    nonce, opaque = issued[0]
    assert isinstance(verify(verifier, credentials(verifier, nonce=nonce, opaque=opaque, nc="00000009")), Stale)
    remembered = verify(verifier, values[1])
    assert isinstance(remembered, Stale)
    assert "already used" in remembered.reason  # still remembered: a replay, never served
    assert verify(verifier, values[3]) == Accepted("alice", "SHA-256")  # issued after the evicted one


@pytest.mark.parametrize(
    ("digest_uri", "request_uri", "accepted"),
    [
        ("sip:example.org", "sip:example.org", True),
        ("sip:bob@Example.ORG;transport=tcp;lr", "SIP:bob@example.org;lr;transport=TCP", True),
        ("sip:%62ob@example.org", "sip:bob@example.org", True),
        ("sip:bob@example.org;foo=1", "sip:bob@example.org", True),  # RFC 3261 19.1.4: one-sided params ignored
        ("sip:bob@example.org", "sip:carol@example.org", False),
        ("sip:example.org", "sip:example.org:5060", False),  # 19.1.4: a missing port is not 5060
        ("sip:example.org:5070", "sip:example.org:5060", False),
        ("sip:example.org;transport=tcp", "sip:example.org", False),
        ("sips:example.org", "sip:example.org", False),
        ("/dir/index.html", "/dir/index.htm", False),  # not a SIP URI: compared as text
        ("sip:example.org", "not a uri", False),
    ],
)
def test_the_uri_must_designate_the_request_uri(verifier, digest_uri, request_uri, accepted):
    nonce, opaque = nonce_and_opaque(verifier)
    verdict = verify(verifier, credentials(verifier, nonce=nonce, opaque=opaque, uri=digest_uri), uri=request_uri)
    if accepted:
        assert verdict == Accepted("alice", "SHA-256")
    else:
        assert verdict == Refused("the uri parameter does not match the Request-URI")


def test_a_response_for_another_method_is_refused(verifier):
    nonce, opaque = nonce_and_opaque(verifier)
    value = credentials(verifier, nonce=nonce, opaque=opaque, method="REGISTER")
    assert verify(verifier, value, method="PUBLISH") == Refused(CREDENTIALS_REFUSED)


def test_an_algorithm_not_offered_is_refused():
    verifier = DigestVerifier(REALM, SECRET, algorithms=("SHA-256",))
    nonce, opaque = nonce_and_opaque(verifier)
    for algorithm in ("MD5", "SHA-512-256", "MD5-sess"):
        verdict = verify(verifier, credentials(verifier, nonce=nonce, opaque=opaque, algorithm=algorithm))
        assert isinstance(verdict, Refused)
        assert "not offered" in verdict.reason


def test_a_missing_algorithm_means_md5(verifier):
    nonce, opaque = nonce_and_opaque(verifier)
    value = credentials(verifier, nonce=nonce, opaque=opaque, algorithm="MD5").replace(", algorithm=MD5", "")
    assert "algorithm" not in value
    assert verify(verifier, value) == Accepted("alice", "MD5")
    only_sha = DigestVerifier(REALM, SECRET, algorithms=("SHA-256",))
    nonce, opaque = nonce_and_opaque(only_sha)
    value = credentials(only_sha, nonce=nonce, opaque=opaque, algorithm="MD5").replace(", algorithm=MD5", "")
    assert isinstance(verify(only_sha, value), Refused)


@pytest.mark.parametrize(
    ("change", "reason"),
    [
        ({"realm": "other.org"}, "realm"),
        ({"opaque": "0123"}, "opaque"),
        ({"qop": "auth-int"}, "qop"),
        ({"userhash": "true"}, "userhash"),
    ],
)
def test_other_refusals(verifier, change, reason):
    nonce, opaque = nonce_and_opaque(verifier)
    verdict = verify(verifier, credentials(verifier, nonce=nonce, **({"opaque": opaque} | change)))
    assert isinstance(verdict, Refused)
    assert reason in verdict.reason


def test_a_missing_opaque_is_tolerated(verifier):
    nonce, _ = nonce_and_opaque(verifier)
    assert verify(verifier, credentials(verifier, nonce=nonce, opaque=None)) == Accepted("alice", "SHA-256")


# ---------------------------------------------------------------------------------------------- malformed


@pytest.mark.parametrize("name", ["username", "realm", "nonce", "uri", "response", "qop", "cnonce", "nc"])
def test_a_missing_parameter_is_malformed(verifier, name):
    nonce, opaque = nonce_and_opaque(verifier)
    value = credentials(verifier, nonce=nonce, opaque=opaque)
    params = dict(part.split("=", 1) for part in value.removeprefix("Digest ").split(", "))
    del params[name]
    verdict = verify(verifier, "Digest " + ", ".join(f"{key}={item}" for key, item in params.items()))
    assert isinstance(verdict, Malformed)
    assert name in verdict.reason
    assert "\n" not in verdict.reason


@pytest.mark.parametrize(
    ("value", "reason"),
    [
        ("", "empty"),
        ("Basic YWxpY2U6cGFzc3dvcmQ=", "not Digest"),
        ('Digest username="alice", realm="a", realm="b"', "realm twice"),
        ('Digest username="alice', "unterminated"),
        ("Digest username", "without a value"),
        ('Digest username="a"; realm="b"', "unexpected text"),
        ("Digest\x00 username=a", "control character"),
        ("Digest username=\udcff", "UTF-8"),
        ("(Digest) username=a", "scheme"),
        ('Digest username="", realm="x", nonce="n", uri="u", response="r"', "no username"),
    ],
)
def test_broken_headers_are_malformed_with_a_one_line_reason(verifier, value, reason):
    verdict = verify(verifier, value)
    assert isinstance(verdict, Malformed)
    assert reason in verdict.reason
    assert "\n" not in verdict.reason
    assert "server's challenge" not in verdict.reason


@pytest.mark.parametrize("nc", ["00000000", "1", "000000001", "0000000g", "+0000001", "\uff100000001"])
def test_a_bad_nonce_count_is_malformed(verifier, nc):
    nonce, opaque = nonce_and_opaque(verifier)
    verdict = verify(verifier, credentials(verifier, nonce=nonce, opaque=opaque, nc=nc))
    assert isinstance(verdict, Malformed)
    assert "nonce count" in verdict.reason


# ---------------------------------------------------------------------------------------------- properties


@settings(max_examples=200, deadline=None)
@given(st.text(max_size=300))
def test_random_text_only_ever_gives_a_verdict(value):
    verifier = DigestVerifier(REALM, SECRET)
    verdict = verify(verifier, value)
    assert isinstance(verdict, VERDICTS)
    assert not isinstance(verdict, Accepted)
    assert "\n" not in getattr(verdict, "reason", "")


_NAMES = st.sampled_from(
    ["username", "realm", "nonce", "uri", "response", "qop", "nc", "cnonce", "algorithm", "opaque", "userhash", "x"]
)
_VALUES = st.one_of(
    st.sampled_from(["alice", REALM, "auth", "00000001", "MD5", "SHA-256", "true", URI, "", "\\", "é"]),
    st.text(max_size=12),
)


@settings(max_examples=200, deadline=None)
@given(
    scheme=st.sampled_from(["Digest ", "digest\t", "Digest", "Basic ", ""]),
    params=st.lists(st.tuples(_NAMES, _VALUES, st.booleans()), max_size=12),
    separator=st.sampled_from([", ", ",", " ", ",\r\n ", ";"]),
)
def test_header_like_text_only_ever_gives_a_verdict(scheme, params, separator):
    verifier = DigestVerifier(REALM, SECRET)
    nonce, _ = nonce_and_opaque(verifier)
    pieces = []
    for name, value, quoted in params:
        text = nonce if name == "nonce" and value == "" else value  # now and then, a real nonce
        pieces.append(f'{name}="{text}"' if quoted else f"{name}={text}")
    verdict = verify(verifier, scheme + separator.join(pieces))
    assert isinstance(verdict, VERDICTS)
    assert not isinstance(verdict, Accepted)  # no response can be right by chance
