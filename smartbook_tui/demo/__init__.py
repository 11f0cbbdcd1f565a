"""`smartbook demo`: the app against the embedded server, with demo users whose numbers are in the fixtures book.

`cast` reads who is who (fixtures/demo/cast.toml), `agent` is a demo user's small SIP client (REGISTER and
PUBLISH with smartbook's own SIP code), `backend` is the process running the server and the demo users, and
`launch` starts that process, runs the app against it and stops everything when the app quits.
"""
