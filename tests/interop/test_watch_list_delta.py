"""`smartbook watch` against `smartbook server run` when the book changes: the change goes in the subscription's
dialog (list-delta), not as a new subscription with the whole book, and the new contact's state arrives."""

from __future__ import annotations

from tests.interop.test_server_watch import (
    BOB,
    CAROL,
    ERIN,
    FAST,
    address,
    assert_unsubscribed,
    is_phase,
    phone,
    presence_of,
    start_watch,
    stop,
    vcard,
    write_book,
)
from tests.peers.smartbook_server import run_smartbook_server


async def test_a_contact_added_to_the_book_goes_as_a_change_in_the_dialog(tmp_path):
    book = tmp_path / "book"
    book.mkdir()
    write_book(book / "first.vcf", vcard("Bob", f"TEL:{BOB}"), vcard("Carol", f"TEL:{CAROL}"))
    accounts = [("alice", None), ("bob", BOB), ("erin", ERIN)]
    with run_smartbook_server(tmp_path / "server", *FAST, accounts=accounts) as server:
        watch = await start_watch(server, "alice", "--vcard", str(book))
        try:
            await watch.until(is_phase("active"))
            await watch.until(presence_of(phone(CAROL), has_account=False))
            mark = watch.mark()
            write_book(book / "erin.vcf", vcard("Erin", f"TEL:{ERIN}"))
            erin = await watch.until(presence_of(phone(ERIN), has_account=True), after=mark)
            assert erin["sip_address"] == address("erin")
            assert erin["contacts"] == ["Erin"]
            server.wait_for_log("1 added, 0 removed")  # the server took a change to the list it had
        finally:
            await stop(watch)
    assert_unsubscribed(watch)
    assert watch.phases.count("subscribing") == 1  # one dialog from start to end: no new subscription
    assert "waiting" not in watch.phases
    changes = [line for line in watch.lines if line.get("event") == "state" and "changes" in str(line["detail"])]
    assert [line["detail"] for line in changes] == ["sending the book's changes (1 added, 0 removed)"]
    assert not [line for line in watch.lines[mark:] if line.get("uri") in (phone(BOB), phone(CAROL))]  # untouched


async def test_the_quota_is_one_line_on_stderr_and_the_withheld_numbers_are_rejected_not_without_account(tmp_path):
    book = write_book(tmp_path / "book.vcf", vcard("Bob", f"TEL:{BOB}"), vcard("Carol", f"TEL:{CAROL}"))
    accounts = [("alice", None), ("bob", BOB), ("erin", ERIN)]
    quota = ("--discovery-quota", "1")
    with run_smartbook_server(tmp_path / "server", *FAST, *quota, accounts=accounts) as server:
        watch = await start_watch(server, "alice", "--vcard", str(book))
        try:
            await watch.until(is_phase("active"))
            withheld = await watch.until(presence_of(phone(CAROL), reason="rejected"))
            assert withheld["has_account"] is False  # unknown: the line says why, it is not "no account"
            await watch.until(presence_of(phone(BOB), has_account=True, reason=None))
            mark = watch.mark()
            book.write_text(book.read_text() + vcard("Erin", f"TEL:{ERIN}"))  # past the quota too
            await watch.until(presence_of(phone(ERIN), reason="rejected"), after=mark)
        finally:
            await stop(watch)
    code, stderr = watch.exit
    assert code == 0, stderr
    said = [line for line in stderr.splitlines() if "were not checked" in line]
    assert said == [
        "smartbook: 1 numbers of your book were not checked: your book is larger than this service lets you check "
        "today (1 new numbers)"
    ]  # once: the change's answer says the same sentence, and nothing is retried for it
    assert watch.phases.count("subscribing") == 1
