"""Training data: the aligned-frame cache, synthetic sketch styles, augmentation (manifests
are read by `sketchlab.core.manifest`, which the app and the benchmarks share)."""
