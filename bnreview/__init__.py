"""bnreview: an executable review of Ioffe & Szegedy (2015), Batch Normalization.

One module a concern: ``data`` (MNIST in memory), ``batchnorm`` (BN from scratch),
``models`` (LeNet), ``train`` (SGD runs and their History), ``cache`` (runs on disk),
``plots`` (the figures), ``widgets`` (retrain in a notebook), ``cli`` (``python -m bnreview``).
"""

__version__ = "0.1.0"

# How torch's OpenMP threads wait between parallel regions is left to libgomp (it spins, then
# sleeps). Passive waiting (OMP_WAIT_POLICY=PASSIVE) keeps two training threads from collapsing
# 4-30x when another process wants the same two cores, but on an idle machine it made LeNet's
# many small kernels about 4x slower here (benchmarks/under_load.py measures both), so it is the
# user's choice, not a default: set it when the machine is shared. It never changes the numbers.
SHARED_MACHINE_POLICY = {"OMP_WAIT_POLICY": "PASSIVE"}
