"""Property tests of the account API with schemathesis, from the OpenAPI description the server serves: whatever
the request, the answer is never a server error, other than 503 (a busy server or a failing SMS gateway), and
every refusal is a JSON body with a stable word and a sentence."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
import schemathesis
from hypothesis import HealthCheck, settings

from tests.peers.smartbook_server import SmartbookServer, run_smartbook_server


@pytest.fixture(scope="module")
def api_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[SmartbookServer]:
    directory: Path = tmp_path_factory.mktemp("schema") / "server"
    with run_smartbook_server(directory, "--api-rate", "0", "--api-global-rate", "0", api=True) as server:
        server.add_account("alice", "+33611111111")
        yield server


@pytest.fixture(scope="module")
def api_schema(api_server: SmartbookServer):
    return schemathesis.openapi.from_url(f"{api_server.api_url}/openapi.json")


schema = schemathesis.pytest.from_fixture("api_schema")


@schema.parametrize()
@settings(max_examples=40, deadline=None, suppress_health_check=list(HealthCheck))
def test_no_request_gets_a_server_error_other_than_503(case, api_server):
    response = case.call(base_url=api_server.api_url.removesuffix("/api"))
    assert response.status_code < 500 or response.status_code == 503, (case.as_curl_command(), response.text)
    if response.status_code >= 400:
        body = response.json()
        assert isinstance(body["error"], str)
        assert body["error"]
        assert isinstance(body["message"], str)
        assert "\n" not in body["message"]


def test_nothing_the_fuzzing_sent_broke_the_server(api_server):
    """After the property tests (same module, same server): no traceback in its log, and it still answers."""
    assert "Traceback" not in api_server.log
    assert api_server.process is not None
    assert api_server.process.poll() is None
