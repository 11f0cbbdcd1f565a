"""Each user's registrations in Redis, for the calls other nodes route, sans-IO: `smartbook:reg:<AOR>`, a hash of
the user's UDP bindings (by Contact) as the node that took the REGISTER holds them, written again whole at each
REGISTER, and gone when they expire. A node that holds none of a user's bindings reads it when a call comes (a
user registered through another node, maybe one that died since: its registrations stay valid until they
expire). A binding's address is where its REGISTER came from, the front for a node behind one: reachable from any
node."""

from __future__ import annotations

import json
from typing import Any

from smartbook_tui.server.store import SavedBinding

from .records import ClusterDataError

__all__ = ["decode_binding", "encode_binding", "registrations_key"]


def registrations_key(aor: str) -> str:
    return f"smartbook:reg:{aor}"


def encode_binding(binding: SavedBinding, wall_now: float) -> str:
    return json.dumps(
        {
            "username": binding.username,
            "contact": binding.contact,
            "call_id": binding.call_id,
            "cseq": binding.cseq,
            "address": list(binding.address),
            "user_agent": binding.user_agent,
            "expires": round(wall_now + binding.expires_in, 3),
        },
        separators=(",", ":"),
    )


def decode_binding(aor: str, text: str | bytes, wall_now: float) -> SavedBinding:
    try:
        data = json.loads(text)
        host, port = data["address"]
        return SavedBinding(
            _text(data["username"]),
            aor,
            _text(data["contact"]),
            _text(data["call_id"]),
            int(data["cseq"]),
            (_text(host), int(port)),
            None if data["user_agent"] is None else _text(data["user_agent"]),
            float(data["expires"]) - wall_now,
        )
    except (ValueError, KeyError, TypeError) as error:
        raise ClusterDataError(f"an unreadable registration ({error})") from None


def _text(value: Any) -> str:
    if not isinstance(value, str):
        raise TypeError(f"{value!r} is not a string")
    return value
