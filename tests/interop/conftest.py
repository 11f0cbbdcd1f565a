"""Fixtures the interop tests share: throwaway TLS material for the SIP transport and listener tests."""

from __future__ import annotations

import ssl

import pytest

from tests.peers.tls import TestCertificates, make_certificates


@pytest.fixture(scope="module")
def certificates(tmp_path_factory: pytest.TempPathFactory) -> TestCertificates:
    """A throwaway CA, and a server certificate it signed for 127.0.0.1 and localhost."""
    return make_certificates(tmp_path_factory.mktemp("tls"))


@pytest.fixture
def client_context(certificates: TestCertificates) -> ssl.SSLContext:
    return certificates.client_context()


@pytest.fixture
def server_context(certificates: TestCertificates) -> ssl.SSLContext:
    return certificates.server_context()
