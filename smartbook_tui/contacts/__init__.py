"""The user's address book: vCard files and CardDAV servers in, `Contact` records out, with phone numbers
normalised to E.164 and turned into the resource URIs the presence server sees. The files are only read."""

from .model import Contact, ImportResult, PhoneNumber, SkippedCard
from .phones import (
    book_resource_uris,
    check_domain,
    contact_resource_uris,
    contacts_by_resource,
    default_region,
    normalize_contacts,
    number_resource_uri,
    system_locale_name,
    to_e164,
)
from .vcard import parse_vcards, read_vcard_paths

__all__ = [
    "Contact",
    "ImportResult",
    "PhoneNumber",
    "SkippedCard",
    "book_resource_uris",
    "check_domain",
    "contact_resource_uris",
    "contacts_by_resource",
    "default_region",
    "normalize_contacts",
    "number_resource_uri",
    "parse_vcards",
    "read_vcard_paths",
    "system_locale_name",
    "to_e164",
]
