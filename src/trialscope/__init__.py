"""trialscope: a local, searchable copy of clinical-trial registries.

The rooms live in the top-level folders of the repository (``core/``, ``extract/``, ``parser/``,
``store/``, ``index/``, ``crawler/``, ``app/``, ``cli/``, ``web/``, ``fixtures/``), installed as
subpackages of this package (``[tool.setuptools.package-dir]`` in pyproject.toml) so that an
install puts no generic names like ``parser`` or ``cli`` into site-packages.  Only those rooms
are importable under ``trialscope``: install the project (``pip install -e .``) to run it from a
checkout.  ``docs/architecture.md`` says which room may import which.
"""

__version__ = "0.1.0"
