"""Time budgets for work on untrusted input."""

import time

import pytest

from sketchlab.core.budget import BudgetExceeded, run_within


def test_result_and_errors_pass_through():
    assert run_within(5, lambda: 42, "sum") == 42
    with pytest.raises(ZeroDivisionError):
        run_within(5, lambda: 1 / 0, "division")


def test_slow_work_is_a_clear_error_in_time():
    t0 = time.monotonic()
    with pytest.raises(BudgetExceeded, match=r"decoding x\.png took longer than 0\.2 s"):
        run_within(0.2, lambda: time.sleep(3), "decoding x.png")
    assert time.monotonic() - t0 < 2


def test_decode_over_budget_is_an_image_error(monkeypatch):
    import io

    from PIL import Image

    from sketchlab.core import imageio

    buf = io.BytesIO()
    Image.new("RGB", (64, 64), "white").save(buf, format="PNG")
    monkeypatch.setattr(imageio, "DECODE_SECONDS", 0.2)
    monkeypatch.setattr(imageio, "_decode", lambda *a: time.sleep(3))  # a decoder stuck
    with pytest.raises(imageio.ImageLoadError, match="too complex to decode safely"):
        imageio.load_image(buf.getvalue())


def test_large_photos_are_detected_within_the_pixel_budget(shared_data, monkeypatch):
    """A photo over the detector's pixel budget is searched at a reduced size, and the
    boxes come back in the photo's own coordinates."""
    import cv2

    from sketchlab.core import matching
    from sketchlab.core.imageio import load_image

    photo = load_image(sorted((shared_data / "cufs_cuhk" / "test" / "photos").glob("*.jpg"))[0])
    (box,) = matching.detect_faces(photo)
    big = cv2.resize(photo, None, fx=6, fy=6, interpolation=cv2.INTER_CUBIC)
    seen = []
    real = matching.face_locations

    def spy(img, upsample=1, detector=None):
        seen.append(img.shape[0] * img.shape[1] * 4 ** upsample)
        return real(img, upsample, detector)

    monkeypatch.setattr(matching, "face_locations", spy)
    (big_box,) = matching.detect_faces(big)
    assert seen and max(seen) <= matching.DETECT_MAX_PIXELS * 1.01
    # The same face (HOG boxes shift a little with scale): they overlap by most of it.
    t, r, b, left = (v / 6 for v in big_box)
    t0, r0, b0, l0 = box
    inter = max(0, min(r, r0) - max(left, l0)) * max(0, min(b, b0) - max(t, t0))
    union = (r - left) * (b - t) + (r0 - l0) * (b0 - t0) - inter
    assert inter / union > 0.6
