"""Access to fixtures/wire: each entry's body and the headers it travels under."""

from __future__ import annotations

import tomllib
from dataclasses import dataclass
from pathlib import Path

WIRE = Path(__file__).resolve().parent.parent / "fixtures" / "wire"


@dataclass(frozen=True)
class WireFixture:
    name: str
    body: bytes
    content_type: str
    content_encoding: str | None
    about: str


def wire_fixtures() -> dict[str, WireFixture]:
    index = tomllib.loads((WIRE / "index.toml").read_text())
    return {
        name: WireFixture(
            name,
            (WIRE / entry["file"]).read_bytes(),
            entry["content_type"],
            entry.get("content_encoding"),
            entry["about"],
        )
        for name, entry in index.items()
    }


def wire(name: str) -> WireFixture:
    return wire_fixtures()[name]
