"""The other end of the phone's call tests: a headless pjsua2 user agent in its own process (one Endpoint per
process), driven over its standard input one JSON command a line, telling what happens one JSON line at a time.

    python -m tests.interop.pjsua2_call_peer [--port N --user U --password-file F [--name N] [--domain D]]
        [--transport T]

With --port it registers sip:U@D (127.0.0.1 unless --domain) at the server on 127.0.0.1:N; otherwise it is reached
at its own address. It holds one call at a time; an incoming call rings (180) at once.

Lines: `{"event": "ready", "uri": "sip:peer@127.0.0.1:PORT"}`, `{"event": "registered"}`, `{"event": "incoming",
"remote": ...}`, `{"event": "state", "state": "CONFIRMED", "code": 200, "reason": ...}` (pjsip's invite states),
`{"event": "media", "status": "ACTIVE"|"LOCAL_HOLD"|"REMOTE_HOLD"|..., "dir": N}`, `{"event": "dtmf", "digit": "1"}`,
`{"event": "counts", "sent": N, "received": N}`, `{"event": "error", "what": ...}`.
Commands: `{"do": "call", "uri": ...}`, `answer`, `decline` (with `code`), `hangup`, `hold`, `dtmf` (with
`digits`), `counts`, `quit`.
"""

from __future__ import annotations

import argparse
import json
import os
import select
import sys
import time
from pathlib import Path
from typing import Any

from tests.peers.pjsua2_kit import HOST, account_config, pump_for, pump_until, silence_pjsip_start_up, start_endpoint

MAX_LIFETIME = 120.0  # seconds: a forgotten process ends on its own
RETRIES = 20
BUSY_WITH_ANOTHER_OFFER = 70013  # PJ_EINVALIDOP: an offer of the other side is still under way


def peer_command(*, transport: str = "udp", server_port: int | None = None, user: str = "peer") -> list[str]:
    """The command line (run it with cwd at the repository's root); pass the password file to register."""
    command = [sys.executable, "-m", "tests.interop.pjsua2_call_peer", "--transport", transport, "--user", user]
    return command if server_port is None else [*command, "--port", str(server_port)]


def _emit(**line: object) -> None:
    print(json.dumps(line), flush=True)


def _serve(args: argparse.Namespace) -> int:
    silence_pjsip_start_up()
    import pjsua2 as pj

    states = {getattr(pj, name): name.removeprefix("PJSIP_INV_STATE_") for name in dir(pj) if "INV_STATE_" in name}
    media_states = {
        getattr(pj, name): name.removeprefix("PJSUA_CALL_MEDIA_") for name in dir(pj) if "PJSUA_CALL_MEDIA_" in name
    }
    calls: list[Any] = []
    registered: list[int] = []

    class Writer(pj.LogWriter):  # type: ignore[misc, name-defined]
        def write(self, entry: Any) -> None:
            pass  # stdout carries the JSON lines

    class Peer(pj.Call):  # type: ignore[misc, name-defined]
        def onCallState(self, prm: Any) -> None:
            try:
                info = self.getInfo()
                _emit(event="state", state=states[info.state], code=info.lastStatusCode, reason=info.lastReason)
            except Exception as exc:
                _emit(event="error", what=repr(exc))

        def onCallMediaState(self, prm: Any) -> None:
            try:
                manager = endpoint.audDevManager()
                info = self.getInfo()  # referenced while its media are read: they point into it
                for media in info.media:
                    if media.type != pj.PJMEDIA_TYPE_AUDIO:
                        continue
                    _emit(event="media", status=media_states[media.status], dir=media.dir)
                    if media.status in (pj.PJSUA_CALL_MEDIA_ACTIVE, pj.PJSUA_CALL_MEDIA_REMOTE_HOLD):
                        audio = self.getAudioMedia(media.index)
                        manager.getCaptureDevMedia().startTransmit(audio)
                        audio.startTransmit(manager.getPlaybackDevMedia())
            except Exception as exc:
                _emit(event="error", what=repr(exc))

        def onDtmfDigit(self, prm: Any) -> None:
            _emit(event="dtmf", digit=prm.digit)

    class Agent(pj.Account):  # type: ignore[misc, name-defined]
        def onRegState(self, prm: Any) -> None:
            registered.append(prm.code)

        def onIncomingCall(self, prm: Any) -> None:
            try:
                call = Peer(self, prm.callId)
                calls[:] = [call]
                _emit(event="incoming", remote=call.getInfo().remoteUri)
                call.answer(_op(pj, 180))
            except Exception as exc:
                _emit(event="error", what=repr(exc))

    writer = Writer()
    endpoint = start_endpoint(
        pj, user_agent="smartbook-tests-call-peer", writer=writer, log_level=1, transport=args.transport
    )
    agent = Agent()
    try:
        local = endpoint.transportGetInfo(endpoint.transportEnum()[0]).localName
        if args.port is None:
            config = pj.AccountConfig()
            config.idUri = f"sip:{args.user}@{local}"
            agent.create(config)
            _emit(event="ready", uri=f"sip:{args.user}@{local}")
        else:
            password = args.password_file.read_text().strip()
            config = account_config(
                pj,
                user=args.user,
                password=password,
                port=args.port,
                transport=args.transport,
                domain=args.domain,
                host_instance=args.host_instance,
            )
            if args.name:
                config.idUri = f'"{args.name}" <{config.idUri}>'
            agent.create(config)
            pump_until(endpoint, lambda: bool(registered), "the REGISTER's answer")
            _emit(event="registered", code=registered[-1])
            _emit(event="ready", uri=f"sip:{args.user}@{args.domain}")
        _command_loop(pj, endpoint, agent, calls, Peer)
    finally:
        calls.clear()
        del agent
        endpoint.libDestroy(pj.PJSUA_DESTROY_NO_NETWORK)
    return 0


