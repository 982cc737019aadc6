"""``python -m lq_ext.cli``: the ``lq-ext`` command."""

import sys

from lq_ext.cli import main

sys.exit(main())
