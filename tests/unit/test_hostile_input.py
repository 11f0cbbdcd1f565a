"""Hostile input to the presence document layer.

Every attack below must end as exactly one typed error (the precise `PresenceDocumentError` subclass, checked
with `type(...) is`), in bounded time, and without the layer touching a file, a socket or a subprocess: calls run
in a worker thread with a timeout, under a Python audit hook that records I/O events, and the XML attacks point
at a real listening socket and at a FIFO, which show C-level (libxml2) access too.
"""

from __future__ import annotations

import errno
import functools
import gzip
import os
import random
import re
import select
import socket
import sys
import threading
import time
import tracemalloc
import zlib
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from types import SimpleNamespace

import pytest
from lxml import etree

from smartbook_tui import xmlsafe
from smartbook_tui.presence import (
    DEFAULT_MAX_BODY_BYTES,
    BodyTooLarge,
    ContentType,
    ListState,
    MalformedDocument,
    PresenceDocumentError,
    UnsupportedContentType,
    UnsupportedEncoding,
    decode_content_encoding,
    decode_notify_body,
    deflate,
    inflate,
    parse_content_type,
    parse_multipart,
    parse_pidf,
    parse_resource_lists,
    parse_rlmi,
)
from smartbook_tui.presence import _xml as presence_xml
from smartbook_tui.presence import encoding as presence_encoding
from smartbook_tui.presence import notify as presence_notify
from tests.fixtures import wire_fixtures

MIB = 1024 * 1024
CALL_TIMEOUT = 15.0  # seconds: far beyond what any refusal takes; reaching it means the layer hung
LIST_DEPTH_CAP = presence_notify._MAX_LIST_DEPTH  # how many lists deep a NOTIFY is decoded

PIDF = "application/pidf+xml"
RLMI = "application/rlmi+xml"
XML_DECLARATION = '<?xml version="1.0" encoding="UTF-8"?>\n'

# ---------------------------------------------------------------------------------------------- watching


_IO_EVENT_PREFIXES = (
    "os.",
    "socket.",
    "subprocess.",
    "shutil.",
    "urllib.",
    "http.",
    "ftplib.",
    "smtplib.",
    "ctypes.",
    "tempfile.",
    "sqlite3.",
    "mmap.",
    "pty.",
    "fcntl.",
    "glob.",
)


class _IoWatch:
    """Records the Python audit events that mean I/O while `active`; the hook cannot be removed, so it stays a
    cheap no-op outside the calls under test."""

    def __init__(self) -> None:
        self.active = False
        self.events: list[str] = []

    def hook(self, event: str, args: tuple[object, ...]) -> None:
        if self.active and (event == "open" or event.startswith(_IO_EVENT_PREFIXES)):
            self.events.append(f"{event}{str(args)[:200]}")


@functools.cache
def _io_watch() -> _IoWatch:
    watch = _IoWatch()
    sys.addaudithook(watch.hook)
    return watch


@dataclass
class Outcome:
    result: object = None
    error: Exception | None = None
    peak_bytes: int = 0
    io_events: list[str] = field(default_factory=list)


def _recording(call: Callable[[], object], outcome: Outcome) -> Callable[[], None]:
    """A thread target that keeps what `call` returned or raised in `outcome`."""

    def target() -> None:
        try:
            outcome.result = call()
        except Exception as exc:
            outcome.error = exc

    return target


def run_bounded(call: Callable[[], object], *, measure_memory: bool = False) -> Outcome:
    """Run `call` in a worker thread; fail if it hangs or does I/O; return what it returned or raised."""
    watch = _io_watch()
    outcome = Outcome()
    thread = threading.Thread(target=_recording(call, outcome), name="hostile-input", daemon=True)
    was_tracing = tracemalloc.is_tracing()
    if measure_memory:
        if not was_tracing:
            tracemalloc.start()
        baseline = tracemalloc.get_traced_memory()[0]
        tracemalloc.reset_peak()
    watch.events = []
    watch.active = True
    try:
        thread.start()
        thread.join(CALL_TIMEOUT)
    finally:
        watch.active = False
        if measure_memory:
            outcome.peak_bytes = tracemalloc.get_traced_memory()[1] - baseline
            if not was_tracing:
                tracemalloc.stop()
    outcome.io_events = list(watch.events)
    assert not thread.is_alive(), f"the call did not return within {CALL_TIMEOUT} s"
    assert not outcome.io_events, f"the call did I/O: {outcome.io_events}"
    return outcome


def assert_typed(expected: type[PresenceDocumentError], error: BaseException | None, result: object = None) -> None:
    assert error is not None, f"hostile input accepted, giving {result!r:.300}"
    assert type(error) is expected, f"expected {expected.__name__}, got {type(error).__name__}: {error}"
    message = str(error)
    assert message, "the error has no message"
    assert "\n" not in message, f"the error message is not one line: {message!r}"


def refused(expected: type[PresenceDocumentError], call: Callable[[], object], **kwargs: bool) -> Outcome:
    outcome = run_bounded(call, **kwargs)
    assert_typed(expected, outcome.error, outcome.result)
    return outcome


def refused_now(expected: type[PresenceDocumentError], call: Callable[[], object]) -> None:
    """The same check, called directly: for sweeps of thousands of inputs, where a thread each would cost."""
    try:
        result = call()
    except PresenceDocumentError as exc:
        assert_typed(expected, exc)
    else:
        assert_typed(expected, None, result)


