"""Helpers to drive real third-party peers (linphonec, Kamailio, SIPp, pjsua2) from the tests."""

from __future__ import annotations

import os
import shutil

import pytest

# Debian installs daemons such as kamailio under sbin, which a non-root PATH may lack.
_EXTRA_BIN_DIRS = ("/usr/sbin", "/sbin")


def running_under_ci() -> bool:
    return os.environ.get("CI", "").lower() == "true"


def require_binary(name: str, package: str) -> str:
    """Return the path of a peer's executable, or skip the test (fail it under CI=true) when it is missing."""
    path = shutil.which(name) or shutil.which(name, path=os.pathsep.join(_EXTRA_BIN_DIRS))
    if path:
        return path
    reason = f"{name} is not installed (Debian package {package}; `make test-deps` installs it as root)"
    if running_under_ci():
        pytest.fail(f"{reason}; CI=true requires every real peer")
    pytest.skip(reason)
