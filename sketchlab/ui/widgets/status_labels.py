"""The status bar's permanent labels: the tool in use, the zoom, the live photo's
latency and the time of the last autosave."""

from __future__ import annotations

import time

from PySide6.QtWidgets import QLabel, QStatusBar


class StatusLabels:
    def __init__(self, bar: QStatusBar) -> None:
        self.tool = QLabel()
        self.zoom = QLabel("100%")
        self.latency = QLabel()
        self.latency.setToolTip("Median time from the end of a stroke to the new photo on "
                                "screen, this session")
        self.autosave = QLabel()
        for w in (self.tool, self.zoom, self.latency, self.autosave):
            bar.addPermanentWidget(w)

    def show_zoom(self, zoom: float) -> None:
        self.zoom.setText(f"{zoom * 100:.0f}%")

    def show_latency(self, median_ms: float | None) -> None:
        if median_ms is not None:
            self.latency.setText(f"stroke→photo {median_ms:.0f} ms (median)")

    def show_autosaved(self, _path: object = None) -> None:
        self.autosave.setText(f"autosaved {time.strftime('%H:%M:%S')}")
