"""`python -m zes` runs the `zes` command."""

import sys

from zes.cli import main

sys.exit(main())