def test_the_io_watch_sees_python_io(tmp_path):
    # The control: the watch does notice a call that writes a file.
    with pytest.raises(AssertionError, match="did I/O"):
        run_bounded(lambda: (tmp_path / "x").write_bytes(b"x"))


# ---------------------------------------------------------------------------------------------- documents

PIDF_TEMPLATE = (
    '<presence xmlns="urn:ietf:params:xml:ns:pidf" entity="sip:alice@example.org">'
    '<tuple id="t1"><status><basic>open</basic></status><note>{}</note></tuple></presence>'
)
RLMI_TEMPLATE = (
    '<list xmlns="urn:ietf:params:xml:ns:rlmi" uri="sip:rls@example.org" version="0" fullState="true">'
    "<name>{}</name></list>"
)
LISTS_TEMPLATE = (
    '<resource-lists xmlns="urn:ietf:params:xml:ns:resource-lists"><list>'
    '<entry uri="sip:bob@example.org"><display-name>{}</display-name></entry></list></resource-lists>'
)

LIST_BOUNDARY = "hostile-0"
LIST_TYPE = f'multipart/related;type="{RLMI}";start="<root@example.org>";boundary="{LIST_BOUNDARY}"'


def list_notify_body(root: bytes, *parts: tuple[str, str, bytes], boundary: str = LIST_BOUNDARY) -> bytes:
    """A list NOTIFY body, written by hand: the RLMI root `root`, then (cid, Content-Type, body) parts."""
    chunks = [f"--{boundary}\r\nContent-ID: <root@example.org>\r\nContent-Type: {RLMI}\r\n\r\n".encode(), root]
    for cid, content_type, body in parts:
        chunks += [f"\r\n--{boundary}\r\nContent-ID: <{cid}>\r\nContent-Type: {content_type}\r\n\r\n".encode(), body]
    chunks.append(f"\r\n--{boundary}--\r\n".encode())
    return b"".join(chunks)


def as_list_root(rlmi: bytes) -> object:
    return decode_notify_body(LIST_TYPE, None, list_notify_body(rlmi))


@dataclass(frozen=True)
class Reader:
    """One way into the XML parsers: `read(bytes)`, for documents made from `template` (rooted at `root`)."""

    name: str
    root: str
    template: str
    read: Callable[[bytes], object]

    def document(self, content: str = "hello", *, prolog: str = "") -> bytes:
        return f"{XML_DECLARATION}{prolog}{self.template.format(content)}".encode()

    def with_doctype(self, subset: str, content: str) -> bytes:
        return self.document(content, prolog=f"<!DOCTYPE {self.root} [{subset}]>\n")


READERS = [
    Reader("parse_pidf", "presence", PIDF_TEMPLATE, parse_pidf),
    Reader("parse_rlmi", "list", RLMI_TEMPLATE, parse_rlmi),
    Reader("parse_resource_lists", "resource-lists", LISTS_TEMPLATE, parse_resource_lists),
    Reader("NOTIFY pidf", "presence", PIDF_TEMPLATE, lambda body: decode_notify_body(PIDF, None, body)),
    Reader("NOTIFY rlmi", "list", RLMI_TEMPLATE, lambda body: decode_notify_body(RLMI, None, body)),
    Reader("NOTIFY list root", "list", RLMI_TEMPLATE, as_list_root),
    Reader(
        "NOTIFY deflated pidf",
        "presence",
        PIDF_TEMPLATE,
        lambda body: decode_notify_body(PIDF, "deflate", deflate(body)),
    ),
]
PARSERS = READERS[:3]  # the three parse_* functions themselves


def _ids(readers: list[Reader]) -> list[str]:
    return [reader.name for reader in readers]


def test_every_reader_reads_its_clean_document():
    for reader in READERS:
        assert run_bounded(lambda reader=reader: reader.read(reader.document())).error is None, reader.name


# ---------------------------------------------------------------------------------------------- XXE and DTDs

XXE_SUBSETS = {
    "general entity, file URL": ('<!ENTITY x SYSTEM "file:///etc/passwd">', "&x;"),
    "general entity, bare path": ('<!ENTITY x SYSTEM "/etc/passwd">', "&x;"),
    "parameter entity": ('<!ENTITY % p SYSTEM "file:///etc/passwd"> %p;', "hello"),
}


@pytest.mark.parametrize("reader", READERS, ids=_ids(READERS))
@pytest.mark.parametrize("subset", sorted(XXE_SUBSETS))
def test_xxe_is_refused_without_the_file_content(reader, subset):
    declaration, content = XXE_SUBSETS[subset]
    outcome = refused(MalformedDocument, lambda: reader.read(reader.with_doctype(declaration, content)))
    assert "root:" not in str(outcome.error)
    assert "root:" not in repr(outcome.error.args)


def test_xxe_in_a_presence_part_is_that_resource_error_and_leaks_nothing():
    rlmi = (
        b'<list xmlns="urn:ietf:params:xml:ns:rlmi" uri="sip:rls@example.org" version="1" fullState="true">'
        b'<resource uri="sip:alice@example.org"><instance id="i1" state="active" cid="p1@example.org"/></resource>'
        b"</list>"
    )
    xxe = READERS[0].with_doctype('<!ENTITY x SYSTEM "file:///etc/passwd">', "&x;")
    outcome = run_bounded(
        lambda: decode_notify_body(LIST_TYPE, None, list_notify_body(rlmi, ("p1@example.org", PIDF, xxe)))
    )
    assert outcome.error is None
    state = outcome.result
    assert isinstance(state, ListState)
    (alice,) = state.resources
    assert alice.presence is None
    assert alice.error
    assert "root:" not in repr(state)


