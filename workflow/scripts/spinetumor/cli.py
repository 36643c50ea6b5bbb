"""The ``spinetumor`` command: segment new scans with a model exported from a study.

``spinetumor predict --model DIR --t2w T2W [--t1w T1W] --out OUT_DIR`` runs an
exported model folder (``{results_dir}/export/{model}``) on one scan; see
``spinetumor predict --help``; ``spinetumor export-onnx --model DIR`` adds ONNX
networks to the folder for ``predict --onnx``. Bad input is reported in one line naming the
file and the problem, with exit status 2; nothing is left half-written.
"""

from __future__ import annotations

import argparse
import logging
import sys
from collections.abc import Sequence

__all__ = ["main", "parser"]

_PREDICT_HELP = """\
Segment one scan with an exported spinetumor model.

The T2w may have any orientation and voxel size; the outputs lie on its own
grid and affine. When the model takes a T1w, it is registered onto the T2w
first with the registration settings the study used (rigid, then affine).
Each fold of the model predicts; their probabilities are averaged (the fold
ensemble) and post-processed once.

Outputs in OUT_DIR, named from the T2w (sub-01_T2w.nii.gz -> sub-01_...):
  *_space-T2w_desc-MODEL_dseg.nii.gz       label map: 1 tumour, 2 edema, 3 cavity
  *_space-T2w_desc-MODEL_dseg.json         sidecar: GeneratedBy, Sources, the SHA-256
                                           of the inputs and of the model files used,
                                           registration result, timings
  *_space-T2w_desc-MODEL_label-L_probseg.nii.gz   probability of each output channel
  *_space-T2w_desc-MODEL_uncertainty.nii.gz       spread across the folds (largest
                                           standard deviation over the channels), or,
                                           with one fold, the largest binary entropy (bits)
  *_space-T2w_desc-MODEL_label-SC_mask.nii.gz     the cord found by a cascade's stage 1

With --onnx, the folder's ONNX networks (added by `spinetumor export-onnx`)
run in ONNX Runtime on the CPU instead of PyTorch; everything else is the same.

Progress (loading, registration, each fold, saving) goes to stderr. Exit
status: 0 done; 2 bad input (missing file, not NIfTI, 4D, a contrast the
model needs but was not given, a model folder that fails its manifest);
1 any other failure. A failed run writes nothing into OUT_DIR.
"""


def parser() -> argparse.ArgumentParser:
    """The command line of ``spinetumor``."""
    top = argparse.ArgumentParser(
        prog="spinetumor",
        description="Spinal cord tumour segmentation with models exported from a spinetumor study.",
    )
    top.add_argument("--version", action="version", version=f"%(prog)s {_version()}")
    commands = top.add_subparsers(dest="command", required=True)
    predict = commands.add_parser(
        "predict",
        help="segment one scan with an exported model",
        description=_PREDICT_HELP,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    predict.add_argument(
        "--model", required=True, metavar="DIR", help="exported model folder ({results_dir}/export/{model})"
    )
    predict.add_argument(
        "--t2w", required=True, metavar="T2W", help="T2w NIfTI image (defines the output grid)"
    )
    predict.add_argument(
        "--t1w", metavar="T1W", help="gadolinium-enhanced T1w NIfTI image, if the model takes it"
    )
    predict.add_argument("--out", required=True, metavar="OUT_DIR", help="output folder (created if needed)")
    predict.add_argument(
        "--device", choices=["cpu", "cuda"], default="cpu", help="where the networks run (default: cpu)"
    )
    predict.add_argument(
        "--folds",
        default="all",
        metavar="all|K",
        help="'all' for the fold ensemble (default), or one fold number",
    )
    predict.add_argument("--threads", type=int, metavar="N", help="torch CPU threads (default: torch's)")
    predict.add_argument(
        "--onnx",
        action="store_true",
        help="run the folder's ONNX networks with ONNX Runtime (see export-onnx)",
    )
    predict.add_argument("-q", "--quiet", action="store_true", help="only warnings and errors on stderr")
    onnx = commands.add_parser(
        "export-onnx",
        help="add ONNX networks to an exported model folder",
        description=(
            "Write models/split-K/STAGE.onnx beside every fold's weights (spatial axes dynamic), check that "
            "ONNX Runtime's logits match PyTorch's on a random patch, and rewrite manifest.json. "
            "`spinetumor predict --onnx` then runs them."
        ),
    )
    onnx.add_argument("--model", required=True, metavar="DIR", help="exported model folder")
    onnx.add_argument("-q", "--quiet", action="store_true", help="only warnings and errors on stderr")
    return top


def _version() -> str:
    from spinetumor.provenance import code_version

    return code_version()


def main(argv: Sequence[str] | None = None) -> int:
    """Run ``spinetumor`` with ``argv`` (default: the command line); returns the exit status."""
    args = parser().parse_args(argv)
    logging.basicConfig(
        level=logging.WARNING if args.quiet else logging.INFO,
        format="spinetumor: %(message)s",
        stream=sys.stderr,
        force=True,
    )
    logging.getLogger("matplotlib").setLevel(logging.WARNING)
    from spinetumor.apply.inputs import InputError  # imports torch: after parsing, so --help is quick
    from spinetumor.export.manifest import ModelFolderError

    try:
        _run(args)
    except (InputError, ModelFolderError) as exc:
        print(f"spinetumor {args.command}: error: {exc}", file=sys.stderr)
        return 2
    except Exception as exc:  # the command's last line: any failure is one readable message
        logging.getLogger(__name__).debug("failure", exc_info=True)
        print(f"spinetumor {args.command}: failed: {type(exc).__name__}: {exc}", file=sys.stderr)
        return 1
    return 0


def _run(args: argparse.Namespace) -> None:
    """The command ``args`` names; bad input raises InputError or ModelFolderError."""
    from spinetumor.apply.inputs import InputError

    if args.command == "export-onnx":
        from spinetumor.export.onnx_networks import export_onnx

        export_onnx(args.model)
        return
    from spinetumor.apply.segment import segment

    folds = args.folds if args.folds == "all" else _fold(args.folds)
    if folds is None:
        raise InputError(f"--folds must be 'all' or a fold number, got {args.folds!r}")
    segment(
        args.model,
        args.t2w,
        args.out,
        t1w=args.t1w,
        folds=folds,
        device=args.device,
        threads=args.threads,
        onnx=args.onnx,
    )


def _fold(text: str) -> int | None:
    try:
        return int(text)
    except ValueError:
        return None


if __name__ == "__main__":
    sys.exit(main())
