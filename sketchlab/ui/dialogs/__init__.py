"""Modal and modeless dialogs of the desktop app."""