@pytest.fixture
def fifo(tmp_path) -> Path:
    if not hasattr(os, "mkfifo"):
        pytest.skip("no FIFOs on this platform")
    path = tmp_path / "secret"
    os.mkfifo(path)
    return path


def fifo_was_opened(path: Path) -> bool:
    """Whether anything holds `path` open for reading; if so, feed it a line and EOF so it is not stuck."""
    try:
        descriptor = os.open(path, os.O_WRONLY | os.O_NONBLOCK)
    except OSError as exc:
        if exc.errno == errno.ENXIO:  # no reader
            return False
        raise
    try:
        os.write(descriptor, b"root:x:0:0:root:/root:/bin/sh\n")
    finally:
        os.close(descriptor)
    return True


def read_watching_fifo(path: Path, call: Callable[[], object]) -> tuple[bool, Outcome]:
    """Run `call` while watching the FIFO at `path`: whether it was opened, and what the call gave.

    Opening a FIFO for reading blocks until a writer comes, so a parser that tries stays stuck in open(): the
    call either returns on its own (it never opened the FIFO) or is seen holding it open, and is then released.
    """
    outcome = Outcome()
    thread = threading.Thread(target=_recording(call, outcome), daemon=True)
    thread.start()
    deadline = time.monotonic() + CALL_TIMEOUT
    opened = False
    while thread.is_alive() and time.monotonic() < deadline and not opened:
        opened = fifo_was_opened(path)
        thread.join(0.01)
    thread.join(CALL_TIMEOUT)
    assert not thread.is_alive()
    return opened, outcome


def test_the_fifo_shows_a_parser_that_reads_files(fifo):
    # The control: a parser that does resolve external entities is caught opening the FIFO.
    careless = etree.XMLParser(resolve_entities=True, load_dtd=True)
    document = f'<!DOCTYPE a [<!ENTITY x SYSTEM "file://{fifo}">]><a>&x;</a>'.encode()
    opened, outcome = read_watching_fifo(fifo, lambda: etree.tostring(etree.fromstring(document, careless)))
    assert opened
    assert b"root:" in outcome.result


@pytest.mark.parametrize("reader", PARSERS, ids=_ids(PARSERS))
@pytest.mark.parametrize(
    "kind",
    ["general", "parameter", "external DTD"],
)
def test_xxe_never_opens_the_file(fifo, reader, kind):
    url = f"file://{fifo}"
    if kind == "general":
        document = reader.with_doctype(f'<!ENTITY x SYSTEM "{url}">', "&x;")
    elif kind == "parameter":
        document = reader.with_doctype(f'<!ENTITY % p SYSTEM "{url}"> %p;', "hello")
    else:
        document = reader.document("hello", prolog=f'<!DOCTYPE {reader.root} SYSTEM "{url}">\n')
    opened, outcome = read_watching_fifo(fifo, lambda: reader.read(document))
    assert not opened, "the parser opened the file an entity points at"
    assert_typed(MalformedDocument, outcome.error, outcome.result)


@pytest.fixture
def listener() -> Iterator[socket.socket]:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as server:
        server.bind(("127.0.0.1", 0))
        server.listen(16)
        yield server


def connections_received(server: socket.socket, wait: float = 0.05) -> int:
    # A client's connect() completes into the backlog before it returns, so after the parse a short wait is plenty.
    server.setblocking(False)
    select.select([server], [], [], wait)
    count = 0
    while True:
        try:
            connection, _ = server.accept()
        except BlockingIOError:
            return count
        connection.close()
        count += 1


def test_the_listener_shows_a_connection(listener):
    with socket.create_connection(listener.getsockname(), timeout=2):
        pass
    assert connections_received(listener) == 1


NETWORK_DOCTYPES = {
    "external DTD": lambda root, url: f'<!DOCTYPE {root} SYSTEM "{url}">',
    "public DTD": lambda root, url: f'<!DOCTYPE {root} PUBLIC "-//smartbook//hostile//EN" "{url}">',
    "parameter entity": lambda root, url: f'<!DOCTYPE {root} [<!ENTITY % p SYSTEM "{url}"> %p;]>',
    "external general entity": lambda root, url: f'<!DOCTYPE {root} [<!ENTITY x SYSTEM "{url}">]>',
}


@pytest.mark.parametrize("reader", READERS, ids=_ids(READERS))
@pytest.mark.parametrize("kind", sorted(NETWORK_DOCTYPES))
def test_external_dtds_and_entities_are_refused_without_a_connection(listener, reader, kind):
    host, port = listener.getsockname()
    prolog = NETWORK_DOCTYPES[kind](reader.root, f"http://{host}:{port}/x.dtd") + "\n"
    content = "&x;" if kind == "external general entity" else "hello"
    refused(MalformedDocument, lambda: reader.read(reader.document(content, prolog=prolog)))
    assert connections_received(listener) == 0, "the parser connected to the URL in the document"


@pytest.mark.parametrize("reader", READERS, ids=_ids(READERS))
def test_xinclude_and_schema_locations_are_never_fetched(listener, reader):
    # No DOCTYPE here, so the document may well be read; what matters is that nothing is fetched.
    host, port = listener.getsockname()
    url = f"http://{host}:{port}/x.xml"
    content = (
        f'<xi:include xmlns:xi="http://www.w3.org/2001/XInclude" href="{url}" parse="text"/>'
        f'<s xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance" xsi:schemaLocation="urn:x {url}"/>'
    )
    outcome = run_bounded(lambda: reader.read(reader.document(content)))
    if outcome.error is not None:
        assert isinstance(outcome.error, PresenceDocumentError)
    assert connections_received(listener) == 0


