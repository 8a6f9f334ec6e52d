"""``python -m rlhf_otel.cli``: the same as the ``rlhf-otel`` command."""

from __future__ import annotations

import sys

from rlhf_otel.cli import main

sys.exit(main())
