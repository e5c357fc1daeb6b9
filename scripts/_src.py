"""Puts src/ on sys.path, so that rule scripts import wbrad in conda environments and on cluster nodes too."""

import sys
from pathlib import Path

SRC = str(Path(__file__).resolve().parents[1] / "src")
if SRC not in sys.path:
    sys.path.insert(0, SRC)
