"""SMS gateways of the account API (`--sms`): `console` for local use and the demo, `http` for real providers.

A gateway's `send` returns once the message is handed over, or raises `SmsFailed` with one line for a person (never
the message's text, which holds the code); the API then answers 503 and counts no code.
"""

from __future__ import annotations

from typing import Protocol

__all__ = ["DEFAULT_BODY", "SmsFailed", "SmsGateway", "code_text", "parse_header"]

DEFAULT_BODY = '{"to": "$to", "text": "$text"}'  # the http gateway's template


class SmsFailed(Exception):
    """The message could not be handed over; one line for a person, without the message's text."""


class SmsGateway(Protocol):
    async def send(self, to: str, text: str) -> None:
        """Send `text` to the E.164 number `to`; SmsFailed when it cannot."""
        ...

    async def close(self) -> None: ...


def code_text(code: str, lifetime: float) -> str:
    """The SMS that carries a code (the demo reads the 4 digits out of it)."""
    minutes = max(1, round(lifetime / 60))
    return f"Your smartbook code is {code}. It expires in {minutes} minute{'s' if minutes != 1 else ''}."


def parse_header(text: str) -> tuple[str, str]:
    """'Name: value' as (name, value); ValueError with a one-line reason when it is not one."""
    name, sep, value = text.partition(":")
    if not sep or not name.strip() or any(character in text for character in "\r\n\x00"):
        raise ValueError(f"--sms-header wants 'Name: value', not {text[:60]!r}")
    return name.strip(), value.strip()
