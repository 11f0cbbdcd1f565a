"""The Assistant's client against the real account API (`smartbook server run --http`, a process on 127.0.0.1, its
console SMS gateway writing the codes to an outbox the tests read as a user reads the SMS): each flow, and each error
the API answers turned into its word and one sentence; a dead server, one that never answers and one that is not the
API, each one sentence too."""

from __future__ import annotations

import asyncio
import socket
from collections.abc import Iterator
from pathlib import Path

import pytest

from smartbook_tui.assistant.client import AccountApi, BearerAuth, DigestAuth
from smartbook_tui.assistant.errors import AssistantError
from smartbook_tui.assistant.flows import CreateAccount, RecoverAccount
from tests.peers.smartbook_server import PASSWORD, SmartbookServer, run_smartbook_server

BOB, CAROL, DAN = "+33612345678", "+33622222222", "+33633333333"


@pytest.fixture
def server(tmp_path: Path) -> Iterator[SmartbookServer]:
    with run_smartbook_server(tmp_path / "server", "--api-rate", "0", accounts=[("alice", None)], api=True) as running:
        yield running


async def refused(call) -> AssistantError:
    with pytest.raises(AssistantError) as caught:
        await call
    error = caught.value
    assert "\n" not in str(error)
    assert str(error).endswith((".", "?")) or "try again" in str(error)
    return error


async def test_an_account_from_a_number_alone_signs_in_with_the_servers_password(server):
    async with AccountApi(server.api_url) as api:
        flow = CreateAccount(api, "+33 6 12 34 56 78")
        assert await flow.send_code() == BOB
        account = await flow.confirm(server.last_code(BOB))
    assert account.sip_uri == f"sip:{BOB}@{server.domain}"
    assert account.phone == BOB
    assert len(account.password) >= 16
    assert (account.proxy, account.transport) == (server.proxy, "tcp")
    async with AccountApi(server.api_url) as api:  # its credentials work: Digest on a `me` path
        assert await api.info_by_phone(BOB) is True
        assert await api.request_link(BOB, DigestAuth(BOB, account.password)) == BOB


async def test_a_wrong_code_says_the_tries_left_and_the_third_voids_it(server):
    async with AccountApi(server.api_url) as api:
        flow = CreateAccount(api, BOB, "bob")
        await flow.send_code()
        wrong = "0000" if server.last_code(BOB) != "0000" else "1111"
        first = await refused(flow.confirm(wrong))
        assert (first.word, first.status) == ("wrong_code", 422)
        assert "2" in str(first)  # the tries left
        await refused(flow.confirm(wrong))
        void = await refused(flow.confirm(wrong))
        assert void.word == "code_void"
        assert "ask for a new one" in str(void)


async def test_a_new_account_for_a_number_that_has_one_is_refused_once_its_code_is_given(server):
    server.add_account("carol", CAROL)
    async with AccountApi(server.api_url) as api:
        flow = CreateAccount(api, CAROL)
        assert await flow.send_code() == CAROL
        assert flow.sent_sentence(first=True) == "A code was sent by SMS to +33 6 22 22 22 22."
        taken = await refused(flow.confirm(server.last_code(CAROL)))
        assert str(taken) == "This number already has an account: recover that account with its number instead."
        recover = RecoverAccount(api, CAROL)
        await recover.send_code()
        assert (
            recover.sent_sentence(first=True)
            == "If +33 6 22 22 22 22 is an account's number, a code was sent to it by SMS."
        )
        recovered = await recover.confirm(server.last_code(CAROL), "a new password, long enough")
    assert recovered.sip_uri == f"sip:carol@{server.domain}"


async def test_linking_with_a_token_and_recovering(server):
    async with AccountApi(server.api_url) as api:
        flow = CreateAccount(api, BOB, "bob")
        await flow.send_code()
        activated = await api.activate(f"bob@{server.domain}", server.last_code(BOB))
        await api.request_link(CAROL, BearerAuth(activated.token))
        assert (await api.confirm_link(server.last_code(CAROL), BearerAuth(activated.token))).phone == CAROL
        recover = RecoverAccount(api, "+33 6 22 22 22 22")
        assert await recover.send_code() == CAROL
        recovered = await recover.confirm(server.last_code(CAROL), "a new password, long enough")
    assert recovered.sip_uri == f"sip:bob@{server.domain}"
    assert recovered.password == "a new password, long enough"


async def test_each_refusal_is_its_word_and_a_sentence(server):
    server.add_account("carol", CAROL)
    async with AccountApi(server.api_url) as api:
        landline = await refused(api.create("+33145678901"))
        assert (landline.word, landline.status) == ("invalid_phone", 422)
        assert "mobile" in str(landline)
        assert (await refused(api.create(BOB, "0699999999"))).word == "username_looks_like_phone"
        assert (await refused(api.create(BOB, "alice"))).word == "username_taken"
        assert (await refused(api.info_by_phone(DAN))).word == "no_such_number"
        assert await api.request_recovery(DAN) == DAN  # as for any number; no SMS goes to it
        assert [message["to"] for message in server.sms()] == []
        wrong = await refused(api.request_link(DAN, DigestAuth("alice", "not the password")))
        assert (wrong.word, str(wrong)) == ("unauthorized", "The service refused the account's user name or password.")
        # another account's number: a code as for any number, and the refusal once it is given
        assert await api.request_link(CAROL, DigestAuth("alice", PASSWORD)) == CAROL
        taken = await refused(api.confirm_link(server.last_code(CAROL), DigestAuth("alice", PASSWORD)))
        assert (taken.word, str(taken)) == (
            "number_taken",
            "This number already has an account: recover that account with its number instead.",
        )
        for _ in range(3):
            await api.create(BOB, "bob")
        quota = await refused(api.create(BOB, "bob"))
        assert (quota.word, quota.status) == ("too_many_sms", 429)
        assert quota.retry_after
        assert quota.retry_after > 0
        assert "try again in" in str(quota)


async def test_a_dead_server_a_silent_one_and_one_that_is_not_the_api_are_each_a_sentence(server):
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        dead_port = probe.getsockname()[1]
    async with AccountApi(f"http://127.0.0.1:{dead_port}/api") as api:
        dead = await refused(api.create(BOB))
    assert dead.word == "unreachable"
    assert f"Cannot reach the account API at http://127.0.0.1:{dead_port}/api" in str(dead)

    silent = await asyncio.start_server(lambda reader, writer: None, "127.0.0.1", 0)  # accepts, never answers
    port = silent.sockets[0].getsockname()[1]
    async with silent, AccountApi(f"http://127.0.0.1:{port}/api", timeout=0.5) as api:
        late = await refused(api.create(BOB))
    assert late.word == "timeout"
    assert "did not answer within 0.5 s" in str(late)

    async with AccountApi(server.api_url.removesuffix("/api") + "/elsewhere") as api:
        lost = await refused(api.create(BOB))
    assert lost.word == "not_an_api"
    assert "is it the right address?" in str(lost)
