"""`AnsweringPhones` in a process of its own (one pjsua2 endpoint per process), for the call tests: registers the
users given at the server on 127.0.0.1:PORT, optionally calls someone from the first of them, prints each call's
change as a JSON line (`{"event": "call", "user": ..., "state": ..., "reason": ...}`, after `{"event": "ready"}`),
and shuts down cleanly when its standard input closes.

    python -m tests.interop.answering_child --port N --password-file F --user bob [--call URI] [--ring S] [--talk S]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
from pathlib import Path

from smartbook_tui.phone.answering import AnsweringPhones
from smartbook_tui.phone.states import CallEvent


def _emit(**line: object) -> None:
    print(json.dumps(line), flush=True)


def _report(user: str, event: CallEvent) -> None:
    if not event.digit:
        _emit(event="call", user=user, state=event.call.state.value, reason=event.call.end_reason)


async def _serve(args: argparse.Namespace) -> None:
    phones = AnsweringPhones(
        ("127.0.0.1", args.port), "127.0.0.1", ring_seconds=args.ring, talk_seconds=args.talk, on_event=_report
    )
    await phones.start()
    try:
        password = args.password_file.read_text().strip()
        for user in args.user:
            await phones.add(user, password)
        _emit(event="ready")
        if args.call:
            phones.call(args.user[0], args.call)
        loop = asyncio.get_running_loop()
        stdin_closed = loop.create_future()
        loop.add_reader(sys.stdin.fileno(), lambda: stdin_closed.done() or stdin_closed.set_result(None))
        await stdin_closed
    finally:
        await phones.shutdown()
    _emit(event="stopped")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--password-file", type=Path, required=True)
    parser.add_argument("--user", action="append", required=True)
    parser.add_argument("--call", help="a SIP address the first user calls once registered")
    parser.add_argument("--ring", type=float, default=0.3)
    parser.add_argument("--talk", type=float, default=1.5)
    try:
        asyncio.run(_serve(parser.parse_args()))
    except Exception as exc:
        print(f"answering_child: {type(exc).__name__}: {exc}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
