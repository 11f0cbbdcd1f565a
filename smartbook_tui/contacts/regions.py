"""The region the user's settings and locale name, read without phonenumbers (~25 ms to load): the app's launch
begins reading the book with it before its first frame. `phones.default_region` checks it against phonenumbers."""

from __future__ import annotations

import locale
import os
from collections.abc import Mapping


def region_from_locale(name: str | None) -> str | None:
    """'fr_FR.UTF-8' -> 'FR'; None for locales without a territory ('C', 'POSIX', 'C.UTF-8', 'en')."""
    if not name:
        return None
    territory = name.split(".", 1)[0].split("@", 1)[0].partition("_")[2]
    return territory.upper() if len(territory) == 2 and territory.isalpha() else None


def system_locale_name(environ: Mapping[str, str] = os.environ) -> str | None:
    for variable in ("LC_ALL", "LC_TELEPHONE", "LC_CTYPE", "LANG"):
        if environ.get(variable):
            return environ[variable]
    return locale.getlocale()[0]


def named_region(explicit: str | None, locale_name: str | None) -> str | None:
    """The region given, as `phones.default_region` spells it, else the locale's: what `default_region` answers
    when the user's own number is not known and the region given is one phonenumbers knows."""
    return explicit.strip().upper() if explicit else region_from_locale(locale_name)
