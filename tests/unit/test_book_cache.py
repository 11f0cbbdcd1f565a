"""The book's cache: a launch takes unchanged files from it, an edit made while the app was closed is read again,
a broken cache is read past, and the user's files are never written. A big book read in a process of its own, or
begun ahead at launch, is the same book."""

from __future__ import annotations

import asyncio
import os
import stat
from pathlib import Path

import pytest

from smartbook_tui.config import Settings
from smartbook_tui.contacts import book_cache, book_reader
from smartbook_tui.contacts.book_cache import BookCache, default_book_cache
from smartbook_tui.roster import live_book
from smartbook_tui.roster.live_book import BookSnapshot, LiveBook, read_ahead

CARDS = """BEGIN:VCARD
VERSION:3.0
UID:anna
FN:Anna Müller
TEL;TYPE=CELL:06 12 34 56 78
TEL;TYPE=WORK,VOICE:+49 30 1234567
IMPP:sip:anna@example.org
END:VCARD
BEGIN:VCARD
VERSION:3.0
FN:Broken
TEL:+33 6 98 76 54 32
"""


@pytest.fixture(autouse=True)
def _quick(monkeypatch):
    # Files written by the test are read at once: let their reading be kept, and the cache be written at once.
    monkeypatch.setattr(book_cache, "RECENT_NS", -1)
    monkeypatch.setattr(live_book, "CACHE_SAVE_DELAY", 0.0)


async def launch(settings: Settings, cache: Path) -> BookSnapshot:
    """One launch: the book the live book first says; returns once the cache is written (or found unchanged)."""
    first: asyncio.Future[BookSnapshot] = asyncio.get_running_loop().create_future()
    book = LiveBook(settings, domain="example.org", on_notice=lambda _notice: None, cache_path=cache)
    before = cache.stat().st_mtime_ns if cache.exists() else None
    task = asyncio.create_task(book.run(lambda snapshot: first.done() or first.set_result(snapshot)))
    try:
        snapshot = await first
        for _ in range(100):  # the save runs in a worker thread right after the first book
            await asyncio.sleep(0.02)
            if cache.exists() and cache.stat().st_mtime_ns != before:
                break
        return snapshot
    finally:
        task.cancel()


def seen(snapshot: BookSnapshot) -> list[tuple]:
    return [
        (c.id, c.name, [(n.raw, n.kinds, n.e164) for n in c.numbers], c.sip_addresses, c.source, c.index)
        for c in snapshot.contacts
    ] + [(s.source, s.index, s.reason) for s in snapshot.skipped]


@pytest.fixture
def book(tmp_path: Path) -> Path:
    path = tmp_path / "book.vcf"
    path.write_text(CARDS)
    return path


async def test_a_second_launch_takes_the_same_book_from_the_cache(tmp_path, book, monkeypatch):
    settings = Settings(vcard=[book], region="FR")
    cache = tmp_path / "cache" / "book.json"
    first = await launch(settings, cache)
    assert first.contacts[0].numbers[0].e164 == "+33612345678"
    assert len(first.skipped) == 1

    def no_parsing(_paths: object) -> None:
        raise AssertionError("the file was parsed again")

    monkeypatch.setattr(book_reader, "read_files", no_parsing)
    second = await launch(settings, cache)
    assert seen(second) == seen(first)
    assert second.resources == first.resources


async def test_an_edit_made_while_closed_is_read_even_with_the_same_size_and_time(tmp_path, book):
    settings = Settings(vcard=[book], region="FR")
    cache = tmp_path / "cache" / "book.json"
    await launch(settings, cache)
    before = book.stat()
    book.write_text(CARDS.replace("Anna Müller", "Anna Muller").replace("06 12", "06 13"))
    os.utime(book, ns=(before.st_atime_ns, before.st_mtime_ns))  # as a sync tool that keeps the time does
    assert book.stat().st_mtime_ns == before.st_mtime_ns

    again = await launch(settings, cache)
    assert again.contacts[0].name == "Anna Muller"
    assert again.contacts[0].numbers[0].e164 == "+33613345678"


async def test_another_region_reads_the_files_again(tmp_path, book):
    cache = tmp_path / "cache" / "book.json"
    await launch(Settings(vcard=[book], region="FR"), cache)
    belgian = await launch(Settings(vcard=[book], region="BE"), cache)
    assert belgian.contacts[0].numbers[0].e164 != "+33612345678"


