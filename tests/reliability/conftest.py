"""The reliability proofs reuse the asset tests' emulator helpers (``tests/assets``)."""

import sys
from pathlib import Path

_ASSET_TESTS = str(Path(__file__).resolve().parent.parent / "assets")
if _ASSET_TESTS not in sys.path:
    sys.path.insert(0, _ASSET_TESTS)
