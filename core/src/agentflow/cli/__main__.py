"""``python -m agentflow.cli``: the ``agentflow`` command."""

import sys

from agentflow.cli.main import main

sys.exit(main())
