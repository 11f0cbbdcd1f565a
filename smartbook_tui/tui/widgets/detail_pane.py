"""The detail pane: everything known of the contact under the cursor, number by number."""

from __future__ import annotations

from pathlib import PurePath

from textual.content import Content
from textual.widgets import Static

from smartbook_tui.roster.model import ResourceState, Row
from smartbook_tui.tui.presentation import NOT_CHECKED, STATUS_STYLES, availability_text

_HEADING = "bold $text-accent"
_QUIET = "dim"
Part = tuple[str, str] | str


class DetailPane(Static):
    """Shows one row: its name and status, each number or address with its own account state, the SIP address
    the server revealed, the note, and where the card came from."""

    def __init__(self, *, service_name: str, id: str | None = None) -> None:
        super().__init__(id=id)
        self.service_name = service_name
        self.border_title = "Contact"
        # (contact id, row version) shown; None: "no contact"; ("", 0) (no row has version 0): nothing yet
        self._shown: tuple[str, int] | None = ("", 0)

    def show(self, row: Row | None) -> None:
        """Show the row, unless the pane shows it already: the table announces its cursor's row after every
        burst that moves rows, and a row's version changes with anything the pane says of it."""
        shown = None if row is None else (row.contact.id, row.version)
        if shown == self._shown:
            return
        self._shown = shown
        # The pane's size never depends on its text: no layout, only a repaint.
        if row is None:
            self.update(Content.styled("No contact selected.", _QUIET), layout=False)
        else:
            self.update(Content.assemble(*self._describe(row)), layout=False)

    def _describe(self, row: Row) -> list[Part]:
        parts: list[Part] = [(row.contact.name, "bold"), "\n"]
        if row.has_account:
            words, colour = availability_text(row.status, True)
            parts += [(f" {self.service_name} ", "reverse $success"), "  ", (words, STATUS_STYLES[colour])]
        elif row.withheld:
            why = f"your book is larger than {self.service_name} lets you check for now"
            parts.append((f"{NOT_CHECKED[0]}: {why}", _QUIET))
        else:
            parts.append((f"no {self.service_name} account seen", _QUIET))
        if row.note:
            parts.append((f"\n“{row.note}”", "italic"))
        kinds = {number.raw: number.kinds for number in row.contact.numbers}
        if row.numbers:
            parts.append(("\n\nNumbers and addresses\n", _HEADING))
            for resource in row.numbers:
                parts += self._resource(resource, kinds.get(resource.label, ()))
        if row.sip_address:
            parts += [("\nSIP address\n", _HEADING), f"  {row.sip_address}\n"]
        parts += [("\nFrom\n", _HEADING), *_source(row.contact.source, row.contact.index)]
        return parts

    def _resource(self, resource: ResourceState, kinds: tuple[str, ...]) -> list[Part]:
        parts: list[Part] = [f"  {resource.label}"]
        shown_kinds = [kind for kind in kinds if kind not in ("voice", "pref")]
        if shown_kinds:
            parts.append((f"  {', '.join(shown_kinds)}", _QUIET))
        parts.append("\n    ")
        summary = resource.summary
        if resource.uri is None:
            parts.append(("not a number it can check: never sent", _QUIET))
        elif summary.has_account:
            words, colour = availability_text(summary.status, True)
            parts += [(self.service_name, "bold"), "  ", (words, STATUS_STYLES[colour])]
            if summary.sip_address:
                parts.append((f"\n    {summary.sip_address}", _QUIET))
        elif resource.withheld:
            parts.append((NOT_CHECKED[0], _QUIET))
        else:
            parts.append(("no account", _QUIET))
        parts.append("\n")
        return parts


def _source(source: str, index: int) -> list[Part]:
    """Where the card came from: a CardDAV book's URL as it is; a file by its name (and card), then its folder."""
    card = f", card {index}" if index else ""
    if not source or "://" in source:
        return [(f"  {source or 'unknown'}{card}", _QUIET)]
    path = PurePath(source)
    return [f"  {path.name}{card}", (f"\n  in {path.parent}", _QUIET)]
