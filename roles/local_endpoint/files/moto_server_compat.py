# Copyright: (c) 2026, Smart City Platform Team
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Run moto's server with the local endpoint's fixes: ``moto_server_compat.py -H 127.0.0.1 -p PORT`` (moto_server's CLI).

The fixes live in the package ``moto_compat`` beside this file, one module per service (docs/local-endpoint.md).
This launcher applies them (``moto_compat.apply()``, which refuses a moto other than the one they were reviewed
against) and runs moto's server. The local_endpoint role starts it; pointed at AWS or LocalStack, the collection does
not use it.
"""

from __future__ import annotations

import sys

import moto_compat
from moto.server import main

if __name__ == "__main__":
    try:
        moto_compat.apply()
    except moto_compat.MotoVersionError as error:
        sys.exit(f"moto_server_compat: {error}")
    main(sys.argv[1:])