@pytest.mark.parametrize("content", [b"", b"{not json", b'{"header": [1], "files": 3}', b"\x80\x81" * 50])
async def test_a_broken_cache_is_read_past_and_written_again(tmp_path, book, content):
    settings = Settings(vcard=[book], region="FR")
    cache = tmp_path / "cache" / "book.json"
    expected = seen(await launch(settings, cache))
    cache.write_bytes(content)

    assert seen(await launch(settings, cache)) == expected
    assert [contact.name for contact in BookCache(cache, "FR").load()[book].contacts] == ["Anna Müller"]


async def test_a_cache_from_other_versions_is_not_used(tmp_path, book):
    settings = Settings(vcard=[book], region="FR")
    cache = tmp_path / "cache" / "book.json"
    await launch(settings, cache)
    cache.write_bytes(cache.read_bytes().replace(b'"header":[1,', b'"header":[0,'))
    assert BookCache(cache, "FR").load() == {}


async def test_a_cache_made_with_another_install_of_phonenumbers_is_not_used(tmp_path, book, monkeypatch):
    """Its number rules may have changed: a new install rewrites its `__init__.py`, which the cache notes."""
    settings = Settings(vcard=[book], region="FR")
    cache = tmp_path / "cache" / "book.json"
    await launch(settings, cache)
    assert BookCache(cache, "FR").load() != {}
    installed = Path(book_cache.importlib.util.find_spec("phonenumbers").origin)
    upgraded = tmp_path / "phonenumbers" / "__init__.py"
    upgraded.parent.mkdir()
    upgraded.write_bytes(installed.read_bytes() + b"\n")
    monkeypatch.setattr(book_cache.importlib.util, "find_spec", lambda name: type("Spec", (), {"origin": upgraded}))
    assert BookCache(cache, "FR").load() == {}


async def test_the_users_files_are_only_read_and_the_cache_is_private(tmp_path, book):
    settings = Settings(vcard=[tmp_path], region="FR")  # a directory of vCards
    before = (book.read_bytes(), book.stat().st_mtime_ns, sorted(p.name for p in tmp_path.iterdir()))
    cache = tmp_path.parent / f"{tmp_path.name}-cache" / "book.json"
    await launch(settings, cache)
    await launch(settings, cache)
    assert (book.read_bytes(), book.stat().st_mtime_ns, sorted(p.name for p in tmp_path.iterdir())) == before
    assert stat.S_IMODE(cache.stat().st_mode) == 0o600
    assert stat.S_IMODE(cache.parent.stat().st_mode) == 0o700


def test_a_file_changed_just_before_it_is_read_is_not_kept(tmp_path, book, monkeypatch):
    monkeypatch.setattr(book_cache, "RECENT_NS", 2_000_000_000)
    settings = Settings(vcard=[book], region="FR")
    cache = tmp_path / "cache" / "book.json"
    asyncio.run(launch(settings, cache))
    assert BookCache(cache, "FR").load() == {}


def test_the_default_cache_is_in_the_users_cache_directory_one_per_book(tmp_path, monkeypatch):
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path))
    one = default_book_cache([Path("/a/book.vcf")], "FR")
    assert one.is_relative_to(tmp_path / "smartbook")
    assert default_book_cache([Path("/a/book.vcf")], "FR") == one
    assert default_book_cache([Path("/b/book.vcf")], "FR") != one
    assert default_book_cache([Path("/a/book.vcf")], "BE") != one


@pytest.mark.parametrize("in_a_process", [True, False])
def test_a_book_read_in_a_process_is_the_book_read_here(tmp_path, book, monkeypatch, in_a_process):
    other = tmp_path / "other.vcf"
    other.write_text(CARDS.replace("anna", "bert").replace("Anna", "Bert"))
    missing = tmp_path / "missing.vcf"
    here = {file: book_reader._read_here(file, "FR") for file in (book, other, missing)}
    monkeypatch.setattr(book_reader, "PROCESS_MIN_BYTES", 1 if in_a_process else 1 << 40)
    if in_a_process:
        monkeypatch.setattr(book_reader, "_read_here", lambda *_: pytest.fail("read here, not in the process"))
    assert book_reader.read_files([book, other, missing], "FR") == here


