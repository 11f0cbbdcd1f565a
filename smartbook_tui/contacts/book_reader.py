"""vCard files read into normalised contacts, in a process of their own when there is much to read.

Parsing and normalising are pure Python: in the app's process they share the interpreter with the event loop and
the screen's start-up, and a 10,000-card book read in 0.5 s alone took 1.5-2.3 s there. A second process reads
them on another core. It is a fresh interpreter (`python -P -m smartbook_tui.contacts.book_reader REGION`, never a
fork of a process that may hold pjsua2 or Textual) that imports this package only, reads the files named on its
input, and answers on its standard output in the book cache's format.
"""

from __future__ import annotations

import logging
import os
import subprocess
import sys
from collections.abc import Sequence
from pathlib import Path

from .book_cache import DECODE_ERRORS, FileBook, book_header, decode_books, encode_books
from .model import Contact, SkippedCard
from .phones import normalize_contacts
from .vcard import read_vcard_paths

log = logging.getLogger(__name__)

PROCESS_MIN_BYTES = 256 * 1024  # ~1,500 cards: below that, starting a process (~0.15 s) costs more than it spares
PROCESS_TIMEOUT = 300.0  # seconds: a reader that never answers is given up on, and the files are read here

Reading = tuple[list[Contact], list[SkippedCard]]  # a file's contacts, normalised, and the cards skipped


def read_files(files: Sequence[Path], region: str | None) -> dict[Path, Reading]:
    """Each file's contacts, normalised under `region`, and its skipped cards (blocks: call it from a thread)."""
    readings: dict[Path, Reading] = {}
    if sum(_size(file) for file in files) >= PROCESS_MIN_BYTES:
        readings = _read_in_a_process(files, region)
    for file in files:
        if file not in readings:
            readings[file] = _read_here(file, region)
    return readings


def _size(file: Path) -> int:
    try:
        return file.stat().st_size
    except OSError:
        return 0


def _read_here(file: Path, region: str | None) -> Reading:
    found = read_vcard_paths([file])
    return normalize_contacts(found.contacts, region), found.skipped


def _read_in_a_process(files: Sequence[Path], region: str | None) -> dict[Path, Reading]:
    """What the reading process answered; nothing when it failed (the caller then reads the files itself)."""
    command = [sys.executable, "-P", "-m", __name__, region or ""]
    names = b"\0".join(os.fsencode(file) for file in files)  # on its input: a long list is no command line
    try:
        done = subprocess.run(  # noqa: S603 (this interpreter, this module, no shell)
            command, input=names, capture_output=True, check=False, timeout=PROCESS_TIMEOUT
        )
    except (OSError, subprocess.TimeoutExpired) as exc:
        log.info("the book's reading process did not answer (%s): the book is read here", exc)
        return {}
    if done.returncode != 0:
        error = done.stderr.decode(errors="replace").strip().splitlines()[-1:] or [f"exit status {done.returncode}"]
        log.info("the book's reading process failed (%s): the book is read here", error[0])
        return {}
    try:
        books = decode_books(done.stdout, book_header(region))
    except DECODE_ERRORS as exc:
        log.info("the book's reading process answered what cannot be read (%s): the book is read here", exc)
        return {}
    return {file: (book.contacts, book.skipped) for file, book in books.items()}


def main(argv: Sequence[str]) -> None:
    """The reading process: the region as its argument, the files' names on its input, NUL-separated."""
    region = argv[0] or None
    files = [Path(os.fsdecode(name)) for name in sys.stdin.buffer.read().split(b"\0") if name]
    books = {file: FileBook(None, *_read_here(file, region), 0) for file in files}
    sys.stdout.buffer.write(encode_books(books, book_header(region)))


if __name__ == "__main__":
    main(sys.argv[1:])
