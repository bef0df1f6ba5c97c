"""What the `trialscope` package exposes: its rooms and nothing else of the checkout.

CI (``.ci/run``) installs the wheel, not the checkout, and sets ``TRIALSCOPE_EXPECT_INSTALLED``:
then every room must be imported from the installed copy, so a module or data file missing
from the wheel fails here rather than on a user's machine."""

from __future__ import annotations

import importlib
import importlib.util
import os
import sysconfig
from pathlib import Path

import pytest

import trialscope

ROOMS = ["core", "extract", "parser", "store", "index", "index.engine", "crawler",
         "crawler.spiders", "app", "cli", "web", "fixtures"]
CHECKOUT = Path(__file__).resolve().parents[1]


@pytest.mark.parametrize("name", ["tests", "build", "bench", "docs", "contrib", "src"])
def test_only_the_rooms_are_importable(name):
    assert importlib.util.find_spec(f"trialscope.{name}") is None


def test_the_package_is_one_folder():
    assert len(list(trialscope.__path__)) == 1


@pytest.mark.skipif(not os.environ.get("TRIALSCOPE_EXPECT_INSTALLED"),
                    reason="a development install imports the checkout (CI checks the wheel)")
@pytest.mark.parametrize("room", ROOMS)
def test_ci_imports_the_installed_wheel(room):
    purelib = Path(sysconfig.get_paths()["purelib"]).resolve()
    module = importlib.import_module(f"trialscope.{room}")
    where = Path(module.__file__).resolve()
    assert purelib in where.parents, f"trialscope.{room} imported from {where}, not {purelib}"
    assert CHECKOUT not in where.parents or purelib in where.parents


@pytest.mark.skipif(not os.environ.get("TRIALSCOPE_EXPECT_INSTALLED"),
                    reason="a development install imports the checkout (CI checks the wheel)")
def test_ci_wheel_carries_the_package_data():
    index = Path(importlib.import_module("trialscope.index").__file__).parent
    web = Path(importlib.import_module("trialscope.web").__file__).parent
    assert (index / "synonyms.txt").is_file() and (index / "intents.txt").is_file()
    assert (index / "common_words.txt").is_file()  # index/pairs.py's table
    assert any((web / "templates").glob("*.html"))
