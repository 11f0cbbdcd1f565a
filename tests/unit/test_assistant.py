"""The Assistant's parts that need no server: the sentence for each error word, the number checked as typed, the
code as typed, the server's SIP address read, the resend timer, the console outbox read as a phone reads its SMS,
and the account saved without replacing another one."""

import asyncio
import json
import stat
import tomllib
from pathlib import Path

import pytest

from smartbook_tui.assistant.client import Activated, checked_url
from smartbook_tui.assistant.errors import SENTENCES, AssistantError, api_error
from smartbook_tui.assistant.flows import RESEND_AFTER, NewAccount, RecoverAccount, new_account, read_code
from smartbook_tui.assistant.outbox import Outbox
from smartbook_tui.assistant.phone_entry import read_phone
from smartbook_tui.assistant.saving import save_new_account
from smartbook_tui.config import AccountSettings, load_settings

# the error words of the account API's contract, by status
CONTRACT = {
    401: ["unauthorized"],
    403: ["account_not_activated"],
    404: ["no_such_account", "no_such_number", "no_pending_code"],
    409: ["username_taken", "number_taken"],
    410: ["code_expired", "code_void"],
    422: ["invalid_phone", "username_looks_like_phone", "invalid_username", "invalid_password", "wrong_code"],
    429: ["too_many_sms", "too_many_code_events", "too_many_requests", "too_many_failures"],
    503: ["sms_failed", "busy"],
}


@pytest.mark.parametrize(("status", "word"), [(status, word) for status, words in CONTRACT.items() for word in words])
def test_every_error_word_of_the_contract_is_one_sentence(status, word):
    error = api_error(status, {"error": word, "message": "Wrong code: 2 tries left."}, 120)
    assert error.word == word
    sentence = str(error)
    assert sentence.endswith(".")
    assert "\n" not in sentence
    assert "{" not in sentence
    if SENTENCES[word] is None:  # the server's own words say it best: the tries left, the rule broken
        assert sentence == "Wrong code: 2 tries left."


def test_the_readme_lists_every_error_word_under_its_status():
    readme = (Path(__file__).parents[2] / "README.md").read_text()
    refusals = " ".join(readme[readme.index("* Every refusal is") :].split("\n\n", 1)[0].split())
    for status, words in CONTRACT.items():
        listed = refusals[refusals.index(f"{status} `") :]
        for word in words:
            assert f"`{word}`" in listed, (status, word)
    assert set(SENTENCES) == {word for words in CONTRACT.values() for word in words} | {"invalid_body"}


def test_a_quota_says_how_long_to_wait():
    assert "try again in 2 hours" in str(api_error(429, {"error": "too_many_sms", "message": "x"}, 7000))
    assert "try again in 30 seconds" in str(api_error(429, {"error": "too_many_requests", "message": "x"}, 30))
    assert "try again in a while" in str(api_error(429, {"error": "too_many_code_events", "message": "x"}, None))


def test_a_word_this_version_does_not_know_is_said_in_the_servers_words():
    unknown = api_error(418, {"error": "teapot", "message": "i am a teapot"}, None)
    assert (unknown.word, str(unknown)) == ("teapot", "I am a teapot.")


@pytest.mark.parametrize(
    ("typed", "e164", "problem"),
    [
        ("", None, ""),
        ("06 39", None, "The number is too short."),
        ("06 39 98 99 01", "+33639989901", ""),  # ARCEP's range for fiction: phonenumbers does not know it
        ("+33 6 12 34 56 78", "+33612345678", ""),
        ("+44 7700 900123", "+447700900123", ""),
        ("01 45 67 89 01", None, "+33 1 45 67 89 01 is a landline: the code comes by SMS, give a mobile number."),
        ("hello", None, "This is not a phone number."),
        ("+999 123 456", None, "No country has this code: check the digits after the +."),
        ("06 12 34 56 78 90 12", None, "The number is too long."),
    ],
)
def test_a_number_is_checked_as_it_is_typed(typed, e164, problem):
    entry = read_phone(typed, "FR")
    assert (entry.e164, entry.problem) == (e164, problem)


def test_a_national_number_without_a_region_asks_for_the_country_code():
    assert read_phone("06 12 34 56 78", None).problem.startswith("Start with + and the country code")


def test_a_code_is_four_digits_spaces_allowed():
    assert read_code(" 48 21 ") == "4821"
    assert read_code("482") is None
    assert read_code("48a1") is None


def test_the_servers_sip_address_becomes_the_accounts_proxy_and_transport():
    activated = Activated("bob", "example.org", "+33612345678", "sip:bob@example.org", None, "t", 3600)
    assert new_account(activated, "pw").proxy is None
    for proxy, expected in [
        ("sip:127.0.0.1:5070;transport=tcp", ("127.0.0.1:5070", "tcp")),
        ("sip:sip.example.org;transport=TLS", ("sip.example.org", "tls")),
        ("sip:[::1]:5070", ("[::1]:5070", None)),
    ]:
        made = new_account(Activated("bob", "example.org", "+33612345678", "sip:bob@example.org", proxy, "t", 1), "pw")
        assert (made.proxy, made.transport) == expected


