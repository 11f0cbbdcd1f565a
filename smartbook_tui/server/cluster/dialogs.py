"""A node's saved subscription dialogs in Redis, where another node takes them over when it dies, sans-IO: their
records, the scripts that change them, and `ClusterDialogs`, the core's dialog keeper on a node.

Each node keeps its dialogs (the UDP ones, as a single server keeps them in its store: `saved_dialogs`) in the hash
`smartbook:dialogs:<node>`, one field by dialog (its id as a JSON array) whose value is the record: the
`SavedDialog` as JSON, its expiry in wall-clock seconds. A node alive keeps `smartbook:alive:<node>` (expiring after
`NODE_TTL`) and is in the set `smartbook:nodes`. A node that finds another's key gone takes its dialogs with
`TAKE_SCRIPT`, once (`smartbook:takeover:<node>`, set if not there, says who did), which moves them into its own
hash with their CSeq and version ceilings moved on by the reserve (as `Store.resume_dialogs` does) and gives back
the records as they were; a restarted node takes its own hash the same way.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

from smartbook_tui.server.store import DialogId, DialogProgress, SavedDialog

from .records import ClusterDataError

__all__ = [
    "NODES_KEY",
    "NODE_TTL",
    "PROGRESS_SCRIPT",
    "TAKEOVER_TTL",
    "TAKE_SCRIPT",
    "ClusterDialogs",
    "DialogBatch",
    "alive_key",
    "decode_dialog",
    "dialog_field",
    "dialogs_key",
    "encode_dialog",
    "takeover_key",
]

NODES_KEY = "smartbook:nodes"
NODE_TTL = 2.0  # seconds a node's alive key lasts: how long a silent node is given before its dialogs are taken
TAKEOVER_TTL = 60.0  # seconds the name of the node that took a dead node's dialogs is kept, for it to hear


def dialogs_key(node: str) -> str:
    return f"smartbook:dialogs:{node}"


def alive_key(node: str) -> str:
    return f"smartbook:alive:{node}"


def takeover_key(node: str) -> str:
    return f"smartbook:takeover:{node}"


def dialog_field(dialog_id: DialogId) -> str:
    return json.dumps(list(dialog_id), separators=(",", ":"))


def encode_dialog(dialog: SavedDialog, wall_now: float) -> str:
    return json.dumps(
        {
            "id": list(dialog.id),
            "watcher": dialog.watcher,
            "uri": dialog.uri,
            "kind": dialog.kind,
            "entries": list(dialog.entries),
            "legacy": dialog.legacy,
            "deflate": dialog.deflate,
            "address": list(dialog.address),
            "remote": dialog.remote,
            "local": dialog.local,
            "target": dialog.target,
            "expires": round(wall_now + dialog.expires_in, 3),
            "cseq": dialog.cseq,
            "version": dialog.version,
            "route": list(dialog.route),
        },
        separators=(",", ":"),
    )


def decode_dialog(text: str | bytes, wall_now: float) -> SavedDialog:
    try:
        data = json.loads(text)
        call_id, remote_tag, local_tag = _strings(data["id"])
        host, port = data["address"]
        kind = data["kind"]
        if kind not in ("presentity", "list", "stored list"):
            raise ValueError(f"an unknown kind {kind!r}")
        return SavedDialog(
            (call_id, remote_tag, local_tag),
            _text(data["watcher"]),
            _text(data["uri"]),
            kind,
            _strings(data["entries"]),
            bool(data["legacy"]),
            bool(data["deflate"]),
            (_text(host), int(port)),
            _text(data["remote"]),
            _text(data["local"]),
            _text(data["target"]),
            float(data["expires"]) - wall_now,
            int(data["cseq"]),
            int(data["version"]),
            _strings(data["route"]),
        )
    except (ValueError, KeyError, TypeError) as error:
        raise ClusterDataError(f"an unreadable saved dialog ({error})") from None


def _strings(value: Any) -> tuple[str, ...]:
    if isinstance(value, dict) and not value:  # Lua's cjson writes an empty array as {}
        return ()
    if not isinstance(value, list):
        raise TypeError(f"{str(value)[:40]!r} is not a list")
    return tuple(_text(item) for item in value)


def _text(value: Any) -> str:
    if not isinstance(value, str):
        raise TypeError(f"{value!r} is not a string")
    return value


@dataclass(slots=True)
class DialogBatch:
    """One flush of the journal: dialogs created, moved on and ended, or, with `forget`, all of them gone (a
    graceful stop ended them)."""

    created: Sequence[SavedDialog] = ()
    progressed: Sequence[DialogProgress] = ()
    ended: Sequence[DialogId] = ()
    forget: bool = False


@dataclass
class ClusterDialogs:
    """The core's dialog keeper on a node (`saved_dialogs.DialogKeeper`): its batches go to the cluster link
    (`write`), which writes them to Redis; `resumed` are the dialogs of this node Redis held when it started."""

    write: Callable[[DialogBatch], None]
    resumed: list[SavedDialog] = field(default_factory=list)

    def save_dialogs(
        self,
        domain: str,
        created: Sequence[SavedDialog],
        progressed: Sequence[DialogProgress],
        ended: Sequence[DialogId],
    ) -> None:
        self.write(DialogBatch(created, progressed, ended))

    def resume_dialogs(self, domain: str, reserve: int) -> list[SavedDialog]:
        resumed, self.resumed = self.resumed, []
        return resumed

    def forget_dialogs(self, domain: str) -> None:
        self.write(DialogBatch(forget=True))


# KEYS[1]: the hash taken, KEYS[2]: the taker's. ARGV: now (wall-clock seconds), the reserve. The records, as they
# were, of the unexpired dialogs moved (the expired ones are dropped).
TAKE_SCRIPT = """
local now, reserve = tonumber(ARGV[1]), tonumber(ARGV[2])
local taken = {}
local fields = redis.call('HGETALL', KEYS[1])
redis.call('DEL', KEYS[1])
for i = 1, #fields, 2 do
  local dialog = cjson.decode(fields[i + 1])
  if dialog.expires > now then
    taken[#taken + 1] = fields[i + 1]
    dialog.cseq = dialog.cseq + reserve
    dialog.version = dialog.version + reserve
    redis.call('HSET', KEYS[2], fields[i], cjson.encode(dialog))
  end
end
return taken
"""

# KEYS[1]: the node's hash. ARGV: the dialog's field, its new expiry, CSeq and version ceilings (never lowered).
PROGRESS_SCRIPT = """
local saved = redis.call('HGET', KEYS[1], ARGV[1])
if not saved then return 0 end
local dialog = cjson.decode(saved)
dialog.expires = tonumber(ARGV[2])
dialog.cseq = math.max(dialog.cseq, tonumber(ARGV[3]))
dialog.version = math.max(dialog.version, tonumber(ARGV[4]))
redis.call('HSET', KEYS[1], ARGV[1], cjson.encode(dialog))
return 1
"""