# ---------------------------------------------------------------------------------------------- entity bombs


def billion_laughs() -> str:
    """Ten levels of ten references each: 10**10 copies of "lol" if ever expanded."""
    entities = ['<!ENTITY lol0 "lol">']
    entities += [f'<!ENTITY lol{level} "{f"&lol{level - 1};" * 10}">' for level in range(1, 11)]
    return "".join(entities)


@pytest.mark.parametrize("reader", READERS, ids=_ids(READERS))
def test_billion_laughs_is_refused(reader):
    refused(MalformedDocument, lambda: reader.read(reader.with_doctype(billion_laughs(), "&lol10;")))


@pytest.mark.parametrize("reader", READERS, ids=_ids(READERS))
def test_quadratic_blowup_is_refused(reader):
    subset = f'<!ENTITY big "{"x" * 50_000}">'
    refused(MalformedDocument, lambda: reader.read(reader.with_doctype(subset, "&big;" * 50_000)))


# ---------------------------------------------------------------------------------------------- compression bombs


@functools.cache
def bombs() -> dict[str, bytes]:
    """64 MiB of zeros as a zlib stream, as raw deflate and as gzip (about 64 KiB each), and a double deflate."""
    zeros = b"\0" * (64 * MIB)
    raw = zlib.compressobj(9, zlib.DEFLATED, -zlib.MAX_WBITS)
    bomb = zlib.compress(zeros)
    return {
        "zlib": bomb,
        "raw deflate": raw.compress(zeros) + raw.flush(),
        "gzip": gzip.compress(zeros, mtime=0),
        "zlib twice": zlib.compress(bomb),
    }


BOMB_CALLS = {
    "decode_content_encoding deflate (zlib)": ("zlib", lambda body: decode_content_encoding("deflate", body)),
    "decode_content_encoding deflate (raw)": ("raw deflate", lambda body: decode_content_encoding("deflate", body)),
    "decode_content_encoding gzip": ("gzip", lambda body: decode_content_encoding("gzip", body)),
    "decode_content_encoding x-gzip": ("gzip", lambda body: decode_content_encoding("x-gzip", body)),
    "decode_content_encoding deflate, deflate": (
        "zlib twice",
        lambda body: decode_content_encoding("deflate, deflate", body),
    ),
    "inflate (zlib)": ("zlib", inflate),
    "inflate (raw)": ("raw deflate", inflate),
    "NOTIFY pidf, deflate (zlib)": ("zlib", lambda body: decode_notify_body(PIDF, "deflate", body)),
    "NOTIFY pidf, deflate (raw)": ("raw deflate", lambda body: decode_notify_body(PIDF, "deflate", body)),
    "NOTIFY list, deflate": ("zlib", lambda body: decode_notify_body(LIST_TYPE, "deflate", body)),
    "NOTIFY pidf, gzip": ("gzip", lambda body: decode_notify_body(PIDF, "gzip", body)),
}


@pytest.mark.parametrize("name", sorted(BOMB_CALLS))
def test_compression_bomb_is_refused_instead_of_allocated(name):
    kind, call = BOMB_CALLS[name]
    body = bombs()[kind]
    outcome = refused(BodyTooLarge, lambda: call(body), measure_memory=True)
    # The default cap is 4 MiB: inflating the bomb would take 64 MiB; refusing it takes about twice the cap.
    assert outcome.peak_bytes < 12 * MIB, f"peak allocation {outcome.peak_bytes / MIB:.1f} MiB"


def test_the_memory_measure_sees_a_full_inflate():
    # The control: inflating the bomb for real is seen to allocate its 64 MiB.
    bomb = bombs()["zlib"]
    assert run_bounded(lambda: len(zlib.decompress(bomb)), measure_memory=True).peak_bytes > 64 * MIB


@functools.cache
def compressed_over_the_cap() -> bytes:
    # Stored blocks (level 0) of incompressible bytes: the compressed body itself is over the default cap.
    body = zlib.compress(random.Random(4662).randbytes(DEFAULT_MAX_BODY_BYTES + 1024), 0)
    assert len(body) > DEFAULT_MAX_BODY_BYTES
    return body


def _never_inflate(*args: object) -> object:
    raise AssertionError("the body was inflated before its size was checked")


@pytest.mark.parametrize(
    "call",
    [
        lambda body: decode_content_encoding("deflate", body),
        lambda body: decode_content_encoding("gzip", body),
        lambda body: decode_notify_body(PIDF, "deflate", body),
        lambda body: decode_notify_body(LIST_TYPE, "deflate", body),
    ],
    ids=["deflate", "gzip", "NOTIFY pidf", "NOTIFY list"],
)
def test_compressed_body_over_the_cap_is_refused_before_inflating(monkeypatch, call):
    body = compressed_over_the_cap()
    monkeypatch.setattr(presence_encoding, "zlib", SimpleNamespace(decompressobj=_never_inflate, error=zlib.error))
    refused(BodyTooLarge, lambda: call(body))


def test_compressed_body_over_an_explicit_cap_is_refused():
    body = deflate(b"<presence/>" * 100)
    refused(BodyTooLarge, lambda: decode_content_encoding("deflate", body, max_size=len(body) - 1))
    refused(BodyTooLarge, lambda: decode_notify_body(PIDF, "deflate", body, max_size=len(body) - 1))
    # Small enough compressed, too big inflated.
    refused(BodyTooLarge, lambda: decode_notify_body(PIDF, "deflate", body, max_size=len(body) + 10))


