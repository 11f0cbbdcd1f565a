"""`smartbook inspect`: decode a captured presence body, for operators chasing a NOTIFY that looks wrong."""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Iterator
from pathlib import Path

from smartbook_tui.presence import (
    DEFAULT_MAX_BODY_BYTES,
    ListState,
    Presence,
    PresenceDocumentError,
    decode_notify_body,
    summarize,
)


def add_arguments(inspect: argparse.ArgumentParser) -> None:
    inspect.description = (
        "Decode a presence body as a SIP peer would and print one JSON line for the list (if any) "
        "and one per presentity: whether it has an account, its SIP address, status, note and last-seen time."
    )
    inspect.add_argument("file", type=Path, help="the body, as bytes on the wire ('-' for standard input)")
    inspect.add_argument("--content-type", required=True, help="the Content-Type header of the message")
    inspect.add_argument("--content-encoding", help="the Content-Encoding header, e.g. deflate")
    inspect.add_argument("--lang", help="preferred language of notes, e.g. fr")
    inspect.add_argument(
        "--max-size",
        type=int,
        default=DEFAULT_MAX_BODY_BYTES,
        help="refuse bodies that are, or inflate to, more bytes than this (default: %(default)s)",
    )
    inspect.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    try:
        body = sys.stdin.buffer.read() if str(args.file) == "-" else args.file.read_bytes()
    except OSError as exc:
        print(f"smartbook: cannot read {args.file}: {exc.strerror}", file=sys.stderr)
        return 2
    try:
        decoded = decode_notify_body(args.content_type, args.content_encoding, body, args.max_size)
    except PresenceDocumentError as exc:
        print(f"smartbook: cannot decode {args.file}: {exc}", file=sys.stderr)
        return 2
    for line in _describe(decoded, args.lang):
        print(json.dumps(line, ensure_ascii=False))
    return 0


def _describe(decoded: ListState | Presence | None, lang: str | None) -> Iterator[dict[str, object]]:
    if decoded is None:
        yield {"body": None}
    elif isinstance(decoded, Presence):
        yield _presentity(decoded.entity, decoded, lang)
    else:
        yield from _describe_list(decoded, lang)


def _describe_list(state: ListState, lang: str | None) -> Iterator[dict[str, object]]:
    yield {
        "list": state.uri,
        "version": state.version,
        "full_state": state.full_state,
        "resources": len(state.resources),
    }
    for resource in state.resources:
        line = _presentity(resource.uri, resource.presence, lang)
        line["instances"] = [
            {"id": i.id, "state": i.state.value, "reason": i.reason, "cid": i.cid} for i in resource.instances
        ]
        if resource.names:
            line["name"] = resource.names[0].text
        if resource.error:
            line["error"] = resource.error
        yield line
        if resource.sublist is not None:
            yield from _describe_list(resource.sublist, lang)


def _presentity(uri: str, presence: Presence | None, lang: str | None) -> dict[str, object]:
    summary = summarize(presence, lang)
    return {
        "uri": uri,
        "has_account": summary.has_account,
        "sip_address": summary.sip_address,
        "status": summary.status.value,
        "note": summary.note,
        "last_seen": summary.last_seen.isoformat() if summary.last_seen else None,
    }
