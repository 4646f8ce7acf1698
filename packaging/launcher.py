"""The frozen application's entry point: the same ``main`` as the ``auditlens`` console script.

PyInstaller needs a script file, not an entry point; keeping it this thin means the bundle and a
pip install run exactly the same code.
"""

import sys

from auditlens.cli import main

if __name__ == "__main__":
    sys.exit(main())
