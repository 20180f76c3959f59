"""``python -m bnreview``: the command line (:mod:`bnreview.cli`)."""

import sys

# Ctrl-C while bnreview and torch are still importing (the first seconds) gets the same one
# line and status as later, not a KeyboardInterrupt traceback.
try:
    from bnreview.cli import main
except KeyboardInterrupt:
    print("interrupted; nothing was cached", file=sys.stderr)
    sys.exit(130)

sys.exit(main())
