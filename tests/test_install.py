"""The pinned stack really imports and runs on this machine (docs/decisions.md, "Install")."""

import warnings


def test_torchvision_op_runs_beside_torch():
    import torch
    import torchvision
    from torchvision.ops import nms

    boxes = torch.tensor([[0, 0, 10, 10], [1, 1, 11, 11], [50, 50, 60, 60]], dtype=torch.float32)
    keep = nms(boxes, torch.tensor([0.9, 0.8, 0.7]), 0.5)
    assert keep.tolist() == [0, 2]
    assert torch.__version__.startswith("2.14.1") and torchvision.__version__.startswith("0.29.1")


def test_face_recognition_imports_without_compiled_dlib():
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        import dlib
        import face_recognition
    import numpy as np

    assert hasattr(dlib, "get_frontal_face_detector")
    assert face_recognition.face_locations(np.zeros((64, 64, 3), np.uint8)) == []


def test_opencv_is_headless_and_pyside_coexists():
    import importlib.metadata as md

    import cv2
    from PySide6 import QtCore

    assert "opencv-python-headless" in {d.metadata["Name"] for d in md.distributions()}
    assert "opencv-python" not in {d.metadata["Name"] for d in md.distributions()}
    assert cv2.__version__ and QtCore.qVersion()
