"""Where the real-world corpora are (``../shared/corpora`` beside the repository).

``AGENTTRACE_CORPORA`` overrides the location.  The files are data recorded by
other people's systems; tests read them and never change them.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

ROOT = Path(os.environ.get("AGENTTRACE_CORPORA", Path(__file__).resolve().parents[2].parent / "shared" / "corpora"))
LANGFUSE = ROOT / "langfuse-framework-traces"
WHO_AND_WHEN = ROOT / "who-and-when"
AGENTRX = ROOT / "agentrx"
TAU_RUNS = AGENTRX / "tau_retail" / "tau_dataset_failed.json"


def files(folder: Path, pattern: str = "*.json") -> list[Path]:
    """The corpus files in ``folder``; a missing corpus fails the run instead of passing silently."""
    found = sorted(folder.glob(pattern), key=lambda p: (p.parent.name, int(p.stem) if p.stem.isdigit() else p.stem))
    if not found:
        pytest.fail(f"corpus folder {folder} is missing or empty; set AGENTTRACE_CORPORA to the corpora directory")
    return found


def who_and_when_files() -> list[Path]:
    """The 58 hand-crafted and 126 algorithm-generated Who&When runs."""
    return files(WHO_AND_WHEN / "Hand-Crafted") + files(WHO_AND_WHEN / "Algorithm-Generated")
