"""Small network specs shared by the models tests (2 downsamplings, 8 base filters)."""

SMALL_UNET = {
    "architecture": "unet",
    "in_channels": 2,
    "out_channels": 3,
    "channels": [8, 16, 32],
    "strides": [2, 2],
}
SMALL_DYNUNET = {
    "architecture": "dynunet",
    "in_channels": 2,
    "out_channels": 3,
    "depth": 2,
    "base_filters": 8,
}