# ---------------------------------------------------------------------------------------------- multiparts

MULTIPART_FIXTURES = sorted(
    name for name, fixture in wire_fixtures().items() if fixture.content_type.strip().lower().startswith("multipart/")
)
ENCODED_FIXTURES = sorted(name for name, fixture in wire_fixtures().items() if fixture.content_encoding)


def multipart_fixture(name: str) -> tuple[str, bytes]:
    """(Content-Type, body with its Content-Encoding undone) of a multipart wire fixture."""
    fixture = wire_fixtures()[name]
    return fixture.content_type, decode_content_encoding(fixture.content_encoding, fixture.body)


def cut_points(content_type: str, body: bytes) -> dict[str, int]:
    boundary = parse_content_type(content_type).get("boundary")
    assert boundary
    delimiter = b"--" + boundary.encode()
    close = body.rindex(delimiter + b"--")
    starts = [match.start() for match in re.finditer(re.escape(delimiter) + rb"\r?\n", body[:close])]
    first, last = starts[0], starts[-1]
    first_body = re.compile(rb"\r?\n\r?\n").search(body, first).end()
    last_body = re.compile(rb"\r?\n\r?\n").search(body, last).end()
    return {
        "before the close delimiter": close,
        "inside the close delimiter": close + len(delimiter) + 1,
        "at the close delimiter without its dashes": close + len(delimiter),
        "after the first delimiter": first + len(delimiter),
        "mid-header, first part": first + len(delimiter) + 12,
        "mid-header, last part": last + len(delimiter) + 12,
        "mid-part, first part": (first_body + starts[1]) // 2 if len(starts) > 1 else (first_body + close) // 2,
        "mid-part, last part": (last_body + close) // 2,
        "a whole last part dropped": last,
    }


CUT_NAMES = [
    "before the close delimiter",
    "inside the close delimiter",
    "at the close delimiter without its dashes",
    "after the first delimiter",
    "mid-header, first part",
    "mid-header, last part",
    "mid-part, first part",
    "mid-part, last part",
    "a whole last part dropped",
]


@pytest.mark.parametrize("name", MULTIPART_FIXTURES)
def test_fixture_multiparts_decode_whole(name):
    content_type, body = multipart_fixture(name)
    assert isinstance(run_bounded(lambda: decode_notify_body(content_type, None, body)).result, ListState)


@pytest.mark.parametrize("name", MULTIPART_FIXTURES)
@pytest.mark.parametrize("cut", CUT_NAMES)
def test_truncated_multipart_is_refused_not_shortened(name, cut):
    content_type, body = multipart_fixture(name)
    points = cut_points(content_type, body)
    assert sorted(points) == sorted(CUT_NAMES)
    truncated = body[: points[cut]]
    refused(MalformedDocument, lambda: parse_multipart(parse_content_type(content_type), truncated))
    if not truncated:  # a one-part multipart without its part: no body at all, which a NOTIFY may have
        assert decode_notify_body(content_type, None, truncated) is None
        return
    refused(MalformedDocument, lambda: decode_notify_body(content_type, None, truncated))
    refused(MalformedDocument, lambda: decode_notify_body(content_type, "deflate", deflate(truncated)))


@pytest.mark.parametrize("name", MULTIPART_FIXTURES)
def test_every_prefix_of_a_fixture_multipart_is_refused(name):
    content_type, body = multipart_fixture(name)
    boundary = parse_content_type(content_type).get("boundary")
    assert boundary
    complete = body.rindex(f"--{boundary}--".encode()) + len(boundary) + 4
    parsed_type = parse_content_type(content_type)
    for length in range(1, complete):
        prefix = body[:length]
        refused_now(MalformedDocument, lambda prefix=prefix: parse_multipart(parsed_type, prefix))
        refused_now(MalformedDocument, lambda prefix=prefix: decode_notify_body(content_type, None, prefix))


@pytest.mark.parametrize("name", ENCODED_FIXTURES)
def test_every_prefix_of_a_compressed_fixture_is_refused(name):
    fixture = wire_fixtures()[name]
    for length in range(1, len(fixture.body)):
        prefix = fixture.body[:length]
        refused_now(MalformedDocument, lambda prefix=prefix: decode_content_encoding(fixture.content_encoding, prefix))
        if fixture.content_type.startswith("multipart/"):
            refused_now(
                MalformedDocument,
                lambda prefix=prefix: decode_notify_body(fixture.content_type, fixture.content_encoding, prefix),
            )


GOOD_ROOT = (
    b'<list xmlns="urn:ietf:params:xml:ns:rlmi" uri="sip:rls@example.org" version="1" fullState="true">'
    b'<resource uri="sip:alice@example.org"/></list>'
)


def _part(headers: str, body: bytes, boundary: str = "b") -> bytes:
    return f"--{boundary}\r\n{headers}\r\n\r\n".encode() + body + f"\r\n--{boundary}--\r\n".encode()


