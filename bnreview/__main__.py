import sys

from bnreview.cli import main

sys.exit(main())
