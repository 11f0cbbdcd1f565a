"""The subscriber against a server that sends bad NOTIFYs, over a real TCP connection on 127.0.0.1: every NOTIFY
is answered, the good ones still count, a version gap makes it subscribe again, nothing crashes."""

from __future__ import annotations

import asyncio
import zlib

from smartbook_tui.presence import (
    BasicStatus,
    Instance,
    InstanceState,
    ListState,
    Presence,
    PresenceTuple,
    ResourceState,
    build_list_notify,
)
from smartbook_tui.sip.aio import open_flow
from smartbook_tui.sip.message import Headers, SipRequest, SipResponse, StreamParser
from smartbook_tui.subscriber.machine import Phase, Status, SubscriptionConfig, Updates
from smartbook_tui.subscriber.runner import Subscriber

ALICE = "sip:+33612345678@example.org;user=phone"


def state(version: int, full: bool, basic: BasicStatus = BasicStatus.OPEN) -> ListState:
    presence = Presence(ALICE, tuples=(PresenceTuple("t", basic, "sip:alice@example.org"),))
    alice = ResourceState(ALICE, instances=(Instance("i", InstanceState.ACTIVE, cid="a@x"),), presence=presence)
    return ListState("sip:rls@example.org", version, full, resources=(alice,))


class BadServer:
    """Answers SUBSCRIBEs, then sends the NOTIFYs a test scripts, recording every answer."""

    def __init__(self) -> None:
        self.subscribes: list[SipRequest] = []
        self.answers: asyncio.Queue[SipResponse] = asyncio.Queue()
        self.subscribed = asyncio.Event()
        self.writer: asyncio.StreamWriter | None = None
        self.cseq = 0

    async def serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.writer = writer
        parser = StreamParser()
        while data := await reader.read(65536):
            for message in parser.feed(data):
                if isinstance(message, SipResponse):
                    await self.answers.put(message)
                elif message.method == "SUBSCRIBE":
                    self.subscribes.append(message)
                    self.reply(message)

    def reply(self, request: SipRequest) -> None:
        headers = Headers([(n, v) for n, v in request.headers.items() if n in ("Via", "From", "Call-ID", "CSeq")])
        to = request.headers.get("To")
        headers.add("To", to if ";tag=" in to else f"{to};tag=srv")
        headers.add("Expires", request.headers.get("Expires"))
        headers.add("Require", "eventlist")
        headers.add("Contact", "<sip:rls@127.0.0.1;transport=tcp>")
        self.writer.write(SipResponse(200, "OK", headers).to_bytes())
        if request.headers.get("Expires") != "0":
            self.subscribed.set()

    def notify(self, body: bytes = b"", content_type: str | None = None, *, encoding: str | None = None,
               subscription_state: str | None = "active;expires=3600") -> None:  # fmt: skip
        subscribe = self.subscribes[-1]
        self.cseq += 1
        headers = Headers(
            [
                ("Via", f"SIP/2.0/TCP 127.0.0.1:5070;branch=z9hG4bKn{self.cseq}"),
                ("From", "<sip:rls@example.org>;tag=srv"),
                ("To", subscribe.headers.get("From")),
                ("Call-ID", subscribe.call_id),
                ("CSeq", f"{self.cseq} NOTIFY"),
                ("Event", "presence"),
            ]
        )
        if subscription_state:
            headers.add("Subscription-State", subscription_state)
        if content_type:
            headers.add("Content-Type", content_type)
        if encoding:
            headers.add("Content-Encoding", encoding)
        self.writer.write(SipRequest("NOTIFY", "sip:bob@127.0.0.1", headers, body).to_bytes())

    def notify_state(self, list_state: ListState) -> None:
        self.notify(*reversed(build_list_notify(list_state, root_cid="root@x", boundary="b0")))

    async def answer(self) -> SipResponse:
        return await asyncio.wait_for(self.answers.get(), 5.0)


async def test_bad_notifies_are_answered_and_survived():
    server = BadServer()
    listener = await asyncio.start_server(server.serve, "127.0.0.1", 0)
    port = listener.sockets[0].getsockname()[1]
    events: list[object] = []
    config = SubscriptionConfig("sip:bob@127.0.0.1", "sip:rls@127.0.0.1", (ALICE,))

    async def connect(on_message, on_lost):
        return await open_flow("tcp", ("127.0.0.1", port), on_message=lambda m, _s: on_message(m), on_lost=on_lost)

    subscriber = Subscriber(config, connect, transport="tcp")
    running = asyncio.create_task(subscriber.run(events.append))
    try:
        await asyncio.wait_for(server.subscribed.wait(), 5.0)
        first_call = server.subscribes[0].call_id
        server.notify_state(state(0, True))
        assert (await server.answer()).status == 200
        multipart = build_list_notify(state(1, False), root_cid="root@x", boundary="b0")
        cases = {
            "garbage": (b"\x00\xffnot xml at all", "application/pidf+xml", None),
            "wrong boundary": (multipart[1], multipart[0].replace("boundary=", "boundary=other"), None),
            "deflate bomb": (zlib.compress(b"<" * (64 * 1024 * 1024)), "application/pidf+xml", "deflate"),
            "XXE": (
                b'<!DOCTYPE p [<!ENTITY x SYSTEM "file:///etc/passwd">]><presence xmlns="urn:ietf:params:xml:ns:pidf"'
                b' entity="sip:a@b"><note>&x;</note></presence>',
                "application/pidf+xml",
                None,
            ),
        }
        for name, (body, content_type, encoding) in cases.items():
            server.notify(body, content_type, encoding=encoding)
            answer = await server.answer()
            assert answer.status == 400, name
            assert "root:" not in (answer.headers.get("Warning") or "")
        server.notify(subscription_state=None)
        assert (await server.answer()).reason == "Missing Subscription-State"
        server.notify_state(state(1, False, BasicStatus.CLOSED))  # still understood after all that
        assert (await server.answer()).status == 200
        server.subscribed.clear()
        server.notify_state(state(7, False))  # a gap: some NOTIFYs were lost
        assert (await server.answer()).status == 200
        await asyncio.wait_for(server.subscribed.wait(), 5.0)  # a new subscription, for a full state
        assert server.subscribes[-1].call_id != first_call
        assert server.subscribes[-1].body  # the list again
    finally:
        subscriber.stop()
        await asyncio.wait_for(running, 5.0)
        listener.close()
    statuses = [event.detail for event in events if isinstance(event, Status)]
    assert any("some were lost" in detail for detail in statuses)
    changes = [u.summary.status.value for event in events if isinstance(event, Updates) for u in event.updates]
    assert changes[:2] == ["online", "offline"]
    assert subscriber.phase is Phase.STOPPED