BROKEN_MULTIPARTS = {
    "no boundary parameter": (f'multipart/related;type="{RLMI}"', list_notify_body(GOOD_ROOT)),
    "an empty boundary parameter": ('multipart/related;boundary=""', list_notify_body(GOOD_ROOT)),
    "a boundary never used": ("multipart/related;boundary=elsewhere", list_notify_body(GOOD_ROOT)),
    "a boundary over 200 characters": (f"multipart/related;boundary={'b' * 201}", _part("", b"x", "b" * 201)),
    "only the close delimiter": ("multipart/related;boundary=b", b"--b--\r\n"),
    "no delimiter line at a line start": ("multipart/related;boundary=b", b"x--b\r\n\r\nx\r\nx--b--\r\n"),
    "a part with no blank line after its headers": (
        "multipart/related;boundary=b",
        b"--b\r\nContent-Type: application/rlmi+xml\r\n" + GOOD_ROOT + b"\r\n--b--\r\n",
    ),
    "garbage base64 (impossible length)": (
        "multipart/related;boundary=b",
        _part("Content-Transfer-Encoding: base64\r\nContent-Type: application/rlmi+xml", b"not base64 at all!"),
    ),
    "garbage base64 (bad padding)": (
        "multipart/related;boundary=b",
        _part("Content-Transfer-Encoding: base64\r\nContent-Type: application/rlmi+xml", b"QUJDRA="),
    ),
    "an unknown transfer encoding": (
        "multipart/related;boundary=b",
        _part("Content-Transfer-Encoding: x-uuencode\r\nContent-Type: application/rlmi+xml", GOOD_ROOT),
    ),
    "a part Content-Type that is not type/subtype": (
        "multipart/related;boundary=b",
        _part("Content-Type: rlmi", GOOD_ROOT),
    ),
}


@pytest.mark.parametrize("case", sorted(BROKEN_MULTIPARTS))
def test_broken_multipart_structure_is_refused(case):
    content_type, body = BROKEN_MULTIPARTS[case]
    refused(MalformedDocument, lambda: parse_multipart(parse_content_type(content_type), body))
    refused(MalformedDocument, lambda: decode_notify_body(content_type, None, body))


BROKEN_LIST_ROOTS = {
    "base64 with no base64 characters at all": ("base64", b"@@@@ !!!! ****"),
    "base64 of random bytes": ("base64", b"q83vASNFZ4mrze8BI0VniavN7wEjRWeJ"),
    "quoted-printable garbage": ("quoted-printable", b"=ZZ=\xff=0"),
    "binary garbage": ("binary", random.Random(5).randbytes(300).replace(b"--", b"")),
}


@pytest.mark.parametrize("case", sorted(BROKEN_LIST_ROOTS))
def test_undecodable_list_root_is_refused(case):
    transfer_encoding, body = BROKEN_LIST_ROOTS[case]
    headers = (
        f"Content-ID: <root@example.org>\r\nContent-Transfer-Encoding: {transfer_encoding}\r\nContent-Type: {RLMI}"
    )
    content_type = f'multipart/related;type="{RLMI}";start="<root@example.org>";boundary=b'
    refused(MalformedDocument, lambda: decode_notify_body(content_type, None, _part(headers, body)))


def test_list_root_that_is_not_rlmi_is_refused():
    body = list_notify_body(PARSERS[0].document()).replace(RLMI.encode(), PIDF.encode(), 1)
    refused(MalformedDocument, lambda: decode_notify_body(LIST_TYPE, None, body))


# ---------------------------------------------------------------------------------------------- nesting bomb


def nested_lists(depth: int) -> tuple[str, bytes]:
    """(Content-Type, body) of a list NOTIFY whose one resource is a list, whose one resource is a list... `depth`
    lists in all, each a multipart/related carried as the part of its parent's resource."""
    content_type, body = "", b""
    for level in reversed(range(depth)):
        resource = ""
        parts: tuple[tuple[str, str, bytes], ...] = ()
        if body:
            cid = f"level{level + 1}@example.org"
            resource = (
                f'<resource uri="sip:level{level + 1}@example.org">'
                f'<instance id="i{level}" state="active" cid="{cid}"/></resource>'
            )
            parts = ((cid, content_type, body),)
        root = (
            f'<list xmlns="urn:ietf:params:xml:ns:rlmi" uri="sip:level{level}@example.org" version="0"'
            f' fullState="true">{resource}</list>'
        ).encode()
        boundary = f"nest-{level:02d}-x"
        body = list_notify_body(root, *parts, boundary=boundary)
        content_type = f'multipart/related;type="{RLMI}";start="<root@example.org>";boundary="{boundary}"'
    return content_type, body


def list_depth(state: ListState) -> tuple[int, str | None]:
    """How many lists deep `state` goes, and the error of the deepest resource reached."""
    depth, error = 1, None
    while state.resources:
        (resource,) = state.resources
        if resource.sublist is None:
            error = resource.error
            break
        state, depth = resource.sublist, depth + 1
    return depth, error


def test_nested_lists_within_the_cap_decode():
    content_type, body = nested_lists(LIST_DEPTH_CAP)
    outcome = run_bounded(lambda: decode_notify_body(content_type, None, body))
    assert outcome.error is None
    assert list_depth(outcome.result) == (LIST_DEPTH_CAP, None)


def test_nesting_bomb_stops_at_the_depth_cap():
    # The lists up to the cap are kept; the resource whose part would go deeper carries the error.
    content_type, body = nested_lists(20)
    outcome = run_bounded(lambda: decode_notify_body(content_type, None, body))
    assert outcome.error is None
    depth, error = list_depth(outcome.result)
    assert depth == LIST_DEPTH_CAP
    assert "nested more than" in error


# ---------------------------------------------------------------------------------------------- garbage


