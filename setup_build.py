"""Build the compiled parity module in place (used by scripts/setup after `pip install -e`)."""

import sys

from setuptools import setup

sys.argv = [sys.argv[0], "build_ext", "--inplace", "-q"]
setup()
