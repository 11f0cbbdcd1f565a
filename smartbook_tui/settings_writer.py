"""Writing sections of the TOML settings file: a serializer for the flat sections smartbook uses (strings,
booleans, numbers, lists of strings), and the splice that replaces one section and keeps the rest of the user's
file as they wrote it, comments included.

The stdlib reads TOML but does not write it; these flat sections need so little that a dependency is not worth it,
and a general writer would rewrite the whole file and drop the user's comments."""

from __future__ import annotations

import math
import re
import tomllib
from collections.abc import Mapping

_BARE_KEY = re.compile(r"[A-Za-z0-9_-]+")
_ESCAPES = {"\b": "\\b", "\t": "\\t", "\n": "\\n", "\f": "\\f", "\r": "\\r", '"': '\\"', "\\": "\\\\"}
_TABLE_LINE = re.compile(r"\s*\[")  # a table header, [name] or [[name]]
_BLANK_OR_COMMENT = re.compile(r"\s*(?:#.*)?\s*")

Section = Mapping[str, object]


def toml_value(value: object) -> str:
    """`value` as TOML: str, bool, int, float, or a list of those."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        if math.isnan(value):
            return "nan"
        if math.isinf(value):
            return "inf" if value > 0 else "-inf"
        return repr(value)
    if isinstance(value, str):
        return '"' + "".join(_escaped(char) for char in value) + '"'
    if isinstance(value, list | tuple):
        return "[" + ", ".join(toml_value(item) for item in value) + "]"
    raise TypeError(f"no TOML form for {type(value).__name__}")


def _escaped(char: str) -> str:
    if char in _ESCAPES:
        return _ESCAPES[char]
    return f"\\u{ord(char):04X}" if ord(char) < 0x20 or ord(char) == 0x7F else char


def toml_key(key: str) -> str:
    return key if _BARE_KEY.fullmatch(key) else toml_value(key)


def toml_section(name: str, values: Section) -> str:
    lines = [f"[{toml_key(name)}]", *(f"{toml_key(key)} = {toml_value(value)}" for key, value in values.items())]
    return "\n".join(lines) + "\n"


def replace_section(text: str, name: str, values: Section) -> str:
    """`text` (a valid TOML document of flat sections) with section `name` holding `values` alone: the section is
    rewritten where it stands (or added at the end), everything else is kept as written. When the document is
    laid out so that the section cannot be found line by line, the whole document is written anew."""
    data = tomllib.loads(text)
    expected = {**data, name: dict(values)}
    lines = text.splitlines(keepends=True)
    header = re.compile(rf"\s*\[\s*(?:{re.escape(name)}|\"{re.escape(name)}\")\s*\]\s*(?:#.*)?")
    start = next((i for i, line in enumerate(lines) if header.fullmatch(line.rstrip("\r\n"))), None)
    block = toml_section(name, values)
    if start is None:
        kept = text if not text or text.endswith("\n") else text + "\n"
        spliced = kept + ("\n" if kept.strip() else "") + block
    else:
        end = next((i for i in range(start + 1, len(lines)) if _TABLE_LINE.match(lines[i])), len(lines))
        while end > start + 1 and _BLANK_OR_COMMENT.fullmatch(lines[end - 1]):
            end -= 1  # the blank lines and comments before the next section stay with it
        tail = lines[end:]
        spliced = "".join(lines[:start]) + block + ("\n" if tail and tail[0].strip() else "") + "".join(tail)
    try:
        if tomllib.loads(spliced) == expected:
            return spliced
    except tomllib.TOMLDecodeError:
        pass
    return "\n".join(toml_section(section, section_values) for section, section_values in expected.items())
