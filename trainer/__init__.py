"""SketchLab's offline trainer: datasets, synthetic sketch styles, losses, training,
evaluation and export of generator models. No Qt; depends only on sketchlab.core."""
