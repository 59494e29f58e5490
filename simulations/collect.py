"""``python -m simulations.collect MULTIRUN_DIR``: the training collector, now :mod:`simulations.train.collect`.

Kept for the command and the old import path (docs/training.md, conf/experiment/*.yaml); code imports the new module.
"""

import sys

from simulations.train.collect import *  # noqa: F403 (the old import path, for code outside the package)
from simulations.train.collect import main

if __name__ == "__main__":
    sys.exit(main())
