import pytest


@pytest.fixture(autouse=True)
def _no_user_files(tmp_path_factory, monkeypatch):
    """Tests never read or write the user's own settings, cache or data directories."""
    home = tmp_path_factory.mktemp("xdg")
    for variable in ("XDG_CONFIG_HOME", "XDG_CACHE_HOME", "XDG_DATA_HOME", "XDG_STATE_HOME"):
        monkeypatch.setenv(variable, str(home / variable.lower()))
    monkeypatch.delenv("SMARTBOOK_CONFIG", raising=False)
