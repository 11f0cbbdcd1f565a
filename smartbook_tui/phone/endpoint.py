"""The pjsua2 endpoint's lifecycle on the asyncio loop: no PJSIP threads, its events handled by a task of the
loop every 10 ms, 40 ms when idle (so every callback runs on the loop's thread), its log routed to `logging`
(credentials left out), the audio device asked for by name (the system's default otherwise, and the null device
when asked or when there is no sound card), one SIP transport. One endpoint per process, created and destroyed on
the same thread.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from .call_rules import chosen_device
from .pjsua import pj, quiet
from .rules import without_credentials
from .states import AudioDevice

log = logging.getLogger("smartbook_tui.phone")
log.addHandler(logging.NullHandler())  # with no logging set up, Python would print warnings on the terminal

PUMP_SECONDS = 0.01  # while pjsip is busy
# After a second with nothing to do: each wake-up of the loop costs, and an idle registered phone pumping every
# 10 ms takes ~2 % of a core (~0.5 % at this pace). A request pjsip sends (logged) makes the pace quick again.
IDLE_PUMP_SECONDS = 0.04
_QUIET_SECONDS = 1.0
# pjsip's levels: 1 error, 2 warning, 3 info (chatty), 4 and up the detail, SIP messages included.
_LEVELS = {1: logging.ERROR, 2: logging.WARNING}
# Level 4 carries the "RX ... Response msg" lines the engine follows (pjsua2 has no callback for PUBLISH answers).
_PJSIP_LOG_LEVEL = 4
_TRANSPORTS = {"udp": pj.PJSIP_TRANSPORT_UDP, "tcp": pj.PJSIP_TRANSPORT_TCP, "tls": pj.PJSIP_TRANSPORT_TLS}

_lock = threading.Lock()
_running: PhoneEndpoint | None = None


class PhoneError(Exception):
    """The phone cannot start; the message is one line for a person."""


def guarded(what: str, action: Callable[[], None]) -> None:
    """Run `action` from a pjsua2 callback: an exception must not cross into pjsip (it would be printed on the
    terminal), so it is logged instead."""
    try:
        action()
    except Exception:
        log.exception("error while handling %s", what)


class _LogWriter(pj.LogWriter):  # type: ignore[misc]
    def __init__(self, on_line: Callable[[str], None]) -> None:
        super().__init__()
        self._on_line = on_line

    def write(self, entry: Any) -> None:
        def handle() -> None:
            line = entry.msg.rstrip()
            level = _LEVELS.get(entry.level, logging.DEBUG)
            if log.isEnabledFor(level):
                log.log(level, "%s", without_credentials(line))
            self._on_line(line)

        guarded("a pjsip log line", handle)


class _Endpoint(pj.Endpoint):  # type: ignore[misc]
    def __init__(self, on_transport_lost: Callable[[], None]) -> None:
        super().__init__()
        self._on_transport_lost = on_transport_lost

    def onTransportState(self, prm: Any) -> None:
        if prm.state == pj.PJSIP_TP_STATE_DISCONNECTED:
            guarded("a lost connection", self._on_transport_lost)


class PhoneEndpoint:
    """`start()` on the loop's thread; `close()` on the same thread. `transport` is udp, tcp or tls (checked
    by the engine). `on_log_line` sees each of pjsip's log lines (the engine follows SIP answers there);
    `on_transport_lost` hears of a connection that dropped."""

    def __init__(
        self,
        *,
        user_agent: str,
        transport: str,
        ca: Path | None,
        null_audio: bool,
        audio_device: str | None,
        on_log_line: Callable[[str], None],
        on_transport_lost: Callable[[], None],
    ) -> None:
        self._user_agent = user_agent
        self._transport = transport
        self._ca = ca
        self._null_audio = null_audio
        self._audio_device = audio_device
        self._on_log_line = on_log_line
        self._on_transport_lost = on_transport_lost
        self._writer: _LogWriter | None = None
        self._endpoint: _Endpoint | None = None
        self._pump: asyncio.Task[None] | None = None
        self._busy_at = 0.0  # when pjsip last did something (the pump's pace follows it)

    def start(self) -> None:
        global _running  # noqa: PLW0603  (the one endpoint of the process)
        with _lock:
            if _running is not None:
                raise PhoneError("a phone is already running in this process")
            _running = self
        try:
            self._start()
        except pj.Error as exc:
            self.close()
            raise PhoneError(f"the phone cannot start: {error_words(exc)}") from None
        except PhoneError:
            self.close()
            raise
        self._pump = asyncio.get_running_loop().create_task(self._handle_events(), name="pjsua2 events")

    def _start(self) -> None:
        quiet()
        self._endpoint = _Endpoint(self._on_transport_lost)
        self._endpoint.libCreate()
        # pjsua2 takes the writer over (and deletes it in libDestroy); the reference keeps its Python half alive.
        self._writer = _LogWriter(self._on_log)
        config = pj.EpConfig()
        config.uaConfig.threadCnt = 0
        config.uaConfig.mainThreadOnly = True
        config.uaConfig.userAgent = self._user_agent
        config.logConfig.writer = self._writer
        config.logConfig.level = _PJSIP_LOG_LEVEL
        config.logConfig.consoleLevel = _PJSIP_LOG_LEVEL  # the writer replaces the console: this gates it too
        config.logConfig.msgLogging = True
        config.logConfig.decor = pj.PJ_LOG_HAS_SENDER
        # RTP every 20 ms even in silence: no gap before a DTMF event for the far end to stumble on, and the
        # packet counts tell a silent call from a dead one.
        config.medConfig.noVad = True
        self._endpoint.libInit(config)
        self._choose_audio()
        transport = pj.TransportConfig()
        transport.port = 0
        if self._transport == "tls":
            if self._ca is not None:
                transport.tlsConfig.CaListFile = str(self._ca)
            transport.tlsConfig.verifyServer = True
        self._endpoint.transportCreate(_TRANSPORTS[self._transport], transport)
        self._endpoint.libStart()

    def _choose_audio(self) -> None:
        assert self._endpoint is not None
        manager = self._endpoint.audDevManager()
        if self._audio_device is None or self._null_audio:
            if self._null_audio or manager.getDevCount() == 0:
                manager.setNullDev()
            return
        found = self._devices()
        chosen = chosen_device(list(found), self._audio_device)
        if isinstance(chosen, str):
            raise PhoneError(chosen)
        if chosen.inputs:
            manager.setCaptureDev(found[chosen])
        if chosen.outputs:
            manager.setPlaybackDev(found[chosen])

    def audio_devices(self) -> list[AudioDevice]:
        """The sound devices pjsua sees (the null device is not one of them)."""
        return list(self._devices())

    def _devices(self) -> dict[AudioDevice, int]:
        """Each device, with pjsua's number for it."""
        assert self._endpoint is not None
        found = self._endpoint.audDevManager().enumDev2()
        return {AudioDevice(info.name, info.driver, info.inputCount, info.outputCount): info.id for info in found}

    def audio_ports(self) -> tuple[Any, Any]:
        """The conference bridge's ports of the microphone and of the speaker (pjsua2 AudioMedia)."""
        assert self._endpoint is not None
        manager = self._endpoint.audDevManager()
        return manager.getCaptureDevMedia(), manager.getPlaybackDevMedia()

    def _on_log(self, line: str) -> None:
        self._busy_at = time.monotonic()
        self._on_log_line(line)

    async def _handle_events(self) -> None:
        # No local reference to the endpoint: the Endpoint must be gone once `close()` returns (pjsua2 allows
        # the next one only then).
        while self._endpoint is not None:
            if self._endpoint.libHandleEvents(0) > 0:
                self._busy_at = time.monotonic()
            quiet = time.monotonic() - self._busy_at > _QUIET_SECONDS
            await asyncio.sleep(IDLE_PUMP_SECONDS if quiet else PUMP_SECONDS)

    def close(self) -> None:
        """Stop handling events and destroy the library without sending anything more (the graceful part,
        un-REGISTER and un-PUBLISH, is the engine's, before this)."""
        global _running  # noqa: PLW0603
        if self._pump is not None:
            self._pump.cancel()
            self._pump = None
        if self._endpoint is not None:
            with contextlib.suppress(pj.Error):
                self._endpoint.libDestroy(pj.PJSUA_DESTROY_NO_NETWORK)
            self._endpoint = None  # the last reference: ~Endpoint runs here, on this thread
        self._writer = None
        with _lock:
            if _running is self:
                _running = None


def error_words(error: Any) -> str:
    """A pjsua2 Error in one line."""
    reason = str(getattr(error, "reason", "") or error).strip().splitlines()
    return reason[0] if reason else type(error).__name__
