"""``python -m prism_async`` runs the command line."""

import sys

from prism_async.cli import main

sys.exit(main())
