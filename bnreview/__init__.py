"""bnreview: an executable review of Ioffe & Szegedy (2015), Batch Normalization.

One module a concern: ``data`` (MNIST in memory), ``batchnorm`` (BN from scratch),
``models`` (LeNet), ``train`` (SGD runs and their History), ``cache`` (runs on disk),
``plots`` (the figures), ``widgets`` (retrain in a notebook), ``cli`` (``python -m bnreview``).
"""

__version__ = "0.1.0"
