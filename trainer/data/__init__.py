"""Training data: manifests, the aligned-frame cache, synthetic sketch styles, augmentation."""
