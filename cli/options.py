"""What several commands share: the data home of the invocation, and the choices and help of
the filter options, derived from the record's vocabularies (``core/vocab.py``), never kept as a
second copy.  The values are checked by the library (``index/facets.py``), which accepts every
common spelling ("not yet recruiting", "phase 2", "II", "early 1") and lists the valid ones on a
typo."""

from __future__ import annotations

import click

from trialscope.app.service import DataHome, check_home
from trialscope.core.vocab import PHASE_LABELS, Phase, Status, StudyType

STATUS_CHOICES = ["open"] + [s.value.lower() for s in Status]


PHASE_CHOICES = [PHASE_LABELS[p.value] for p in Phase]


TYPE_CHOICES = [t.value.lower() for t in StudyType]


STATUS_HELP = ("Overall status (repeatable): open (= not yet recruiting, recruiting, by "
               "invitation), " + ", ".join(STATUS_CHOICES[1:]) + ".")


PHASE_HELP = ("Phase (repeatable): " + ", ".join(PHASE_CHOICES)
              + "; 'phase 2', 'II' and 'phase2' work too.")


TYPE_HELP = "Study type (repeatable): " + ", ".join(TYPE_CHOICES) + "."


def command_home(ctx: click.Context) -> DataHome:
    """The data home of this invocation (``--home``, ``TRIALS_HOME``, the default)."""
    home = DataHome.resolve(ctx.obj.get("home"))
    check_home(home)  # a file in the way is an error, whatever the command
    return home
