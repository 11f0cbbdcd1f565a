"""The consent store: the answer to "send the book's numbers to the service?", remembered per account."""

from smartbook_tui.roster.consent import ConsentStore, default_consent_path


def test_answers_are_remembered_per_account_in_a_private_file(tmp_path):
    store = ConsentStore(tmp_path / "data" / "consent.json")
    assert store.get("sip:alice@example.org") is None  # never asked
    store.set("sip:alice@example.org", True)
    store.set("sip:bob@example.org", False)
    again = ConsentStore(store.path)
    assert again.get("sip:alice@example.org") is True
    assert again.get("sip:bob@example.org") is False
    assert again.get("sip:carol@example.org") is None
    assert store.path.stat().st_mode & 0o777 == 0o600


def test_a_damaged_file_means_asking_again_and_is_replaced_by_the_next_answer(tmp_path):
    store = ConsentStore(tmp_path / "consent.json")
    store.path.write_text("{not json")
    assert store.get("sip:alice@example.org") is None
    store.set("sip:alice@example.org", False)
    assert store.get("sip:alice@example.org") is False


def test_the_default_file_is_in_the_user_data_directory(tmp_path, monkeypatch):
    monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path))
    assert default_consent_path() == tmp_path / "smartbook" / "consent.json"
    ConsentStore().set("sip:alice@example.org", True)
    assert (tmp_path / "smartbook" / "consent.json").exists()
