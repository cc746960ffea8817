import sys

from hpcgan.cli import main

sys.exit(main())
