"""trialscope: a local, searchable copy of clinical-trial registries.

The code lives in the top-level folders of the repository (``parser/``, ``crawler/``,
``index/``, ``cli/``, ``fixtures/``), installed as subpackages of this package so that a
regular install does not put generic names like ``parser`` or ``cli`` into site-packages.
"""

__version__ = "0.1.0"
