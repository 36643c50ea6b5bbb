"""Command line of the demo dataset: ``python -m spinetumor.demo OUT_DIR --n-subjects N --seed S``."""

import sys

from spinetumor.demo.cli import main

sys.exit(main())