def _op(pj: Any, code: int = 0) -> Any:
    parameters = pj.CallOpParam(True)
    parameters.statusCode = code
    return parameters


def _command_loop(pj: Any, endpoint: Any, agent: Any, calls: list[Any], peer_class: Any) -> None:
    pending = b""
    deadline = time.monotonic() + MAX_LIFETIME
    while time.monotonic() < deadline:
        endpoint.libHandleEvents(5)
        calls[:] = [call for call in calls if call.isActive()]  # an ended call goes here, not in its own callback
        if not select.select([sys.stdin], [], [], 0)[0]:
            continue
        chunk = os.read(sys.stdin.fileno(), 4096)
        if not chunk:
            return
        pending += chunk
        while b"\n" in pending:
            raw, pending = pending.split(b"\n", 1)
            command = json.loads(raw)
            if command["do"] == "quit":
                if calls:
                    calls[0].hangup(_op(pj))
                    pump_for(endpoint, 0.2)
                return
            for _ in range(RETRIES):
                try:
                    _run(pj, command, agent, calls, peer_class)
                    break
                except pj.Error as exc:
                    if exc.status != BUSY_WITH_ANOTHER_OFFER:
                        _emit(event="error", what=f"{command['do']}: {exc.info()}")
                        break
                    pump_for(endpoint, 0.05)  # a re-INVITE of the other side is not over yet


def _run(pj: Any, command: dict[str, Any], agent: Any, calls: list[Any], peer_class: Any) -> None:
    match command["do"]:
        case "call":
            call = peer_class(agent)
            calls[:] = [call]
            call.makeCall(command["uri"], _op(pj))
        case "answer":
            calls[0].answer(_op(pj, 200))
        case "decline":
            calls[0].hangup(_op(pj, command["code"]))
        case "hangup":
            calls[0].hangup(_op(pj))
        case "hold":
            calls[0].setHold(_op(pj))
        case "dtmf":
            parameters = pj.CallSendDtmfParam()
            parameters.method = pj.PJSUA_DTMF_METHOD_RFC2833
            parameters.digits = command["digits"]
            calls[0].sendDtmf(parameters)
        case "counts":
            stat = calls[0].getStreamStat(0)  # referenced while its parts are read: they point into it
            rtcp = stat.rtcp
            _emit(event="counts", sent=rtcp.txStat.pkt, received=rtcp.rxStat.pkt)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--transport", choices=("udp", "tcp"), default="udp")
    parser.add_argument("--user", default="peer")
    parser.add_argument("--port", type=int, help="register at the server on 127.0.0.1:PORT")
    parser.add_argument("--password-file", type=Path)
    parser.add_argument("--name", help="the display name its calls carry (registered only)")
    parser.add_argument("--domain", default=HOST, help="the domain of its address (registered only)")
    parser.add_argument(
        "--host-instance", action="store_true", help="register with pjsua's instance, made from the host name"
    )
    try:
        return _serve(parser.parse_args())
    except Exception as exc:
        print(f"pjsua2_call_peer: {type(exc).__name__}: {exc}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())
