"""SketchLab: forensic face-sketch inversion and gallery search, offline."""

__version__ = "0.1.0"
