"""Photo export: native size as made, or an upscaled copy labelled as such."""

import numpy as np
from PIL import Image

from sketchlab.core.photo_export import export_photo


def test_native_and_labelled_upscale(tmp_path):
    rgb = np.random.default_rng(0).integers(0, 256, (160, 128, 3), dtype=np.uint8)
    native = export_photo(tmp_path / "face.png", rgb, model="m", sha256="ab" * 32)
    with Image.open(native) as im:
        assert im.size == (128, 160) and np.array_equal(np.asarray(im), rgb)
        assert "native size 128x160" in im.text["Description"]
    big = export_photo(tmp_path / "face.png", rgb, factor=4, model="m")
    assert big.name == "face-upscaled-4x.png" and native.exists()
    with Image.open(big) as im:
        assert im.size == (512, 640)
        assert "UPSCALED 4x from the network's native 128x160" in im.text["Description"]
