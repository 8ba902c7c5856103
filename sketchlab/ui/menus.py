"""The main window's commands as QActions, and the menu bar that lists them.

`command()` makes one action the same way every time (shortcuts, tooltip, toolbar label);
`MainMenus` builds the menu bar from one layout and keeps each menu by name, so a later
addition (the Case dock's toggle, File > Export case) goes to `menus.view` or
`menus.file`, never to a menu found by its label. Which menu an action sits in is said
once, by the layout; the help page reads it back from the action's "menu" property.
"""

from __future__ import annotations

from collections.abc import Callable

from PySide6.QtGui import QAction, QKeySequence
from PySide6.QtWidgets import QMenu, QMenuBar, QWidget

MenuItems = list[QAction | None]  # None: a separator


def command(owner: QWidget, text: str, slot: Callable[..., object],
            shortcut: str | list[str] | None = None, tip: str = "", checkable: bool = False,
            short: str = "") -> QAction:
    """An action of `owner`, whose shortcuts work even when no menu or toolbar shows it."""
    a = QAction(text, owner)
    if short:
        a.setIconText(short)  # the toolbar label
    if shortcut is not None:
        keys = shortcut if isinstance(shortcut, list) else [shortcut]
        a.setShortcuts([QKeySequence(k) for k in keys])
    if tip:
        a.setStatusTip(tip)
        a.setToolTip(f"{text.replace('&', '')} ({a.shortcut().toString()})"
                     if a.shortcuts() else tip)
    a.setCheckable(checkable)
    a.triggered.connect(slot)
    owner.addAction(a)
    return a


class MainMenus:
    """File, Edit, Tools, View, Gallery, Settings and Help, in that order."""

    def __init__(self, bar: QMenuBar, *, file: MenuItems, edit: MenuItems, tools: MenuItems,
                 view: MenuItems, gallery: MenuItems, settings: MenuItems,
                 help: MenuItems) -> None:
        self.file = _menu(bar, "&File", file)
        self.edit = _menu(bar, "&Edit", edit)
        self.tools = _menu(bar, "&Tools", tools)
        self.view = _menu(bar, "&View", view)
        self.gallery = _menu(bar, "&Gallery", gallery)
        self.settings = _menu(bar, "&Settings", settings)
        self.help = _menu(bar, "&Help", help)

    @staticmethod
    def insert_after(menu: QMenu, anchor: QAction, action: QAction) -> None:
        action.setProperty("menu", anchor.property("menu"))
        acts = menu.actions()
        i = acts.index(anchor) + 1
        if i < len(acts):
            menu.insertAction(acts[i], action)
        else:
            menu.addAction(action)


def _menu(bar: QMenuBar, title: str, items: MenuItems) -> QMenu:
    m = bar.addMenu(title)
    for a in items:
        if a is None:
            m.addSeparator()
        else:
            a.setProperty("menu", title.replace("&", ""))
            m.addAction(a)
    return m
