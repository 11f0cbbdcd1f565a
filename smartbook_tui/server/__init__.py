"""The embedded presence server: registrar, presence (PUBLISH/SUBSCRIBE), resource lists with phone aliases,
and the accounts behind them. It shares `smartbook_tui.sip` and `smartbook_tui.presence` with the client."""
