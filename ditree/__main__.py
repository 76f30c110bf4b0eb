import sys

from ditree.cli import main

sys.exit(main())
