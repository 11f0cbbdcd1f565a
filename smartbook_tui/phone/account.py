"""The pjsua2 Account of the user: its configuration from a PhoneAccount, and its callbacks (registration
answers, incoming calls) handed to the engine on the loop's thread (exceptions caught there)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from .endpoint import guarded
from .pjsua import pj
from .settings import PhoneAccount

# A REGISTER lasts this long; pjsua refreshes it a few seconds before it runs out.
REGISTRATION_SECONDS = 300


def account_config(account: PhoneAccount, *, publish: bool = True) -> Any:
    """The AccountConfig: digest credentials for any realm, the registrar (through the proxy when there is
    one), PUBLISH for own presence unless `publish` is False, and no retries of pjsua's own (the engine decides
    when to try again)."""
    config = pj.AccountConfig()
    config.idUri = account.sip_uri
    registrar, proxy = account.route()
    config.regConfig.registrarUri = registrar
    config.regConfig.timeoutSec = REGISTRATION_SECONDS
    config.regConfig.retryIntervalSec = 0
    config.regConfig.firstRetryIntervalSec = 0
    if proxy is not None:
        config.sipConfig.proxies.append(proxy)
    config.sipConfig.authCreds.append(pj.AuthCredInfo("digest", "*", account.username, 0, account.password))
    config.presConfig.publishEnabled = publish
    if account.instance is not None:
        config.natConfig.sipOutboundInstanceId = f"<{account.instance}>"
    return config


@dataclass(frozen=True, slots=True)
class RegisterAnswer:
    """What a REGISTER's final answer said: pjsua2's OnRegStateParam copied into plain values."""

    code: int
    reason: str
    expiration: int


class UserAccount(pj.Account):  # type: ignore[misc]
    def __init__(self, on_reg_state: Callable[[RegisterAnswer], None], on_incoming_call: Callable[[int], None]) -> None:
        super().__init__()
        self._on_reg_state: Callable[[RegisterAnswer], None] | None = on_reg_state
        self._on_incoming_call: Callable[[int], None] | None = on_incoming_call

    def onRegState(self, prm: Any) -> None:
        handler = self._on_reg_state
        if handler is not None:
            state = RegisterAnswer(int(prm.code), str(prm.reason), int(prm.expiration))
            guarded("a registration answer", lambda: handler(state))

    def onIncomingCall(self, prm: Any) -> None:
        handler = self._on_incoming_call
        if handler is not None:
            call_id = int(prm.callId)
            guarded("an incoming call", lambda: handler(call_id))

    def forget_owner(self) -> None:
        """Drop the references to the engine (no cycle left for the garbage collector to find on some other
        thread, where freeing a pjsua2 object aborts the process)."""
        self._on_reg_state = None
        self._on_incoming_call = None
