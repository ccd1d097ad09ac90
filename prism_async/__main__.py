"""``python -m prism_async`` runs the command line."""

import sys

from prism_async._cli import main

sys.exit(main())
