"""The science, with no Qt: network, checkpoints, preprocessing, inference, matching."""
