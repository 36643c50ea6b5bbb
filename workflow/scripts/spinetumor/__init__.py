"""spinetumor: a reproducible study pipeline for spinal cord tumour segmentation.

The package follows the pipeline's stages: BIDS discovery and validation,
registration, cord masks, preprocessing and splits (then models and metrics).
Snakemake scripts under ``workflow/scripts`` only unpack the ``snakemake``
object and call one function of this package.
"""

__version__ = "0.1.0"

#: Label values of a ``dseg`` map inside the project.
LABELS: dict[str, int] = {"tumor": 1, "edema": 2, "cavity": 3}
