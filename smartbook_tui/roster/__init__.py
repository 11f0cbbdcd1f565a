"""Contacts x presence -> rows for the screen, with no UI in it; and the session that assembles settings, contacts,
the list subscription and the phone, shared by `smartbook watch` and the app."""
