"""``python -m simulations.headline RUNS [--out DIR] [--relabel]``: the headline report, now
:mod:`simulations.train.headline`.

Kept for the command and the old import path (scripts/headline.sh, docs/headline.md, docs/training.md); code imports the new module.
"""

import sys

from simulations.train.headline import *  # noqa: F403 (the old import path, for code outside the package)
from simulations.train.headline import main

if __name__ == "__main__":
    sys.exit(main())
