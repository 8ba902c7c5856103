"""The PySide6 desktop app. The only package that imports Qt; nothing imports it but __main__."""

import os

# superqt reaches Qt through qtpy, which would take PyQt5 or PyQt6 first if one is installed
# beside PySide6 (or whatever QT_API names); its signals must be PySide6's, like the app's.
os.environ["QT_API"] = "pyside6"  # whatever a user set it to for other tools
