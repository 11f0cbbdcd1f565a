"""smartbook: a terminal softphone whose contact list shows which contacts have an account on the SIP service."""

__version__ = "0.1.0"
