"""``python -m media_bench serve|bench mixer`` (used by the benchmark to start servers)."""

import sys

from media_bench.cli import main

sys.exit(main())
