"""`smartbook cluster up`: several presence server nodes behind Kamailio on this machine, from Debian packages.

`up` runs the whole; one module per part starts it: `redis` (the shared live state), `postgres` (the accounts,
seeded with the demo's), `nodes` (`smartbook server run` processes), `kamailio` (the shipped front config) and
`players` (the demo's users, publishing through it); `parts` is what they share (processes, logs, ports)."""
