"""Where a user's data lives: ``--home DIR``, else ``TRIALS_HOME``, else the platform data dir."""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

import platformdirs


def resolve_home(explicit: str | os.PathLike[str] | None = None) -> Path:
    if explicit:
        return Path(explicit).expanduser()
    env = os.environ.get("TRIALS_HOME")
    if env:
        return Path(env).expanduser()
    return Path(platformdirs.user_data_dir("trialscope", appauthor=False))


@dataclass(frozen=True)
class DataHome:
    root: Path
    # A home only read through (the web page): the store is opened read-only, so no read
    # path writes (the cross-registry links are not refreshed on read).
    read_only: bool = False

    @classmethod
    def resolve(cls, explicit: str | os.PathLike[str] | None = None) -> DataHome:
        return cls(resolve_home(explicit))

    @property
    def store_path(self) -> Path:
        return self.root / "store.sqlite"

    @property
    def index_dir(self) -> Path:
        return self.root / "index"

    @property
    def log_dir(self) -> Path:
        return self.root / "logs"
