"""The Textual app: it renders the roster and turns keys into intentions; nothing here knows SIP."""
