"""``python -m osl``: the ``osl`` command."""

import sys

from osl.cli import main

sys.exit(main())