def test_a_book_shared_among_reading_processes_is_the_book_read_here(tmp_path, monkeypatch):
    big = tmp_path / "big.vcf"  # read by every process, a run of its cards each; the small files go whole
    big.write_text("".join(CARDS.replace("anna", f"anna{n}").replace("Müller", f"Müller {n}") for n in range(7)))
    small = tmp_path / "small.vcf"
    small.write_text(CARDS.replace("anna", "bert"))
    missing = tmp_path / "missing.vcf"
    files = [big, small, missing]
    here = {file: book_reader._read_here(file, "FR") for file in files}
    monkeypatch.setattr(book_reader, "PROCESS_MIN_BYTES", 1)
    monkeypatch.setattr(book_reader, "_cores", lambda: 3)
    plans = book_reader.plan_reading({file: book_reader._size(file) for file in files}, 3)
    assert [[share for file, share in plan if file == big] for plan in plans] == [[(0, 3)], [(1, 3)], [(2, 3)]]
    assert sum(file == small for plan in plans for file, _share in plan) == 1
    monkeypatch.setattr(book_reader, "_read_here", lambda *_: pytest.fail("read here, not in the processes"))
    assert book_reader.read_files(files, "FR") == here


def test_a_file_whose_share_is_lost_with_its_process_is_read_here_whole(tmp_path, book, monkeypatch):
    monkeypatch.setattr(book_reader, "PROCESS_MIN_BYTES", 1)
    monkeypatch.setattr(book_reader, "_cores", lambda: 2)
    here = {book: book_reader._read_here(book, "FR")}
    answered = book_reader._read_in_a_process
    calls = iter([True, False])
    monkeypatch.setattr(book_reader, "_read_in_a_process", lambda *a: answered(*a) if next(calls) else {})
    assert book_reader.read_files([book], "FR") == here


def test_a_reading_process_that_fails_leaves_the_reading_here(tmp_path, book, monkeypatch):
    monkeypatch.setattr(book_reader, "PROCESS_MIN_BYTES", 1)
    monkeypatch.setattr(book_reader.sys, "executable", str(tmp_path / "no-such-python"))
    assert book_reader.read_files([book], "FR") == {book: book_reader._read_here(book, "FR")}


async def test_a_book_read_ahead_is_taken_by_the_live_book(tmp_path, book, monkeypatch):
    settings = Settings(vcard=[book], region="FR")
    expected = seen(await launch(settings, tmp_path / "elsewhere.json"))
    read_ahead(settings)
    ahead = live_book._ahead[((book,), "FR")]
    ahead.result(timeout=30)
    monkeypatch.setattr(book_reader, "read_files", lambda *_: pytest.fail("read again, not taken from ahead"))
    assert seen(await launch(settings, tmp_path / "cache.json")) == expected
    assert not live_book._ahead


async def test_a_launch_leaves_a_cached_book_to_the_live_book_and_reads_ahead_an_edited_one(tmp_path, book):
    settings = Settings(vcard=[book], region="FR")
    cache = default_book_cache([book], "FR")  # where a launch looks
    first = await launch(settings, cache)
    read_ahead(settings)
    assert live_book._ahead[((book,), "FR")].result(timeout=30) is None
    assert seen(await launch(settings, cache)) == seen(first)

    book.write_text(CARDS.replace("Anna Müller", "Anna Schmidt"))
    read_ahead(settings)
    assert live_book._ahead[((book,), "FR")].result(timeout=30) is not None
    assert (await launch(settings, cache)).contacts[0].name == "Anna Schmidt"


@pytest.mark.parametrize("answer", ["not an answer", "cut short"])
def test_a_reading_process_that_answers_what_cannot_be_read_leaves_the_reading_here(tmp_path, book, answer):
    here = {book: book_reader._read_here(book, "FR")}
    written = book_reader.encode_readings(here)
    assert book_reader.decode_readings(written) == here
    fake = tmp_path / "python"  # stands for the interpreter the reading process runs in
    (tmp_path / "answer").write_bytes(b"not an answer" if answer == "not an answer" else written[: len(written) // 2])
    fake.write_text(f"#!/bin/sh\ncat {tmp_path / 'answer'}\n")
    fake.chmod(0o755)
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(book_reader, "PROCESS_MIN_BYTES", 1)
        patch.setattr(book_reader.sys, "executable", str(fake))
        assert book_reader.read_files([book], "FR") == here
