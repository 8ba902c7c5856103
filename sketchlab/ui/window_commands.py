"""Every command of the main window as an action, and where each one shows: the menu
bar, the toolbar, and the shortcut that works even when neither shows it.

The actions belong to the window (so the help page lists them from `window.actions()`);
what they do belongs to the parts they call: the file commands, the document's undo
stack, the canvas, the brush controls, the match panel and the window's dialogs.
"""

from __future__ import annotations

import functools
from collections.abc import Callable

from PySide6.QtCore import QSize, Qt
from PySide6.QtGui import QActionGroup
from PySide6.QtWidgets import QMainWindow, QToolBar

from sketchlab.ui.document import SketchDocument
from sketchlab.ui.file_commands import FileCommands
from sketchlab.ui.menus import MainMenus, MenuItems, command
from sketchlab.ui.widgets.brush_bar import BrushControls
from sketchlab.ui.widgets.canvas import CanvasView

Slot = Callable[[], object]


class WindowCommands:
    def __init__(self, window: QMainWindow, files: FileCommands, document: SketchDocument,
                 canvas: CanvasView, brush: BrushControls, *, search: Slot, gallery: Slot,
                 settings: Slot, help: Slot, about: Slot) -> None:
        self.brush = brush
        A = functools.partial(command, window)
        self.new = A("&New sketch", files.new_sketch, "Ctrl+N", "Start a blank canvas",
                     short="New")
        self.open = A("&Open sketch…", files.open_dialog, "Ctrl+O",
                      "Open a SketchLab sketch (PNG + strokes)", short="Open")
        self.import_ = A("&Import sketch or photo of one…", files.import_dialog, "Ctrl+I",
                         "Align a scanned or photographed sketch onto the canvas",
                         short="Import")
        self.save = A("&Save", files.save, "Ctrl+S", "Save the sketch")
        self.save_as = A("Save &as…", files.save_as, "Ctrl+Shift+S")
        self.export = A("&Export synthesized photo…", files.export_photo, "Ctrl+E",
                        "Save the synthesized photo as an image")
        self.quit = A("&Quit", window.close, "Ctrl+Q")
        stack = document.undo_stack
        self.undo = A("&Undo", stack.undo, "Ctrl+Z", "Undo the last stroke")
        self.redo = A("&Redo", stack.redo, ["Ctrl+Shift+Z", "Ctrl+Y"], "Redo")
        stack.canUndoChanged.connect(self.undo.setEnabled)
        stack.canRedoChanged.connect(self.redo.setEnabled)
        self.undo.setEnabled(False)
        self.redo.setEnabled(False)
        self.clear = A("&Clear canvas", document.clear, "Delete",
                       "Clear the canvas (undoable)", short="Clear")
        self.brush_tool = A("&Brush", lambda: self.set_tool("brush"), "B",
                            "Draw; pressure sets width and darkness", checkable=True)
        self.eraser = A("&Eraser", lambda: self.set_tool("eraser"), "E", "Erase to paper",
                        checkable=True)
        group = QActionGroup(window)
        group.addAction(self.brush_tool)
        group.addAction(self.eraser)
        self.brush_tool.setChecked(True)
        self.smaller = A("Smaller brush", lambda: brush.scale_size(1 / 1.2), "[")
        self.bigger = A("Bigger brush", lambda: brush.scale_size(1.2), "]")
        self.softer = A("Softer brush", lambda: brush.step_hardness(-0.1), ",")
        self.harder = A("Harder brush", lambda: brush.step_hardness(0.1), ".")
        self.colour = A("Brush &colour…", brush.pick_colour, "C",
                        "Colour strokes are hints for the colour-sketch model")
        self.black = A("Reset colour to pencil grey", brush.reset_colour, "D")
        self.zoom_in = A("Zoom &in", canvas.zoom_in, ["Ctrl++", "Ctrl+="])
        self.zoom_out = A("Zoom &out", canvas.zoom_out, "Ctrl+-")
        self.fit = A("&Fit canvas", canvas.fit, "Ctrl+0", short="Fit")
        self.actual = A("Actual &pixels", canvas.actual_size, "Ctrl+1")
        self.guide = A("Face &guide", canvas.set_guide_visible, "G",
                       "Show the network's canonical face frame", checkable=True,
                       short="Guide")
        self.guide.setChecked(True)
        self.search = A("&Search gallery", search, "Ctrl+F",
                        "Rank gallery faces against the synthesized photo")
        self.gallery = A("&Manage gallery…", gallery, "Ctrl+G")
        self.settings = A("&Settings…", settings, "Ctrl+,")
        self.help = A("&Shortcuts and help", help, "F1")
        self.about = A("&About SketchLab", about)
        self.menus = MainMenus(
            window.menuBar(),
            file=[self.new, self.open, self.import_, None, self.save, self.save_as,
                  self.export, None, self.quit],
            edit=[self.undo, self.redo, None, self.clear],
            tools=[self.brush_tool, self.eraser, None, self.smaller, self.bigger,
                   self.softer, self.harder, self.colour, self.black],
            view=[self.zoom_in, self.zoom_out, self.fit, self.actual, None, self.guide],
            gallery=[self.search, self.gallery],
            settings=[self.settings],
            help=[self.help, self.about])
        window.addToolBar(self._toolbar())

    def _toolbar(self) -> QToolBar:
        tb = QToolBar("Tools")
        tb.setObjectName("tools")
        tb.setIconSize(QSize(20, 20))
        tb.setToolButtonStyle(Qt.ToolButtonStyle.ToolButtonTextOnly)
        _add(tb, [self.new, self.open, self.import_, self.save, None, self.undo, self.redo,
                  self.clear, None, self.brush_tool, self.eraser])
        self.brush.add_to(tb)
        _add(tb, [None, self.guide, self.fit, None, self.search])
        return tb

    def set_tool(self, tool: str) -> None:
        self.brush.set_tool(tool)
        (self.eraser if tool == "eraser" else self.brush_tool).setChecked(True)


def _add(tb: QToolBar, items: MenuItems) -> None:
    for a in items:
        if a is None:
            tb.addSeparator()
        else:
            tb.addAction(a)
