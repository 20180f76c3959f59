"""bnreview: an executable review of Ioffe & Szegedy (2015), Batch Normalization.

One module a concern, in dependency order (ARCHITECTURE.md draws the flow):

* ``data``: MNIST and Fashion-MNIST as in-memory tensors, found, checked (official MD5s) and normalised.
* ``batchnorm``: BatchNorm from scratch (Algorithms 1 and 2), a drop-in for torch's; ``teach``: Algorithm 1
  in plain tensor operations, the algorithm chapter's teaching version (tested equal to it).
* ``models``: LeNet (and the paper's MNIST MLP) with BN wherever asked for.
* ``config``: ``TrainConfig`` (everything that decides a run), the quick profile, seeds, data splits.
* ``probes``: what each layer feeds its nonlinearity while training (Figure 1(b, c)).
* ``train``: the SGD loop and the ``History`` it returns.
* ``cache``: runs (and values derived from them) on disk, keyed on what decides them.
* ``experiments``: the runs each chapter makes, by chapter: each a plan (configs per seed) and its runs.
* ``stats``: effects with 95% intervals and p-values from scipy.stats, Holm's correction, the verdict rule;
  ``protocol``: how each ledger claim is measured and judged, fixed before the runs that judge it;
  ``criteria``: the choice of a setting on held-out images and "trains", shared by experiments and findings.
* ``findings``: every number, comparison, verdict and sentence the chapters quote, by chapter.
* ``book``: the chapter registry: each chapter's runs and findings, one way for the chapter and the conclusion.
* ``page``: what a chapter shows by name, in the book and in JupyterLab alike: the numbers its prose
  cites with ``{eval}`page.x```, its figures and its Markdown blocks.
* ``plots``: the figures (``plots.runs``: single runs and the live curves; ``plots.sweeps``: over
  seeds, sweeps and grids); ``explorer``: the static book's explorer of precomputed runs; ``widgets``: the
  retraining panel of a live notebook.
* ``browser``: what the static book's in-browser (TensorFlow.js) trainer needs from PyTorch: its
  images, the reference run it must reproduce, the panel's markup.
* ``runs``: the registry: every run of every chapter, listed without training, with its cost.
* ``precompute``: every missing run trained in parallel on Dask (a local cluster or a scheduler).
* ``verify``: the ledger's verdicts and numbers on file (``results.json``) and a rebuild checked against them.
* ``cli``: ``python -m bnreview train|data|runs|precompute|verify``.
"""

__version__ = "0.1.0"

# How torch's OpenMP threads wait between parallel regions is left to libgomp (it spins, then
# sleeps). Passive waiting (OMP_WAIT_POLICY=PASSIVE) keeps two training threads from collapsing
# 4-30x when another process wants the same two cores, but on an idle machine it made LeNet's
# many small kernels about 4x slower here (benchmarks/under_load.py measures both), so it is the
# user's choice, not a default: set it when the machine is shared. It never changes the numbers.
SHARED_MACHINE_POLICY = {"OMP_WAIT_POLICY": "PASSIVE"}
