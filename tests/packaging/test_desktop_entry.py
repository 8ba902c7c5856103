"""The .desktop entry and the icon set (resources/icons) that install_linux.sh installs."""

from __future__ import annotations

import configparser
import shutil
import subprocess
from pathlib import Path

import pytest
from PIL import Image

REPO = Path(__file__).resolve().parents[2]
PACKAGING = REPO / "packaging"
SIZES = (16, 24, 32, 48, 64, 128, 256, 512)


def test_icon_set_has_every_size_square_and_transparent_corners():
    for n in SIZES:
        with Image.open(REPO / "resources" / "icons" / f"sketchlab-{n}.png") as im:
            assert im.size == (n, n)
            assert im.mode == "RGBA"
            assert im.getpixel((0, 0))[3] == 0, "rounded tile: corners are transparent"
            assert im.getpixel((n // 2, n // 2))[3] == 255


def test_desktop_entry_names_the_command_and_icon():
    entry = configparser.ConfigParser(interpolation=None)
    entry.optionxform = str  # keys are case-sensitive
    entry.read(PACKAGING / "sketchlab.desktop", encoding="utf-8")
    d = entry["Desktop Entry"]
    assert d["Type"] == "Application" and d["Exec"] == "sketchlab" and d["Icon"] == "sketchlab"
    assert d["Terminal"] == "false"


@pytest.mark.skipif(shutil.which("desktop-file-validate") is None,
                    reason="desktop-file-validate not installed (apt: desktop-file-utils)")
def test_desktop_entry_passes_desktop_file_validate():
    out = subprocess.run(["desktop-file-validate", str(PACKAGING / "sketchlab.desktop")],
                         capture_output=True, text=True)
    assert out.returncode == 0 and not out.stdout.strip(), out.stdout + out.stderr
