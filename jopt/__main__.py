"""``python -m jopt``: the ``jopt`` command line (see :mod:`jopt.cli`)."""

import sys

from jopt.cli import main

sys.exit(main())
