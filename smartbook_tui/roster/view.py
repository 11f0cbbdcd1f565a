"""What the table shows of a roster: the rows that pass the "users only" filter and the search, in name or status
order, as a list of row indices; kept up to date incrementally when presence changes rows.

`indices` is always sorted by a per-row integer key (`_keys`): the row's rank by name, or for the status sort its
status group then that rank. Keys are distinct, so a row's place is found by bisection, which answers
`position_of` and moves a changed row without rebuilding the list or a row -> position dict.
"""

from __future__ import annotations

import enum
from bisect import bisect_left

from .model import STATUS_ORDER, Roster
from .search import Query

_GROUPS = 2 * len(STATUS_ORDER)  # status groups: users by status, then the others by status
_MOVE_ONE_BY_ONE = 32  # above this, one merge costs less than a list insertion per row


class SortKey(enum.Enum):
    NAME = "name"
    STATUS = "status"  # users first, best status first (model.STATUS_ORDER), then by name: Row.status_rank


class RosterView:
    def __init__(self, roster: Roster, *, users_only: bool = False) -> None:
        self.roster = roster
        self.users_only = users_only
        self.query = ""
        self.sort = SortKey.NAME
        self.indices: list[int] = []
        self._query = Query.parse("")
        self._keys: list[int] = []  # each row's sort key, as it was placed (only shown rows' keys must be current)
        self.rebuild()

    @property
    def shown(self) -> int:
        return len(self.indices)

    @property
    def total(self) -> int:
        return len(self.roster.rows)

    def set_users_only(self, on: bool) -> None:
        if on == self.users_only:
            return
        self.users_only = on
        if on:
            rows = self.roster.rows
            self.indices = [i for i in self.indices if rows[i].has_account]
        else:
            self.rebuild()

    def set_query(self, text: str) -> None:
        query = Query.parse(text)
        self.query = text
        if query == self._query:
            return
        narrowed = query.narrows(self._query)
        self._query = query
        if narrowed:
            self.indices = query.filter(self.roster.rows, self.indices)
        else:
            self.rebuild()

    def set_sort(self, key: SortKey) -> None:
        if key is not self.sort:
            self.sort = key
            self.rebuild()

    def rebuild(self) -> None:
        """Compute the view from scratch (after Roster.set_book, or when a setting widens it)."""
        roster = self.roster
        rows = roster.rows
        candidates = roster.by_name
        if self.users_only:
            candidates = [i for i in candidates if rows[i].has_account]
        shown = self._query.filter(rows, candidates)  # in name order
        if self.sort is SortKey.NAME:
            self._keys = roster.name_rank
            self.indices = shown
            return
        self._keys = self._status_keys()
        groups: list[list[int]] = [[] for _ in range(_GROUPS)]
        total = len(rows)
        keys = self._keys
        for i in shown:
            groups[keys[i] // total].append(i)
        self.indices = [i for group in groups for i in group]

    def rows_changed(self, changed: set[int]) -> bool:
        """Take rows the roster changed (Roster.apply); True when what is shown, or its order, changed."""
        if self.sort is SortKey.NAME and not self.users_only and not self._query.text:
            return False  # every row is shown, in name order: nothing a presence change can move
        rows = self.roster.rows
        name_rank = self.roster.name_rank
        keys = self._keys
        by_status = len(rows) if self.sort is SortKey.STATUS else 0
        users_only = self.users_only
        query = self._query if self._query.text else None
        # Whether a row is listed now: for a big change, one set of the list costs less than a bisection a row.
        listed = set(self.indices) if len(changed) > _MOVE_ONE_BY_ONE else None
        moves: list[tuple[int, bool, bool, int]] = []  # row index, listed now, shown after, new key
        for i in changed:
            row = rows[i]
            was_listed = i in listed if listed is not None else self._position(i) is not None
            shown = (row.has_account or not users_only) and (query is None or query.matches(row))
            key = row.status_rank * by_status + name_rank[i]
            if not was_listed and not shown:
                keys[i] = key  # not in the list, so its key orders nothing yet
            elif not was_listed or not shown or key != keys[i]:
                moves.append((i, was_listed, shown, key))
        if not moves:
            return False
        indices = self.indices
        if len(moves) <= _MOVE_ONE_BY_ONE:
            leaving = [self._position(i) for i, was_listed, _, _ in moves if was_listed]  # by the keys placed
            for position in sorted(leaving, reverse=True):
                del indices[position]
            for i, _, _, key in moves:
                keys[i] = key
            for i, _, shown, key in moves:
                if shown:
                    indices.insert(bisect_left(indices, key, key=keys.__getitem__), i)
        else:
            gone = {i for i, was_listed, _, _ in moves if was_listed}
            for i, _, _, key in moves:
                keys[i] = key
            merged = [i for i in indices if i not in gone]
            merged += sorted((i for i, _, shown, _ in moves if shown), key=keys.__getitem__)
            merged.sort(key=keys.__getitem__)  # two sorted runs: one merge
            self.indices = merged
        return True

    def position_of(self, contact_id: str) -> int | None:
        """Where the contact is in the view, None when it is not shown."""
        i = self.roster.row_of(contact_id)
        return None if i is None else self._position(i)

    def _position(self, i: int) -> int | None:
        keys = self._keys
        indices = self.indices
        position = bisect_left(indices, keys[i], key=keys.__getitem__)
        return position if position < len(indices) and indices[position] == i else None

    def _status_keys(self) -> list[int]:
        total = len(self.roster.rows)
        return [
            row.status_rank * total + rank for row, rank in zip(self.roster.rows, self.roster.name_rank, strict=True)
        ]
