"""Several server processes (nodes) sharing their live state through Redis (`--cluster redis://...`).

`journal` is what the core hands out (sans-IO), `records` how it is written in Redis, `link` the asyncio side that
writes it there and brings the other nodes' changes back.
"""
