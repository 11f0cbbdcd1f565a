"""Kamailio (Debian `kamailio`) in front of the nodes, with the shipped deploy/kamailio/kamailio.cfg as it is: its
listen address, domain and dispatcher list come from `-A` defines (see the config's header), the list is written
in the cluster's directory. Ready once it answers an OPTIONS to itself."""

from __future__ import annotations

import secrets
import socket
from collections.abc import Sequence
from pathlib import Path

from .parts import ClusterError, Part, free_port, port_is_free, run_step, start, wait_until

NAME = "Kamailio"
NODE_SET = 1  # the dispatcher set the config sends to


def start_kamailio(
    binary: str,
    config: Path,
    *,
    listen: tuple[str, int],
    domain: str,
    nodes: Sequence[tuple[str, int]],
    directory: Path,
) -> Part:
    dispatcher_list = directory / "dispatcher.list"
    dispatcher_list.write_text("".join(f"{NODE_SET} sip:{host}:{port}\n" for host, port in nodes), encoding="utf-8")
    defines = {
        "LISTEN_ADDR": listen[0],
        "LISTEN_PORT": str(listen[1]),
        "SIP_DOMAIN": f'"{domain}"',
        "DISPATCHER_LIST": f'"{dispatcher_list}"',
    }
    command = [
        binary,
        "-f",
        str(config),
        *(arg for name, value in defines.items() for arg in ("-A", f"{name}={value}")),
    ]
    log_file = directory / "kamailio.log"
    run_step(NAME, [*command, "-c"], log_file)
    part = start(NAME, [*command, "-DD", "-E"], log_file)  # in the foreground, logging to its standard error
    wait_until(part, lambda: answers_options(listen))
    return part


def listen_address(wanted: tuple[str, int]) -> tuple[str, int]:
    """`wanted`, or a free port of its host when it is taken; ClusterError when its host cannot be listened on."""
    host, port = wanted
    try:
        return wanted if port_is_free(port, host) else (host, free_port(host))
    except OSError as error:
        raise ClusterError(f"{NAME} cannot listen on {host}:{port}: {error.strerror or error}") from None


def answers_options(address: tuple[str, int], wait: float = 0.1) -> bool:
    """Whether an OPTIONS to the SIP server at `address` itself (Kamailio) over UDP gets an answer within `wait`
    seconds."""
    host = address[0]
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        sock.bind((host, 0))
        target = f"sip:{host}:{address[1]}"
        request = (
            f"OPTIONS {target} SIP/2.0\r\n"
            f"Via: SIP/2.0/UDP {host}:{sock.getsockname()[1]};branch=z9hG4bK{secrets.token_hex(8)};rport\r\n"
            "Max-Forwards: 70\r\n"
            f"From: <sip:probe@{host}>;tag={secrets.token_hex(4)}\r\n"
            f"To: <{target}>\r\n"
            f"Call-ID: {secrets.token_hex(8)}@{host}\r\n"
            "CSeq: 1 OPTIONS\r\n"
            "Content-Length: 0\r\n\r\n"
        )
        sock.settimeout(wait)
        try:
            sock.sendto(request.encode(), address)
            return sock.recv(65535).startswith(b"SIP/2.0 ")
        except OSError:  # no answer in time, or refused (nothing listens yet)
            return False
