"""vCard files read into normalised contacts, in processes of their own when there is much to read.

Parsing and normalising are pure Python: in the app's process they share the interpreter with the event loop and
the screen's start-up, and a 10,000-card book read in 0.5 s alone took 1.5-2.3 s there. Other processes read them
on the other cores, at a lower priority than the app's (its first frame comes first), each a share of the book: a
big file's cards are split into even runs, one per process, and small files go whole to the process with the least
to read. Each is a fresh interpreter (`python -P -m smartbook_tui.contacts.book_reader REGION`, never a fork of a
process that may hold pjsua2 or Textual) that imports this package only, reads the shares named on its input, and
answers on its standard output with the records as marshal's plain tuples: written and read back in a few
milliseconds, where JSON took ~180 ms to write and ~90 ms to read back for 25,000 contacts.
"""

from __future__ import annotations

import logging
import marshal
import os
import subprocess
import sys
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from smartbook_tui.collector import collector_paused

from .model import Contact, PhoneNumber, SkippedCard
from .phones import set_e164
from .vcard import WHOLE, Share, read_vcard_file

log = logging.getLogger(__name__)

PROCESS_MIN_BYTES = 256 * 1024  # ~1,500 cards: below that, starting a process (~0.15 s) costs more than it spares
MAX_PROCESSES = 4
PROCESS_NICENESS = 10  # the reading processes yield to the app's, which is starting its screen meanwhile
PROCESS_TIMEOUT = 300.0  # seconds: a reader that never answers is given up on, and the files are read here

Reading = tuple[list[Contact], list[SkippedCard]]  # a file's contacts, normalised, and the cards skipped
Plan = list[tuple[Path, Share]]  # what one reading process reads


