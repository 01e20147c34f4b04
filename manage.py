#!/usr/bin/env python3
"""Django's command line, with platform/ (a source root, not a package) on the import path."""

import os
import sys
from pathlib import Path


def main() -> None:
    """Run a management command."""
    # The folder's contents go on the path, never the folder as a package: `import platform`
    # must keep finding the standard library module.
    sys.path.insert(0, str(Path(__file__).resolve().parent / "platform"))
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")
    from django.core.management import execute_from_command_line

    execute_from_command_line(sys.argv)


if __name__ == "__main__":
    main()
