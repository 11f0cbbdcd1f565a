"""How the nodes' shared state is written in Redis, sans-IO: key and channel names, the JSON of a publication, the
announcement of a change, and the script that makes a change and announces it in one step.

A presentity's live publications, from whichever node took them, are the hash `smartbook:pub:<AOR>`: one field by
ETag, whose value is the record (`encode_record`), plus the field `#v`, the version of the last change (milliseconds
of Redis's clock, or one more than the last version when changes come faster), and `#listed`, whom the presentity's
own subscriptions list (a JSON array of usernames: the other nodes' privacy gates read it). Every change runs
`CHANGE_SCRIPT`, which also drops expired records and any other record of the same device (a device that moved to
another node replaces its old publication there too), and announces on `smartbook:presence:<AOR>` what it removed
and added, or the new listing, with its version. A node that starts watching a presentity subscribes to its channel,
then reads the hash (the snapshot); it applies only what is newer than what it has (`Announcement.version`).

Times in Redis are wall-clock seconds (every node's clock is its own event loop's): `offset` is wall minus loop.
"""

from __future__ import annotations

import base64
import binascii
import json
from dataclasses import dataclass
from typing import Any

from smartbook_tui.server.publications import PublicationRecord

from .journal import PresentityChange

__all__ = [
    "CHANGE_SCRIPT",
    "Announcement",
    "ClusterDataError",
    "Snapshot",
    "aor_of_channel",
    "change_arguments",
    "decode_announcement",
    "decode_snapshot",
    "encode_record",
    "presence_channel",
    "publications_key",
]

_PREFIX = "smartbook:"
VERSION_FIELD = "#v"  # never an ETag: '#' is not in the tokens ETags are made of
LISTED_FIELD = "#listed"
_VERSIONS_OUTLIVE = 3600  # seconds a hash with no live record is kept, so that its version never goes back
_LISTING_OUTLIVES = 7 * 86400  # seconds a listing is kept after it was last written (a gate's memory)


def publications_key(aor: str) -> str:
    return f"{_PREFIX}pub:{aor}"


def presence_channel(aor: str) -> str:
    return f"{_PREFIX}presence:{aor}"


def aor_of_channel(channel: str) -> str | None:
    prefix = f"{_PREFIX}presence:"
    return channel[len(prefix) :] if channel.startswith(prefix) else None


class ClusterDataError(ValueError):
    """What Redis holds or announces does not read as this module writes it."""


@dataclass(frozen=True, slots=True)
class Announcement:
    node: str
    version: int
    removed: tuple[str, ...]
    added: PublicationRecord | None
    listed: tuple[str, ...] | None  # None: unchanged


@dataclass(frozen=True, slots=True)
class Snapshot:
    version: int
    records: list[PublicationRecord]
    listed: tuple[str, ...] | None


def encode_record(record: PublicationRecord, offset: float) -> str:
    return json.dumps(
        {
            "etag": record.etag,
            "body": base64.b64encode(record.body).decode("ascii"),
            "type": record.content_type,
            "device": record.device,
            "expires": round(record.expires_at + offset, 3),
            "modified": round(record.modified_at + offset, 6),
        },
        separators=(",", ":"),
    )


def decode_record(text: str | bytes, offset: float) -> PublicationRecord:
    try:
        data = json.loads(text)
        record = PublicationRecord(
            _text(data["etag"]),
            base64.b64decode(_text(data["body"]), validate=True),
            _text(data["type"]),
            None if data["device"] is None else _text(data["device"]),
            float(data["expires"]) - offset,
            float(data["modified"]) - offset,
        )
    except (ValueError, KeyError, TypeError, binascii.Error) as error:
        raise ClusterDataError(f"an unreadable publication record ({error})") from None
    return record


def decode_snapshot(fields: dict[bytes, bytes], offset: float) -> Snapshot:
    """A presentity's hash, as HGETALL gives it."""
    version = 0
    records = []
    listed = None
    for name, value in fields.items():
        if name == VERSION_FIELD.encode():
            version = _version(value)
        elif name == LISTED_FIELD.encode():
            listed = decode_listing(value)
        else:
            records.append(decode_record(value, offset))
    return Snapshot(version, records, listed)


def encode_listing(listed: tuple[str, ...]) -> str:
    return json.dumps(list(listed), separators=(",", ":"))


