import sys

from paintvid.cli import main

sys.exit(main())
