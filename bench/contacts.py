"""Figures for the contacts import (issue 3): a generated book of N vCard 3.0 contacts with two numbers each,
from the file to contact records with E.164 numbers and resource URIs; wall time and peak RSS, next to a naive
baseline measured in the same run (one vobject.readComponents pass plus one phonenumbers.parse per number).
Each measurement runs in a fresh process, so its peak RSS is its own. Prints figures; asserts nothing.

    python bench/contacts.py [--contacts 10000] [--repeat 5]

Target on the 2-core machine: <= 1.0 s wall and <= 150 MB peak RSS for 10,000 contacts.
"""

from __future__ import annotations

import argparse
import json
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

BENCH = Path(__file__).resolve().parent
sys.path[:0] = [str(BENCH.parent), str(BENCH)]

DOMAIN = "sip.example.org"


def smartbook_import(path: Path) -> dict[str, float]:
    from make_book import REGION

    from smartbook_tui.contacts import book_resource_uris, normalize_contacts, read_vcard_paths

    started = time.perf_counter()
    result = read_vcard_paths([path])
    contacts = normalize_contacts(result.contacts, REGION)
    uris = book_resource_uris(contacts, DOMAIN)
    elapsed = time.perf_counter() - started
    checked = sum(n.e164 is not None for c in contacts for n in c.numbers)
    return {"seconds": elapsed, "contacts": len(contacts), "checked": checked, "uris": len(uris)}


def naive_import(path: Path) -> dict[str, float]:
    import phonenumbers
    import vobject
    from make_book import REGION

    started = time.perf_counter()
    contacts = numbers = 0
    for card in vobject.readComponents(path.read_text()):
        contacts += 1
        for tel in card.contents.get("tel", []):
            phonenumbers.parse(tel.value, REGION)
            numbers += 1
    return {"seconds": time.perf_counter() - started, "contacts": contacts, "checked": numbers, "uris": 0}


WORKERS = {"smartbook": smartbook_import, "baseline": naive_import}


def run_worker(kind: str, path: Path) -> dict[str, float]:
    output = subprocess.run(
        [sys.executable, __file__, "--worker", kind, str(path)], capture_output=True, text=True, check=True
    ).stdout
    return json.loads(output)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--contacts", type=int, default=10_000)
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--worker", choices=WORKERS, help=argparse.SUPPRESS)
    parser.add_argument("path", nargs="?", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.worker:
        figures = WORKERS[args.worker](args.path)
        figures["peak_rss_mb"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
        print(json.dumps(figures))
        return

    from make_book import make_book

    with tempfile.TemporaryDirectory() as directory:
        path = Path(directory) / "book.vcf"
        path.write_text(make_book(args.contacts), newline="")
        ours = [run_worker("smartbook", path) for _ in range(args.repeat)]
        baseline = run_worker("baseline", path)
    seconds = [run["seconds"] for run in ours]
    median, best = statistics.median(seconds), min(seconds)
    first = ours[0]
    print(f"import + normalise {args.contacts} vCard 3.0 contacts, two numbers each ({args.repeat} runs)")
    print(f"  smartbook  median {median:6.3f} s   best {best:6.3f} s   peak RSS {first['peak_rss_mb']:6.1f} MB")
    print(
        f"  baseline          {baseline['seconds']:6.3f} s                  peak RSS {baseline['peak_rss_mb']:6.1f} MB"
    )
    print(f"  speed-up  {baseline['seconds'] / median:.1f}x (median)")
    print(
        f"  {first['contacts']} contacts, {first['checked']} numbers checked, {first['uris']} resource URIs "
        f"(baseline: {baseline['contacts']} cards, {baseline['checked']} numbers parsed)"
    )
    print("targets: <= 1.0 s wall, <= 150 MB peak RSS")


if __name__ == "__main__":
    main()
