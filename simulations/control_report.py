"""``python -m simulations.control_report RUNS --out DIR``: the spectral-control report, now
:mod:`simulations.train.control_report`.

Kept for the command and the old import path (docs/control.md, scripts/tempbalance.sh); code imports the new module.
"""

import sys

from simulations.train.control_report import *  # noqa: F403 (the old import path, for code outside the package)
from simulations.train.control_report import main

if __name__ == "__main__":
    sys.exit(main())
