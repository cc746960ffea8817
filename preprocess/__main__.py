import sys

from hpcgan.cli import main

sys.exit(main(["preprocess", *sys.argv[1:]]))  # the shared entry: logging, config errors -> exit 2
