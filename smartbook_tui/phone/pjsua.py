"""pjsua2, imported without a word on the terminal: `libCreate` logs to stdout before any LogWriter exists, so
pjlib's log level is lowered through the extension's own symbols first (call `quiet()` again before each
`libCreate`, since `libInit` raises it)."""

from __future__ import annotations

import ctypes
import importlib

_pjlib = ctypes.CDLL(importlib.import_module("pjsua2._pjsua2").__file__)


def quiet() -> None:
    _pjlib.pj_log_set_level(0)


quiet()

import pjsua2 as pj  # noqa: E402  (after the level is lowered)

__all__ = ["pj", "quiet"]
