"""Docked panels of the main window (search, case): they open dialogs and hold widgets."""
