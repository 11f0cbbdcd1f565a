"""The `http` gateway: one JSON POST a message to a provider's URL, with the operator's headers and a body made
from a template (`$to` and `$text` put in JSON-escaped, so `{"to": "$to", "text": "$text"}` stays JSON whatever the
text). A 2xx answer is success; a timeout (5 s), a connection failure or a 5xx is tried again twice, then the send
has failed. A 4xx is not tried again: the provider refused the message."""

from __future__ import annotations

import json
import logging
import string

import httpx

from . import DEFAULT_BODY, SmsFailed

__all__ = ["HttpGateway"]

log = logging.getLogger(__name__)

TIMEOUT = 5.0
RETRIES = 2


class HttpGateway:
    def __init__(self, url: str, headers: list[tuple[str, str]], body: str = DEFAULT_BODY) -> None:
        self.url = url
        self._host = httpx.URL(url).host  # what the log names: the URL itself often holds the provider's key
        self._template = string.Template(body)
        self._client = httpx.AsyncClient(timeout=TIMEOUT, headers={"Content-Type": "application/json", **dict(headers)})

    async def send(self, to: str, text: str) -> None:
        body = self._template.safe_substitute(to=_json_escaped(to), text=_json_escaped(text))
        problem = ""
        for _ in range(1 + RETRIES):
            try:
                response = await self._client.post(self.url, content=body.encode())
            except httpx.HTTPError as error:
                problem = f"{type(error).__name__} {error}".strip()
                continue
            if response.is_success:
                log.info("SMS to %s: sent", to)
                return
            problem = f"HTTP {response.status_code}"
            if response.status_code < 500:
                break
        log.warning("SMS to %s failed: the gateway at %s answered %s", to, self._host, problem)
        raise SmsFailed(f"the SMS gateway failed ({problem})")

    async def close(self) -> None:
        await self._client.aclose()


def _json_escaped(value: str) -> str:
    return json.dumps(value, ensure_ascii=False)[1:-1]
