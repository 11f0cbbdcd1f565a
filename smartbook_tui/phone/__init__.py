"""The phone engine: the only package that imports pjsua2 (registration, own presence, and calls)."""
