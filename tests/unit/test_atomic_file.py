"""The one atomic write every saved file goes through (settings, consent, the book's and CardDAV's caches)."""

from __future__ import annotations

import stat

import pytest

from smartbook_tui.atomic_file import write_atomically
from smartbook_tui.contacts.book_cache import BookCache
from smartbook_tui.contacts.carddav.cache import CachedSource, save_cache


def mode_of(path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def test_a_private_file_lands_whole_in_a_private_directory_it_creates(tmp_path):
    path = tmp_path / "cache" / "book.json"
    write_atomically(path, b"old", mode=0o600, directory_mode=0o700)
    write_atomically(path, b"new", mode=0o600, directory_mode=0o700)
    assert path.read_bytes() == b"new"
    assert (mode_of(path), mode_of(path.parent)) == (0o600, 0o700)
    assert [p.name for p in path.parent.iterdir()] == ["book.json"]  # no temporary file left behind


def test_a_failed_write_leaves_the_old_content(tmp_path, monkeypatch):
    path = tmp_path / "settings.toml"
    write_atomically(path, b"old")

    def full_disk(*_args):
        raise OSError(28, "No space left on device")

    monkeypatch.setattr("os.fsync", full_disk)
    with pytest.raises(OSError, match="No space"):
        write_atomically(path, b"new")
    assert path.read_bytes() == b"old"
    assert [p.name for p in tmp_path.iterdir()] == ["settings.toml"]


@pytest.mark.parametrize("save", ["book", "carddav"])
def test_both_caches_are_private(tmp_path, save):
    path = tmp_path / "private" / "cache.json"
    if save == "book":
        BookCache(path, "FR").save({})
    else:
        save_cache(path, CachedSource(url="https://dav.example/", username="alice"))
    assert (mode_of(path), mode_of(path.parent)) == (0o600, 0o700)