def test_a_new_code_is_fair_only_after_the_resend_time_or_once_the_code_is_gone():
    now = [100.0]

    class Api:
        async def request_recovery(self, phone):
            return "+33612345678"

    async def scenario():
        flow = RecoverAccount(Api(), "0612345678", clock=lambda: now[0])  # type: ignore[arg-type]
        assert flow.resend_in() == 0
        assert await flow.send_code() == "+33612345678"
        assert flow.resend_in() == RESEND_AFTER
        now[0] += RESEND_AFTER - 1
        assert flow.resend_in() == 1
        flow.code_gone()
        assert flow.resend_in() == 0

    asyncio.run(scenario())


def test_the_api_url_is_needed_and_http():
    with pytest.raises(AssistantError) as missing:
        checked_url(None)
    assert missing.value.word == "no_api"
    assert "--account-api" in str(missing.value)
    with pytest.raises(AssistantError) as wrong:
        checked_url("ftp://example.org/api")
    assert wrong.value.word == "bad_url"
    assert checked_url("http://127.0.0.1:8080/api/") == "http://127.0.0.1:8080/api"


def test_the_outbox_is_read_as_sms_arrive_a_line_being_written_waits(tmp_path):
    path = tmp_path / "outbox.jsonl"
    outbox = Outbox(path)
    assert outbox.new_messages() == []
    first = {"to": "+33639989901", "text": "Your smartbook code is 4821. It expires in 10 minutes."}
    path.write_text(json.dumps(first) + "\n" + '{"to": "+3361')
    [sms] = outbox.new_messages()
    assert sms.code == "4821"
    assert sms.notice() == "SMS to +33 6 39 98 99 01: your code is 4821"
    with path.open("a") as file:
        file.write('2345678", "text": "Your smartbook code is 0007."}\n')
    [second] = outbox.new_messages()
    assert (second.to, second.code) == ("+33612345678", "0007")
    assert outbox.new_messages() == []


NEW = NewAccount(
    "sip:+33639989901@example.org", "+33639989901", "s3cret-from-the-server", "+33639989901", "127.0.0.1:5070", "tcp"
)


def test_a_new_account_without_one_set_up_becomes_the_settings_account(tmp_path):
    config = tmp_path / "config" / "config.toml"
    saved = save_new_account(config, NEW, None)
    assert saved.in_settings
    account = load_settings(config).account
    assert (account.sip_uri, account.proxy, account.transport) == (NEW.sip_uri, "127.0.0.1:5070", "tcp")
    assert account.password_file == tmp_path / "config" / "password"
    assert account.password_file.read_text() == NEW.password + "\n"
    assert stat.S_IMODE(account.password_file.stat().st_mode) == 0o600
    assert "s3cret" not in config.read_text()
    assert str(config) in saved.sentence()


def test_a_new_account_never_replaces_the_signed_in_one(tmp_path):
    config = tmp_path / "config.toml"
    config.write_text('# mine\n[account]\nsip_uri = "sip:alice@example.org"\npassword_file = "pw"\n')
    saved = save_new_account(config, NEW, None)
    assert not saved.in_settings
    assert tomllib.loads(config.read_text())["account"]["sip_uri"] == "sip:alice@example.org"
    assert saved.password_file == tmp_path / "password-+33639989901"
    assert stat.S_IMODE(saved.password_file.stat().st_mode) == 0o600
    sentence = saved.sentence()
    assert "sip:alice@example.org stays the account you sign in with" in sentence
    assert f"--password-file {saved.password_file}" in sentence.replace("'", "")


def test_an_account_named_by_a_flag_does_not_own_the_settings_files_password_file(tmp_path):
    # the app run with --sip-uri for NEW's account while the file keeps alice's: alice's files stay as they are
    config = tmp_path / "config.toml"
    config.write_text('[account]\nsip_uri = "sip:alice@example.org"\npassword_file = "pw"\n')
    (tmp_path / "pw").write_text("alice's own\n")
    flags = AccountSettings(sip_uri=NEW.sip_uri, password_file=tmp_path / "pw")  # the file's, merged with the flag
    saved = save_new_account(config, NEW, flags)
    assert not saved.in_settings
    assert (tmp_path / "pw").read_text() == "alice's own\n"
    assert tomllib.loads(config.read_text())["account"]["sip_uri"] == "sip:alice@example.org"


def test_an_account_signed_in_by_the_flags_alone_stays_when_another_is_made(tmp_path):
    config = tmp_path / "config.toml"
    running = AccountSettings(sip_uri="sip:alice@example.org", password_file=tmp_path / "alice-pw")
    saved = save_new_account(config, NEW, running)
    assert not saved.in_settings
    assert "sip:alice@example.org stays the account you sign in with" in saved.sentence()


def test_a_recovered_account_keeps_its_password_file(tmp_path):
    config = tmp_path / "config.toml"
    own = tmp_path / "elsewhere" / "my-password"
    config.write_text(f'[account]\nsip_uri = "{NEW.sip_uri}"\npassword_file = "{own}"\n')
    saved = save_new_account(config, NEW, None)
    assert saved.in_settings
    assert saved.password_file == own
    assert own.read_text().strip() == NEW.password
    assert load_settings(config).account.password_file == own