def read_files(files: Sequence[Path], region: str | None) -> dict[Path, Reading]:
    """Each file's contacts, normalised under `region`, and its skipped cards (blocks: call it from a thread)."""
    sizes = {file: _size(file) for file in files}
    total = sum(sizes.values())
    processes = min(MAX_PROCESSES, _cores(), total // PROCESS_MIN_BYTES) if total >= PROCESS_MIN_BYTES else 0
    readings = _read_in_processes(plan_reading(sizes, processes), region) if processes else {}
    for file in files:
        if file not in readings:
            readings[file] = _read_here(file, region)
    return readings


def plan_reading(sizes: dict[Path, int], processes: int) -> list[Plan]:
    """What each process reads: a file bigger than half a process's even part of the bytes is read by all of them, a
    share each; any other goes whole to the process with the fewest bytes so far."""
    plans: list[Plan] = [[] for _ in range(processes)]
    loads = [0.0] * processes
    big = sum(sizes.values()) / processes / 2
    for file, size in sizes.items():
        if processes > 1 and size > big:
            for part, plan in enumerate(plans):
                plan.append((file, (part, processes)))
                loads[part] += size / processes
        else:
            least = loads.index(min(loads))
            plans[least].append((file, WHOLE))
            loads[least] += size
    return [plan for plan in plans if plan]


def _cores() -> int:
    """The cores this process may run on (a container or `taskset` may allow fewer than the machine has)."""
    return len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1


def _size(file: Path) -> int:
    try:
        return file.stat().st_size
    except OSError:
        return 0


def _read_here(file: Path, region: str | None, share: Share = WHOLE) -> Reading:
    found = read_vcard_file(file, share)
    set_e164(found.contacts, region)
    return found.contacts, found.skipped


def _read_in_processes(plans: list[Plan], region: str | None) -> dict[Path, Reading]:
    """The files every share of which a process answered, each its shares put end to end."""
    with ThreadPoolExecutor(len(plans)) as pool:
        answers = list(pool.map(lambda plan: _read_in_a_process(plan, region), plans))
    shares: dict[Path, dict[int, Reading]] = {}
    wanted: dict[Path, int] = {}
    for plan, answer in zip(plans, answers, strict=True):
        for file, (part, parts) in plan:
            wanted[file] = parts
            if file in answer:
                shares.setdefault(file, {})[part] = answer[file]
    return {
        file: (
            [contact for part in sorted(read) for contact in read[part][0]],
            [card for part in sorted(read) for card in read[part][1]],
        )
        for file, read in shares.items()
        if len(read) == wanted[file]  # a share lost with its process: the file is read here, whole
    }


def _read_in_a_process(plan: Plan, region: str | None) -> dict[Path, Reading]:
    """What the reading process answered; nothing when it failed (the caller then reads the files itself)."""
    command = [sys.executable, "-P", "-m", __name__, region or ""]
    # On its input (a long list is no command line): "PART PARTS PATH" for each share, NUL-separated.
    tasks = b"\0".join(f"{part} {parts} ".encode() + os.fsencode(file) for file, (part, parts) in plan)
    try:
        done = subprocess.run(  # noqa: S603 (this interpreter, this module, no shell)
            command, input=tasks, capture_output=True, check=False, timeout=PROCESS_TIMEOUT
        )
    except (OSError, subprocess.TimeoutExpired) as exc:
        log.info("a reading process of the book did not answer (%s): its part is read here", exc)
        return {}
    if done.returncode != 0:
        error = done.stderr.decode(errors="replace").strip().splitlines()[-1:] or [f"exit status {done.returncode}"]
        log.info("a reading process of the book failed (%s): its part is read here", error[0])
        return {}
    try:
        return decode_readings(done.stdout)
    except (ValueError, TypeError, EOFError) as exc:
        log.info("a reading process of the book answered what cannot be read (%s): its part is read here", exc)
        return {}


def encode_readings(readings: dict[Path, Reading]) -> bytes:
    """A reading process's answer: for each file its contacts and skipped cards as tuples, each set of a number's
    kinds written once."""
    kinds_seen: dict[tuple[str, ...], tuple[str, ...]] = {}
    return marshal.dumps(
        [
            (
                str(file),
                [
                    (
                        c.id,
                        c.name,
                        tuple([(n.raw, kinds_seen.setdefault(n.kinds, n.kinds), n.e164) for n in c.numbers]),
                        c.sip_addresses,
                        c.index,
                    )
                    for c in contacts
                ],
                [(card.index, card.reason) for card in skipped],
            )
            for file, (contacts, skipped) in readings.items()
        ]
    )


def decode_readings(data: bytes) -> dict[Path, Reading]:
    """The readings `encode_readings` wrote. Raises ValueError, TypeError or EOFError for an answer it did not
    write."""
    with collector_paused(long_lived=True):  # tens of thousands of objects, as long-lived as the book
        return {
            Path(source): (
                [
                    Contact(
                        uid,
                        name,
                        tuple([PhoneNumber(raw, kinds, e164) for raw, kinds, e164 in numbers]),
                        sip_addresses,
                        source,
                        index,
                    )
                    for uid, name, numbers, sip_addresses, index in contacts
                ],
                [SkippedCard(source, index, reason) for index, reason in skipped],
            )
            for source, contacts, skipped in marshal.loads(data)  # noqa: S302 (the answer of a process started here)
        }


def main(argv: Sequence[str]) -> None:
    """The reading process: the region as its argument, its shares on its input (see `_read_in_a_process`)."""
    os.nice(PROCESS_NICENESS)
    region = argv[0] or None
    readings = {}
    with collector_paused():  # a third of the process's time went to collections walking the contacts made
        for task in filter(None, sys.stdin.buffer.read().split(b"\0")):
            part, parts, name = task.split(b" ", 2)
            file = Path(os.fsdecode(name))
            readings[file] = _read_here(file, region, (int(part), int(parts)))
        sys.stdout.buffer.write(encode_readings(readings))


if __name__ == "__main__":
    main(sys.argv[1:])
