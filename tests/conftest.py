"""Shared test helpers: paths to the repo's fixtures and to the optional ../shared samples."""

from __future__ import annotations

from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
FIXTURES = REPO / "fixtures"
CTGOV_FIXTURES = FIXTURES / "ctgov" / "studies"
SHARED = REPO.parent / "shared"
SHARED_DATA = SHARED / "data"


def shared_path(*parts: str) -> Path:
    """A path inside ../shared, or skip the test cleanly when a fresh clone has no ../shared."""
    path = SHARED.joinpath(*parts)
    if not path.exists():
        pytest.skip(f"{path} not present (the real registry samples live beside the repo)")
    return path


def shared_files(folder: str, pattern: str = "*.json") -> list[Path]:
    """Files for parametrize; empty (so tests skip) when ../shared is absent."""
    base = SHARED.joinpath(folder)
    return sorted(base.glob(pattern)) if base.exists() else []


@pytest.fixture
def home(tmp_path: Path) -> Path:
    return tmp_path / "home"
