"""The user's address book: vCard files and CardDAV servers in, `Contact` records out, with phone numbers
normalised to E.164 and turned into the resource URIs the presence server sees. The files are only read."""

from __future__ import annotations

from typing import TYPE_CHECKING

from smartbook_tui.lazy_exports import lazy_exports

if TYPE_CHECKING:
    from .model import Contact, ImportResult, PhoneNumber, SkippedCard
    from .phones import default_region, normalize_contacts, to_e164
    from .regions import system_locale_name
    from .resources import (
        book_resource_uris,
        check_domain,
        contact_resource_uris,
        contacts_by_resource,
        number_resource_uri,
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

# Each name and the submodule it is imported from when first used.
_SUBMODULE_OF = {
    "Contact": "model",
    "ImportResult": "model",
    "PhoneNumber": "model",
    "SkippedCard": "model",
    "book_resource_uris": "resources",
    "check_domain": "resources",
    "contact_resource_uris": "resources",
    "contacts_by_resource": "resources",
    "default_region": "phones",
    "normalize_contacts": "phones",
    "number_resource_uri": "resources",
    "system_locale_name": "regions",
    "to_e164": "phones",
    "parse_vcards": "vcard",
    "read_vcard_paths": "vcard",
}

__getattr__ = lazy_exports(__name__, _SUBMODULE_OF)
