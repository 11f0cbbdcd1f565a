"""What the headless pjsua2 agents (`pjsua2_buddy`, `pjsua2_publisher`) share, for use in their child process:
a quiet start-up, an Endpoint on 127.0.0.1 with no threads of its own, an account's configuration, and an event
pump. Call all of it from the main thread: a pjsua2 call from an unregistered thread aborts the process
(wire-notes §4).
"""

from __future__ import annotations

import ctypes
import importlib
import time
import uuid
from collections.abc import Callable
from types import ModuleType
from typing import Any

WAIT_SECONDS = 5.0
HOST = "127.0.0.1"


def silence_pjsip_start_up() -> None:
    """libCreate logs to stdout before any LogWriter exists: lower pjlib's level first (wire-notes §4)."""
    extension = importlib.import_module("pjsua2._pjsua2")
    ctypes.CDLL(extension.__file__).pj_log_set_level(0)


def start_endpoint(
    pj: ModuleType,
    *,
    user_agent: str,
    writer: Any,
    log_level: int,
    transport: str,
    msg_logging: bool | None = None,
) -> Any:
    """Create, initialise and start an Endpoint whose events are all handled by `pump_until` and friends on the
    calling thread, with null audio and one `transport` ("tcp" or "udp") on 127.0.0.1, port 0.

    `writer` (a pj.LogWriter) receives pjsip's log up to `log_level`; pjsua2 keeps only a raw pointer to it, so
    the caller must keep it referenced until libDestroy. `msg_logging=None` keeps pjsua's default.
    """
    endpoint = pj.Endpoint()
    endpoint.libCreate()
    config = pj.EpConfig()
    config.uaConfig.threadCnt = 0
    config.uaConfig.mainThreadOnly = True
    config.uaConfig.userAgent = user_agent
    config.logConfig.writer = writer
    config.logConfig.level = log_level
    config.logConfig.consoleLevel = log_level  # the writer replaces the console, so consoleLevel gates it too
    if msg_logging is not None:
        config.logConfig.msgLogging = msg_logging
    endpoint.libInit(config)
    endpoint.audDevManager().setNullDev()
    transport_type = pj.PJSIP_TRANSPORT_TCP if transport == "tcp" else pj.PJSIP_TRANSPORT_UDP
    transport_config = pj.TransportConfig()
    transport_config.boundAddress = HOST
    transport_config.port = 0
    endpoint.transportCreate(transport_type, transport_config)
    endpoint.libStart()
    return endpoint


def account_config(
    pj: ModuleType,
    *,
    user: str,
    password: str,
    port: int,
    transport: str,
    domain: str = HOST,
    host_instance: bool = False,
) -> Any:
    """An AccountConfig for sip:USER@DOMAIN that registers with (and authenticates to) the server on 127.0.0.1's
    `port`; `host_instance`: with pjsua's RFC 5626 instance (made from the host name) instead of one of its own."""
    server = f"sip:{HOST}:{port};transport={transport}"
    config = pj.AccountConfig()
    config.idUri = f"sip:{user}@{domain}"
    config.regConfig.registrarUri = server
    config.sipConfig.proxies.append(f"{server};lr")  # SUBSCRIBE and PUBLISH go to an AOR: route them to the server
    config.sipConfig.authCreds.append(pj.AuthCredInfo("digest", "*", user, 0, password))
    if not host_instance:  # else two peers of one user here would be one device to the registrar
        config.natConfig.sipOutboundInstanceId = f"<urn:uuid:{uuid.uuid4()}>"
    return config


def pump_until(endpoint: Any, done: Callable[[], bool], what: str, seconds: float = WAIT_SECONDS) -> None:
    """Handle the endpoint's events until `done()`; TimeoutError after `seconds`."""
    deadline = time.monotonic() + seconds
    while not done():
        if time.monotonic() > deadline:
            raise TimeoutError(f"timed out waiting for {what}")
        endpoint.libHandleEvents(10)


def pump_for(endpoint: Any, seconds: float) -> None:
    """Handle the endpoint's events for `seconds`."""
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        endpoint.libHandleEvents(10)
