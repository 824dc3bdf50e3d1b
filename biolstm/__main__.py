"""``python -m biolstm`` is the same as the ``biolstm`` command."""

import sys

from biolstm.cli import main

sys.exit(main())
