"""The local data plane's command: ``python files/dataplane/dataplane.py <command> --help`` (see iot_dataplane.cli)."""

import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from iot_dataplane.cli import main

if __name__ == "__main__":
    sys.exit(main())
