"""Training data: the aligned-frame cache, synthetic sketch styles, augmentation of pairs
and of sketches alone (artist augmentations). Manifests are read by
`sketchlab.core.manifest`, which the app and the benchmarks share."""
