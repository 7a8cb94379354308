"""`python -m taskflow_site.cli`: the same as the `taskflow` console script."""

import sys

from taskflow_site.cli import main

sys.exit(main())