def _in_document(reader: Reader, content: bytes) -> bytes:
    head, tail = reader.document("\x01").split(b"\x01")
    return head + content + tail


CAFE = "caf\u00e9"


def _utf16(reader: Reader, declared: str) -> bytes:
    return f'<?xml version="1.0" encoding="{declared}"?>{reader.template.format(CAFE)}'.encode("utf-16-le")


GARBAGE: dict[str, Callable[[Reader], bytes]] = {
    "random bytes": lambda reader: random.Random(4662).randbytes(4096),
    "NUL bytes": lambda reader: b"\0" * 256,
    "a NUL inside the document": lambda reader: _in_document(reader, b"a\0b"),
    "invalid UTF-8": lambda reader: _in_document(reader, b"caf\xc3\x28 \xff\xfe"),
    "a UTF-8-encoded surrogate": lambda reader: _in_document(reader, b"\xed\xa0\x80"),
    "an overlong UTF-8 <": lambda reader: _in_document(reader, b"\xc0\xbc"),
    "a UTF-16 BOM before UTF-8 bytes": lambda reader: b"\xff\xfe" + reader.document("caf\u00e9"),
    "a UTF-8 BOM before UTF-16 bytes": lambda reader: b"\xef\xbb\xbf" + _utf16(reader, "UTF-16"),
    "a big-endian BOM before little-endian UTF-16": lambda reader: b"\xfe\xff" + _utf16(reader, "UTF-16"),
    "UTF-16 with an odd trailing byte": lambda reader: b"\xff\xfe" + _utf16(reader, "UTF-8") + b"\0",
    "an encoding that does not exist": lambda reader: reader.document().replace(b"UTF-8", b"x-hostile-42"),
    "a lone <": lambda reader: b"<",
    "100,000 nested elements": lambda reader: b"<a>" * 100_000,
    "100,000 nested elements, closed": lambda reader: b"<a>" * 100_000 + b"</a>" * 100_000,
    "100,000 nested elements in the document": lambda reader: _in_document(
        reader, b"<x>" * 100_000 + b"</x>" * 100_000
    ),
    "a truncated document": lambda reader: reader.document()[: len(reader.document()) // 2],
    "whitespace only": lambda reader: b" \r\n\t ",
    "a DOCTYPE only": lambda reader: b"<!DOCTYPE presence>",
    "two root elements": lambda reader: reader.document() + reader.template.format("again").encode(),
    "text, no element": lambda reader: b"hello",
    "the wrong root element": lambda reader: b'<html xmlns="http://www.w3.org/1999/xhtml"><body/></html>',
    "an undefined entity": lambda reader: reader.document("&nowhere;"),
    "an undefined namespace prefix": lambda reader: reader.document("<x:y/>"),
}


@pytest.mark.parametrize("reader", READERS, ids=_ids(READERS))
@pytest.mark.parametrize("garbage", sorted(GARBAGE))
def test_garbage_is_malformed(reader, garbage):
    document = GARBAGE[garbage](reader)
    refused(MalformedDocument, lambda: reader.read(document))


OTHER_ENTRIES: dict[str, tuple[type[PresenceDocumentError], Callable[[bytes], object]]] = {
    "parse_multipart": (
        MalformedDocument,
        lambda body: parse_multipart(ContentType("multipart/related", (("boundary", LIST_BOUNDARY),)), body),
    ),
    "inflate": (MalformedDocument, inflate),
    "Content-Encoding deflate": (MalformedDocument, lambda body: decode_content_encoding("deflate", body)),
    "Content-Encoding gzip": (MalformedDocument, lambda body: decode_content_encoding("gzip", body)),
    "Content-Encoding br": (UnsupportedEncoding, lambda body: decode_content_encoding("br", body)),
    "NOTIFY list": (MalformedDocument, lambda body: decode_notify_body(LIST_TYPE, None, body)),
    "NOTIFY deflate": (MalformedDocument, lambda body: decode_notify_body(PIDF, "deflate", body)),
    "NOTIFY compress": (UnsupportedEncoding, lambda body: decode_notify_body(PIDF, "compress", body)),
    "NOTIFY text/plain": (UnsupportedContentType, lambda body: decode_notify_body("text/plain", None, body)),
    "NOTIFY xcap-diff": (
        UnsupportedContentType,
        lambda body: decode_notify_body("application/xcap-diff+xml", None, body),
    ),
    "NOTIFY without Content-Type": (UnsupportedContentType, lambda body: decode_notify_body(None, None, body)),
}


@pytest.mark.parametrize("entry", sorted(OTHER_ENTRIES))
@pytest.mark.parametrize("garbage", sorted(GARBAGE))
def test_garbage_through_the_other_entry_points(entry, garbage):
    expected, call = OTHER_ENTRIES[entry]
    body = GARBAGE[garbage](READERS[0])
    refused(expected, lambda: call(body))


@pytest.mark.parametrize("reader", PARSERS, ids=_ids(PARSERS))
def test_empty_documents(reader):
    refused(MalformedDocument, lambda: reader.read(b""))
    assert run_bounded(lambda: decode_notify_body(PIDF, None, b"")).result is None  # a NOTIFY may carry no body


@pytest.mark.parametrize(
    "header",
    ["", "multipart", "/", "a b/c", "\0/\0", "\u00e9/\u00e9", "text/plain\r\nX-Injected: 1", "a" * 100_000],
    ids=["empty", "no slash", "slash only", "space", "NULs", "non-ASCII", "injected header", "100,000 letters"],
)
def test_garbage_content_type_headers_are_malformed(header):
    refused(MalformedDocument, lambda: parse_content_type(header))
    if header:
        refused(MalformedDocument, lambda: decode_notify_body(header, None, PARSERS[0].document()))


@pytest.mark.parametrize(
    "header",
    [
        "text/plain" + ";a" * 50_000,
        "text/plain;" + " " * 200_000 + "x",
        'text/plain;a="' + "\\" * 200_000,
        "text/plain;a=" + '"x;' * 50_000,
        "multipart/related;boundary=" + "=" * 200_000,
    ],
    ids=["many bare names", "long blank run", "unterminated quote", "many quotes", "long boundary"],
)
def test_pathological_content_type_parameters_never_hang(header):
    outcome = run_bounded(lambda: decode_notify_body(header, None, b"--x\r\n\r\nx\r\n--x--\r\n"))
    assert isinstance(outcome.error, PresenceDocumentError)


# ---------------------------------------------------------------------------------------------- encodings


@pytest.mark.parametrize("reader", PARSERS, ids=_ids(PARSERS))
@pytest.mark.parametrize("declared", ["UTF-8", "ISO-8859-1", "US-ASCII"])
def test_utf16_with_a_conflicting_declaration_is_read_as_its_bom_says(reader, declared):
    # libxml2 trusts the byte-order mark over the declaration: never mojibake, the same as its UTF-8 twin.
    document = b"\xff\xfe" + _utf16(reader, declared)
    outcome = run_bounded(lambda: reader.read(document))
    assert outcome.error is None
    assert outcome.result == reader.read(reader.document("caf\u00e9"))


# ---------------------------------------------------------------------------------------------- size caps


def _never_parse(*args: object) -> object:
    raise AssertionError("an oversized document reached the XML parser")


@pytest.mark.parametrize("reader", PARSERS, ids=_ids(PARSERS))
def test_oversized_document_is_refused_before_parsing(monkeypatch, reader):
    document = reader.document("x" * 1000)
    broken = document + b"<<< not even XML"
    assert run_bounded(lambda: reader.read(document, max_bytes=len(document))).error is None  # at the cap: read
    monkeypatch.setattr(xmlsafe, "etree", SimpleNamespace(fromstring=_never_parse, XMLParser=_never_parse))
    refused(BodyTooLarge, lambda: reader.read(document, max_bytes=len(document) - 1))
    refused(BodyTooLarge, lambda: reader.read(broken, max_bytes=len(document)))


@pytest.mark.parametrize("reader", PARSERS, ids=_ids(PARSERS))
def test_document_over_the_default_cap_is_refused(monkeypatch, reader):
    document = reader.document("x" * (presence_xml.DEFAULT_MAX_DOCUMENT_BYTES + 1))
    monkeypatch.setattr(xmlsafe, "etree", SimpleNamespace(fromstring=_never_parse, XMLParser=_never_parse))
    refused(BodyTooLarge, lambda: reader.read(document))


@pytest.mark.parametrize(
    "content_type", [PIDF, RLMI, LIST_TYPE, "text/plain", None], ids=["pidf", "rlmi", "list", "text", "none"]
)
def test_notify_body_over_the_cap_is_refused_before_anything_else(monkeypatch, content_type):
    body = PARSERS[0].document("x" * 1000)
    monkeypatch.setattr(xmlsafe, "etree", SimpleNamespace(fromstring=_never_parse, XMLParser=_never_parse))
    refused(BodyTooLarge, lambda: decode_notify_body(content_type, None, body, max_size=len(body) - 1))
    big = b" " * (DEFAULT_MAX_BODY_BYTES + 1)
    refused(BodyTooLarge, lambda: decode_notify_body(content_type, None, big))


# ---------------------------------------------------------------------------------------------- RLMI version


def _rlmi_with_version(version: str) -> bytes:
    return RLMI_TEMPLATE.replace('version="0"', f'version="{version}"').format("x").encode()


# str.isdigit() is true for these, yet they are no RLMI version; the last is over int()'s 4300-digit limit.
NOT_DECIMAL_VERSIONS = {"superscript two": "\u00b2", "circled one": "\u2460", "5000 digits": "9" * 5000}
VERSION_READERS = [READERS[1], READERS[4], READERS[5]]  # parse_rlmi, NOTIFY rlmi, NOTIFY list root


@pytest.mark.parametrize("reader", VERSION_READERS, ids=_ids(VERSION_READERS))
@pytest.mark.parametrize("version", sorted(NOT_DECIMAL_VERSIONS))
def test_rlmi_version_that_is_not_a_decimal_number_is_malformed(reader, version):
    with pytest.raises(MalformedDocument):
        reader.read(_rlmi_with_version(NOT_DECIMAL_VERSIONS[version]))


def test_rlmi_version_in_a_nested_list_is_that_resource_error():
    inner_type = f'multipart/related;type="{RLMI}";start="<root@example.org>";boundary=inner'
    inner = list_notify_body(_rlmi_with_version("\u00b2"), boundary="inner")
    root = (
        b'<list xmlns="urn:ietf:params:xml:ns:rlmi" uri="sip:rls@example.org" version="1" fullState="true">'
        b'<resource uri="sip:team@example.org"><instance id="i1" state="active" cid="team@example.org"/></resource>'
        b"</list>"
    )
    state = decode_notify_body(LIST_TYPE, None, list_notify_body(root, ("team@example.org", inner_type, inner)))
    (team,) = state.resources
    assert team.sublist is None
    assert team.error
