"""trialscope: a local, searchable copy of clinical-trial registries.

The code lives in the top-level folders of the repository (``parser/``, ``crawler/``,
``index/``, ``cli/``, ``fixtures/``), installed as subpackages of this package (see
``[tool.setuptools.package-dir]`` in pyproject.toml) so that an install does not put generic
names like ``parser`` or ``cli`` into site-packages.
"""

from __future__ import annotations

import os

__version__ = "0.1.0"

# Run from a source checkout (python -m pytest / python -m trialscope.cli in the repo), this
# folder holds only this file and the subpackages are its sibling folders: let the import
# system find them there.  An installed copy has them inside this folder and skips this.
_here = os.path.dirname(os.path.abspath(__file__))
_checkout = os.path.dirname(_here)
if not os.path.isdir(os.path.join(_here, "parser")) and os.path.isfile(
    os.path.join(_checkout, "parser", "__init__.py")
):
    __path__.append(_checkout)  # noqa: F821 (module attribute of a package)
