"""bnreview: an executable review of Ioffe & Szegedy (2015), Batch Normalization.

One module a concern: ``data`` (MNIST in memory), ``batchnorm`` (BN from scratch),
``models`` (LeNet), ``train`` (SGD runs and their History), ``cache`` (runs on disk),
``plots`` (the figures), ``widgets`` (retrain in a notebook), ``cli`` (``python -m bnreview``).
"""

import os

__version__ = "0.1.0"

# How torch's OpenMP threads wait between parallel regions. libgomp's default spins, which is
# fastest on idle cores but makes training collapse (10-30x) when another process wants the
# same cores: a spinning thread burns the time slice its descheduled partner needs. Set here,
# before anything imports torch (libgomp reads it when torch loads), so the CLI, the panel and
# the chapters' kernels all get it; a value the user set wins. It changes timing only, never
# the numbers. Measured by benchmarks/under_load.py.
OPENMP_WAIT = {"OMP_WAIT_POLICY": "PASSIVE"}
for _name, _value in OPENMP_WAIT.items():
    os.environ.setdefault(_name, _value)
