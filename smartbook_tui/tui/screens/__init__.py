"""The app's screens: the main one, the first-run account form, and the dialogs over them."""
