"""Milliseconds per LeNet training step: conv1's weight gradient as bnreview computes it against autograd's own.

    python benchmarks/first_conv.py [--steps 100] [--repeats 12]

``bnreview.models.first_conv`` computes the gradient of LeNet's first convolution (one input
channel, an input that needs no gradient) as a forward convolution of the images by the output's
gradient. Whether that beats oneDNN's own backward pass depends on the CPU: measured 2x faster for
the bare operation where it was introduced, it is slower on some Intel Xeons (AVX-512). This times
LeNet's step without BN and with our BN on all four layers both ways, as ``benchmarks/layout.py``
times its two layouts (random batches of 64, SGD, the two taking turns in one process), and prints
the median time of each and the median of the per-round ratios. Run it on an idle machine. The two
ways round differently (another summation order), so switching would retrain every LeNet run of
the book. Exits 0.
"""

from __future__ import annotations

import sys

from layout import compare, models  # benchmarks/layout.py: the same LeNet step, timed the same way


def autograds(conv, x):
    """conv1 as any layer: autograd's convolution backward computes its weight gradient."""
    return conv(x)


if __name__ == "__main__":
    sys.exit(compare(__doc__.split("\n")[0], {"bnreview's": {"first_conv": models.first_conv},
                                              "autograd's": {"first_conv": autograds}}))