def decode_listing(text: str | bytes) -> tuple[str, ...]:
    try:
        data = json.loads(text)
        if not isinstance(data, list):
            raise TypeError("not a list")
        return tuple(_text(name) for name in data)
    except (ValueError, TypeError) as error:
        raise ClusterDataError(f"an unreadable listing ({error})") from None


def decode_announcement(data: bytes, offset: float) -> Announcement:
    try:
        message = json.loads(data)
        removed = message["removed"]
        added = message["added"]
        listed = message["listed"]
        announcement = Announcement(
            _text(message["node"]),
            _version(message["v"]),
            tuple(_text(etag) for etag in removed) if isinstance(removed, list) else (),  # Lua writes {} for none
            decode_record(added, offset) if added else None,
            decode_listing(listed) if listed else None,
        )
    except (ValueError, KeyError, TypeError) as error:
        raise ClusterDataError(f"an unreadable announcement ({error})") from None
    return announcement


def change_arguments(
    node: str, change: PresentityChange, *, offset: float, wall_now: float
) -> tuple[list[str], list[str | float]]:
    """The KEYS and ARGV of `CHANGE_SCRIPT` for one change."""
    record = change.record
    if record is None:
        added: list[str | float] = ["", "", "", 0]
    else:
        added = [encode_record(record, offset), record.etag, record.device or "", round(record.expires_at + offset, 3)]
    listed = encode_listing(change.listed) if change.listed is not None else ""
    arguments = [presence_channel(change.aor), node, round(wall_now, 3), *added, listed, *change.removed]
    return [publications_key(change.aor)], arguments


def _text(value: Any) -> str:
    if not isinstance(value, str):
        raise TypeError(f"{value!r} is not a string")
    return value


def _version(value: Any) -> int:
    version = int(value)
    if version < 0:
        raise ValueError(f"a negative version {version}")
    return version


# KEYS[1]: the presentity's hash. ARGV: its channel, the node, now (wall-clock seconds), the record added ('' for
# none), its ETag, its device ('' for none), its expiry, the listing ('' for unchanged); then the ETags removed.
CHANGE_SCRIPT = f"""
local key = KEYS[1]
local channel, node, now = ARGV[1], ARGV[2], tonumber(ARGV[3])
local added, etag, device, expires, listed = ARGV[4], ARGV[5], ARGV[6], tonumber(ARGV[7]), ARGV[8]
local removed = {{}}
for i = 9, #ARGV do
  redis.call('HDEL', key, ARGV[i])
  removed[#removed + 1] = ARGV[i]
end
local latest = now
local fields = redis.call('HGETALL', key)
for i = 1, #fields, 2 do
  local field = fields[i]
  if string.sub(field, 1, 1) ~= '#' and field ~= etag then
    local record = cjson.decode(fields[i + 1])
    if record.expires <= now or (device ~= '' and record.device == device) then
      redis.call('HDEL', key, field)
      removed[#removed + 1] = field
    elseif record.expires > latest then
      latest = record.expires
    end
  end
end
if added ~= '' then
  redis.call('HSET', key, etag, added)
  if expires > latest then latest = expires end
end
if listed ~= '' then
  redis.call('HSET', key, '{LISTED_FIELD}', listed)
end
if redis.call('HEXISTS', key, '{LISTED_FIELD}') == 1 then
  local ttl = redis.call('PTTL', key) / 1000 - {_VERSIONS_OUTLIVE}
  if listed ~= '' then ttl = {_LISTING_OUTLIVES} end
  if now + ttl > latest then latest = now + ttl end
end
local time = redis.call('TIME')
local clock = tonumber(time[1]) * 1000 + math.floor(tonumber(time[2]) / 1000)
local version = math.max(clock, (tonumber(redis.call('HGET', key, '{VERSION_FIELD}')) or 0) + 1)
redis.call('HSET', key, '{VERSION_FIELD}', string.format('%.0f', version))
redis.call('PEXPIREAT', key, string.format('%.0f', (latest + {_VERSIONS_OUTLIVE}) * 1000))
redis.call('PUBLISH', channel, cjson.encode({{node = node, v = string.format('%.0f', version), removed = removed,
  added = added, listed = listed}}))
return version
"""
