"""The server's own limit on open files: each TCP or TLS connection is one, and the usual soft limit (1,024) would
refuse connections long before the server's own cap. The soft limit is raised as far as the hard one allows, and
the log says when even that is short of what the server may hold."""

from __future__ import annotations

import logging
import resource

__all__ = ["raise_open_files_limit"]

log = logging.getLogger(__name__)

_SPARE = 256  # the database, the log, the listening sockets


def raise_open_files_limit(connections: int) -> int:
    """Raise the soft limit on open files towards `connections` plus a spare; the limit now in force."""
    wanted = connections + _SPARE
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft != resource.RLIM_INFINITY and soft < wanted:
        raised = wanted if hard == resource.RLIM_INFINITY else min(wanted, hard)
        if raised > soft:
            resource.setrlimit(resource.RLIMIT_NOFILE, (raised, hard))
            log.info("open files: the limit is raised from %d to %d", soft, raised)
            soft = raised
    if soft != resource.RLIM_INFINITY and soft < wanted:
        log.warning(
            "open files are limited to %d (hard limit %s), fewer than the %d connections the server allows: raise the "
            "hard limit (ulimit -Hn, or LimitNOFILE= in a systemd unit)",
            soft,
            "none" if hard == resource.RLIM_INFINITY else hard,
            connections,
        )
    return soft
