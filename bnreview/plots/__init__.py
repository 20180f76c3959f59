"""The book's figures, drawn from :class:`~bnreview.train.History` objects with matplotlib.

Every function takes the runs it draws (a ``{label: History}`` mapping where several are
compared), draws on a new figure unless given ``ax``, and returns the figure. Axes carry
units; titles state the setting (lr, batch size, epochs, seed) of the runs they show.

- :mod:`bnreview.plots.runs`: single runs, a few side by side, and the retraining panel's live curves;
- :mod:`bnreview.plots.sweeps`: figures over seeds and sweeps, and the chapters' composite figures;
- :mod:`bnreview.plots.depth`: the depth chapter's, BN's advantage against depth with its intervals;
- :mod:`bnreview.plots.landscape`: the loss landscape along the gradient, with and without BN;
- :mod:`bnreview.plots.tuned`: the tuned baselines, each network's pilot and its accuracy at its own rate.

The chapters call every figure as ``plots.<name>``.
"""

from bnreview.plots import depth, landscape, runs, sweeps, tuned
from bnreview.plots.depth import *  # noqa: F401,F403 - the names of depth.__all__
from bnreview.plots.landscape import *  # noqa: F401,F403 - the names of landscape.__all__
from bnreview.plots.runs import *  # noqa: F401,F403 - the names of runs.__all__
from bnreview.plots.sweeps import *  # noqa: F401,F403 - the names of sweeps.__all__
from bnreview.plots.tuned import *  # noqa: F401,F403 - the names of tuned.__all__

__all__ = [*runs.__all__, *sweeps.__all__, *depth.__all__, *landscape.__all__, *tuned.__all__]
