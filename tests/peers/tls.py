"""Throwaway TLS material for the tests: a CA and a server certificate it signed, made with the openssl
command (a Debian peer; missing, the test is skipped, or fails under CI=true)."""

from __future__ import annotations

import ssl
import subprocess
from dataclasses import dataclass
from pathlib import Path

from tests.peers import require_binary


@dataclass(frozen=True)
class TestCertificates:
    ca: Path  # the CA's certificate: what a client adds to its trust
    cert: Path  # the server's certificate, for 127.0.0.1 and localhost
    key: Path

    def client_context(self) -> ssl.SSLContext:
        """A verifying client context that trusts the test CA."""
        return ssl.create_default_context(cafile=str(self.ca))

    def server_context(self) -> ssl.SSLContext:
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        context.load_cert_chain(self.cert, self.key)
        return context


def make_certificates(directory: Path) -> TestCertificates:
    openssl = require_binary("openssl", "openssl")
    ca_key, ca_cert = directory / "ca.key", directory / "ca.pem"
    key, request, cert = directory / "server.key", directory / "server.csr", directory / "server.pem"
    extensions = directory / "server.ext"
    extensions.write_text(
        "basicConstraints = critical, CA:FALSE\n"
        "keyUsage = critical, digitalSignature\n"
        "extendedKeyUsage = serverAuth\n"
        "subjectAltName = IP:127.0.0.1, DNS:localhost\n"
    )
    ec = ["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes"]
    ca_extensions = ["-addext", "basicConstraints=critical,CA:TRUE", "-addext", "keyUsage=critical,keyCertSign,cRLSign"]
    signing = ["-CA", ca_cert, "-CAkey", ca_key, "-CAcreateserial", "-extfile", extensions, "-days", "2"]
    commands = [
        [openssl, "req", "-x509", *ec, *ca_extensions, "-keyout", ca_key, "-out", ca_cert, "-days", "2",
         "-subj", "/CN=CA"],
        [openssl, "req", *ec, "-keyout", key, "-out", request, "-subj", "/CN=127.0.0.1"],
        [openssl, "x509", "-req", *signing, "-in", request, "-out", cert],
    ]  # fmt: skip
    for command in commands:
        subprocess.run([str(part) for part in command], check=True, capture_output=True, timeout=30)
    return TestCertificates(ca_cert, cert, key)
