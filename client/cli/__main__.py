"""``python -m client.cli``: the fppdl command line."""

import sys

from client.cli import main

sys.exit(main())
