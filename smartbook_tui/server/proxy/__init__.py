"""Call routing in the presence server: a transaction-stateful proxy between the domain's users (`router`), where
a request goes (`routes`) and which refusal a forked request ends with (`forking`)."""

from .router import PROXIED_METHODS, Proxy, ProxyConfig

__all__ = ["PROXIED_METHODS", "Proxy", "ProxyConfig"]
