import sys

from rmtkit.cli import main

sys.exit(main())
