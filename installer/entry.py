"""How ``python -m installer.X`` starts (the ``sisyphus setup|models|doctor`` verbs run that way).

The verb's ``main(argv, config_path)`` runs with the settings file the CLI named
(SISYPHUS_CONFIG), verbose logging when the CLI was given ``--debug`` (SISYPHUS_DEBUG),
and a quiet exit when the reader of its output goes away (``sisyphus doctor | head -1``).
"""
from __future__ import annotations

import logging
import os
import sys
from pathlib import Path
from typing import Callable, NoReturn

from daemon import paths
from daemon.logs import FORMAT


def run(main: Callable[[list[str], Path], int]) -> NoReturn:
    if os.environ.get("SISYPHUS_DEBUG"):
        logging.basicConfig(level=logging.DEBUG, format=FORMAT)
    try:
        code = main(sys.argv[1:], paths.config_path())
    except BrokenPipeError:
        from daemon.cli import closed_pipe

        code = closed_pipe()
    sys.exit(code)
