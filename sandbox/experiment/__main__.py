"""python -m sandbox.experiment FILE ...: python -m sandbox experiment."""
import sys

from sandbox.__main__ import main

main(['experiment', *sys.argv[1:]])
