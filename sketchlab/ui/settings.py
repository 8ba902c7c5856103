"""AppSettings (a frozen dataclass) and the QSettings store that persists and broadcasts it.

The rest of the app only sees AppSettings values; the store is the one place that knows
the INI keys. The file lives in the user config dir, so SKETCHLAB_HOME isolates tests.
"""

from __future__ import annotations

import dataclasses
import logging
from dataclasses import dataclass
from pathlib import Path

from PySide6.QtCore import QObject, QSettings, Signal

from sketchlab.core import paths
from sketchlab.core.atomic import private_file
from sketchlab.core.calibration import DEFAULT_FMR
from sketchlab.core.engines import ENGINES
from sketchlab.core.frame import STYLES
from sketchlab.core.model_catalog import DEFAULT_MODEL
from sketchlab.core.precision import PRECISIONS
from sketchlab.core.search_rates import DEFAULT_FPIR

log = logging.getLogger(__name__)

DEVICES = ("auto", "cpu", "cuda")


@dataclass(frozen=True)
class AppSettings:
    """Everything the user can set in the Settings dialog; applied live when it changes."""

    model: str = DEFAULT_MODEL  # the live photo's
    search_model: str = ""  # the gallery search's; empty: the live photo's model
    device: str = "auto"
    precision: str = "auto"  # bf16 where the CPU does it natively; fp32: as before
    engine: str = "auto"  # the one measured fastest here, or torch/onnxruntime/openvino
    style: str = "auto"
    match_fpir: float = DEFAULT_FPIR  # a search for someone absent marks this share (1:N)
    match_fmr: float = DEFAULT_FMR  # models without 1:N rates: this rare among non-mates
    threshold: float = 0.0  # a fixed distance instead of match_fmr; 0 = use match_fmr
    top_k: int = 10
    gallery_url: str = ""  # empty: sketchlab.db's default ($SKETCHLAB_DB or the user data dir)
    autosave_seconds: int = 5
    live_preview: bool = True
    search_again: bool = False  # re-run a search when the sketch changes (else: mark stale)

    def __post_init__(self) -> None:
        if self.device not in DEVICES:
            raise ValueError(f"device must be one of {DEVICES}, got {self.device!r}")
        if self.engine not in ENGINES:
            raise ValueError(f"engine must be one of {ENGINES}, got {self.engine!r}")
        if self.precision not in PRECISIONS:
            raise ValueError(f"precision must be one of {PRECISIONS}, got {self.precision!r}")
        if self.style not in STYLES:
            raise ValueError(f"style must be one of {STYLES}, got {self.style!r}")
        if not 0.0 <= self.threshold < 2.0:
            raise ValueError("threshold must be a face distance between 0 and 2 (0: use "
                             "the false-match rate)")
        if not 0.0 < self.match_fmr < 1.0:
            raise ValueError("the false-match rate must be between 0 and 1")
        if not 0.0 < self.match_fpir < 1.0:
            raise ValueError("the false-positive rate per search must be between 0 and 1")
        if not 1 <= self.top_k <= 100:
            raise ValueError("top_k must be between 1 and 100")
        if not 1 <= self.autosave_seconds <= 3600:
            raise ValueError("autosave interval must be between 1 s and 1 h")

    def replace(self, **changes: object) -> AppSettings:
        return dataclasses.replace(self, **changes)


def settings_path() -> Path:
    return paths.user_config_dir() / "sketchlab.ini"


class SettingsStore(QObject):
    """Loads AppSettings from QSettings, saves edits, and emits `changed` with the new value."""

    changed = Signal(object)  # AppSettings

    def __init__(self, path: Path | None = None, parent: QObject | None = None) -> None:
        super().__init__(parent)
        # Created 0600 first: QSettings saves through QSaveFile, which keeps the mode.
        self._qs = QSettings(str(private_file(path or settings_path())),
                             QSettings.Format.IniFormat)
        self._value = self._load()

    @property
    def value(self) -> AppSettings:
        return self._value

    def _load(self) -> AppSettings:
        defaults = AppSettings()
        raw: dict[str, object] = {}
        for f in dataclasses.fields(AppSettings):
            default = getattr(defaults, f.name)
            v = self._qs.value(f"app/{f.name}", default)
            try:
                if isinstance(default, bool):
                    v = v if isinstance(v, bool) else str(v).lower() in ("1", "true", "yes")
                elif isinstance(default, int):
                    v = int(v)
                elif isinstance(default, float):
                    v = float(v)
                else:
                    v = str(v)
            except (TypeError, ValueError):
                log.warning("ignoring bad setting %s=%r", f.name, v)
                v = default
            raw[f.name] = v
        if not self._qs.contains("app/match_fmr") and raw.get("threshold") == 0.6:
            # Files from before calibration stored dlib's 0.6 as a default, not a choice.
            raw["threshold"] = 0.0
        try:
            return AppSettings(**raw)  # type: ignore[arg-type]
        except ValueError as exc:
            log.warning("settings file has invalid values (%s); using defaults", exc)
            return defaults

    def update(self, new: AppSettings) -> None:
        """Persist and broadcast; no signal when nothing changed."""
        if new == self._value:
            return
        for f in dataclasses.fields(AppSettings):
            self._qs.setValue(f"app/{f.name}", getattr(new, f.name))
        self._qs.sync()
        self._value = new
        self.changed.emit(new)

    # Window geometry and the like: not part of AppSettings, they are not "settings".
    def ui_value(self, key: str, default: object = None) -> object:
        return self._qs.value(f"ui/{key}", default)

    def set_ui_value(self, key: str, value: object) -> None:
        self._qs.setValue(f"ui/{key}", value)
        self._qs.sync()  # written now: a crash must not lose it (e.g. the open case)
