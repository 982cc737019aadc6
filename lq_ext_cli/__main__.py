"""``python -m lq_ext_cli``: the ``lq-ext`` command."""

import sys

from lq_ext_cli import main

sys.exit(main())
