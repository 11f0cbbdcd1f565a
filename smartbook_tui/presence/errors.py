"""The one family of errors the document layer raises: every bad input ends as one of these."""

from __future__ import annotations


class PresenceDocumentError(ValueError):
    """A presence-related body could not be decoded; the message says what and where, in one line."""


class MalformedDocument(PresenceDocumentError):
    """The bytes are not a well-formed document of the expected kind."""


class BodyTooLarge(PresenceDocumentError):
    """A body, or what it inflates to, is over the configured size cap."""


class UnsupportedContentType(PresenceDocumentError):
    """The Content-Type is not one this layer decodes."""


class UnsupportedEncoding(PresenceDocumentError):
    """The Content-Encoding is not one this layer decodes."""
