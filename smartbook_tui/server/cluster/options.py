"""The cluster's options, checked where they are read (flag or settings file), without importing the Redis client."""

from __future__ import annotations

from urllib.parse import urlsplit, urlunsplit

__all__ = ["checked_cluster_url", "checked_node_id", "shown_url"]

_SCHEMES = ("redis", "rediss", "unix")


def checked_cluster_url(text: str) -> str:
    """`text` if it is a Redis URL (redis://HOST[:PORT][/DB], rediss:// for TLS, unix:///PATH); else ValueError."""
    parts = urlsplit(text)
    if parts.scheme not in _SCHEMES or (parts.scheme != "unix" and not parts.hostname):
        raise ValueError(f"{shown_url(text)[:80]!r} is not a Redis URL (redis://HOST:PORT/DB, rediss://, unix:///PATH)")
    try:
        parts.port  # noqa: B018 (reading it checks it)
    except ValueError as error:
        raise ValueError(f"{shown_url(text)[:80]!r}: {error}") from None
    return text


def checked_node_id(text: str) -> str:
    if not text or len(text) > 200 or any(ch.isspace() for ch in text):
        raise ValueError(f"a node id is 1 to 200 characters without spaces, not {text[:40]!r}")
    return text


def shown_url(url: str) -> str:
    """The URL without its password, for logs and messages."""
    parts = urlsplit(url)
    userinfo, at, host = parts.netloc.rpartition("@")
    if not at or ":" not in userinfo:
        return url
    user = userinfo.split(":", 1)[0]
    return urlunsplit(parts._replace(netloc=f"{user}:***@{host}"))
