"""``python -m media_bench.server``: the server alone (what benchmarks and swarms start)."""

import sys

from media_bench.server.options import main

sys.exit(main())
