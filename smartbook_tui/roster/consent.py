"""Whether the user agreed to send their book's numbers to the service, remembered per account, so that the app
asks once: a small JSON file in the user's data directory, written atomically."""

from __future__ import annotations

import json
import logging
from pathlib import Path

import platformdirs

from smartbook_tui.atomic_file import write_atomically

log = logging.getLogger(__name__)


def default_consent_path() -> Path:
    return platformdirs.user_data_path("smartbook") / "consent.json"


class ConsentStore:
    """`get(account_uri)`: True (agreed), False (declined) or None (never asked). A file that cannot be read is
    taken as empty (the app asks again) and logged; `set` raises OSError when the file cannot be written."""

    def __init__(self, path: Path | None = None) -> None:
        self.path = path or default_consent_path()

    def get(self, account_uri: str) -> bool | None:
        answer = self._answers().get(account_uri)
        return answer if isinstance(answer, bool) else None

    def set(self, account_uri: str, allowed: bool) -> None:
        answers = self._answers()
        answers[account_uri] = allowed
        data = json.dumps({"share_book": answers}, indent=2, sort_keys=True) + "\n"
        write_atomically(self.path, data.encode("utf-8"), mode=0o600)

    def _answers(self) -> dict[str, object]:
        try:
            document = json.loads(self.path.read_text(encoding="utf-8"))
        except FileNotFoundError:
            return {}
        except (OSError, ValueError) as exc:
            log.warning("cannot read the consent file %s (%s): asking again", self.path, exc)
            return {}
        answers = document.get("share_book") if isinstance(document, dict) else None
        return dict(answers) if isinstance(answers, dict) else {}
