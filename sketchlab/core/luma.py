"""What "grey" means everywhere in SketchLab: ITU-R BT.601 luma, Y = 0.299 R + 0.587 G +
0.114 B. OpenCV's RGB-to-grey, which the app's grey searches use, weighs the channels so;
the trainer's grey metrics and its SSIM term read these weights, so a "grey" figure and a
grey search mean one thing."""

from __future__ import annotations

WEIGHTS = (0.299, 0.587, 0.114)  # R, G, B
