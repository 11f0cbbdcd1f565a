"""A child process that prints one JSON object a line (`smartbook watch`, the pjsua2 agents), read as it goes."""

from __future__ import annotations

import asyncio
import json
import signal
from collections.abc import Callable

Line = dict[str, object]


class JsonLines:
    """The lines `process` printed so far (`lines`), and a way to wait for one. `name` says who in failures."""

    def __init__(self, process: asyncio.subprocess.Process, name: str) -> None:
        self.process = process
        self.name = name
        self.lines: list[Line] = []

    def mark(self) -> int:
        """Where the lines printed from now on start: pass it as `after` to look only at those."""
        return len(self.lines)

    async def until(self, predicate: Callable[[Line], bool], *, after: int = 0, timeout: float = 15.0) -> Line:
        """The first line from `after` on that `predicate` accepts, reading more as needed."""

        async def read() -> Line:
            checked = after
            while True:
                for line in self.lines[checked:]:
                    if predicate(line):
                        return line
                checked = max(checked, len(self.lines))
                assert self.process.stdout is not None
                raw = await self.process.stdout.readline()
                if not raw:
                    assert self.process.stderr is not None
                    stderr = (await self.process.stderr.read()).decode()
                    raise AssertionError(f"{self.name} ended: {stderr}; lines: {self.lines}")
                self.lines.append(json.loads(raw))

        try:
            return await asyncio.wait_for(read(), timeout)
        except TimeoutError:
            raise AssertionError(
                f"{self.name} never printed the line waited for; it printed: {self.lines[after:]}"
            ) from None

    async def stop(self, sig: int = signal.SIGTERM) -> tuple[int | None, str]:
        """Send `sig` (SIGINT is Ctrl-C), read what it printed meanwhile; its exit status and standard error. It is
        killed when it does not end within 10 s."""
        if self.process.returncode is None:
            self.process.send_signal(sig)
        try:
            rest, stderr = await asyncio.wait_for(self.process.communicate(), 10.0)
        except TimeoutError:
            self.process.kill()
            rest, stderr = await self.process.communicate()
        self.lines += [json.loads(line) for line in rest.splitlines()]
        return self.process.returncode, stderr.decode()
