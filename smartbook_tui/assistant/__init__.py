"""The Assistant: accounts made from a phone number proven by an SMS code, numbers linked to an account, accounts
recovered by their number; through the server's account API (`smartbook server run --http`).

`client` speaks the API (httpx), `errors` says what went wrong in a sentence, `phone_entry` checks a number as it is
typed, `flows` are the steps of each task (send a code, confirm it) without any UI, `saving` writes the account the
app signs in with, and `outbox` reads the console SMS gateway's outbox as a phone reads its SMS (the demo's).
The CLI (`smartbook assistant`) and the TUI's screens only ask and show.
"""

OUTBOX_VARIABLE = "SMARTBOOK_SMS_OUTBOX"  # set by `smartbook demo`: the app shows the SMS written to that outbox
