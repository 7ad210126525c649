"""``python -m paintvid``: the same command line as the ``paintvid`` script."""

import sys

from paintvid.cli import main

sys.exit(main())
