"""The teaching BatchNorm of the algorithm chapter equals the hardened one, forward and backward."""

from __future__ import annotations

import pytest
import torch

from bnreview.batchnorm import BatchNormFunction
from bnreview.teach import bn_backward, bn_forward


@pytest.mark.parametrize("shape", [(64, 120), (8, 6, 28, 28), (2, 3, 1, 1)], ids=["fc", "conv", "tiny"])
def test_teaching_version_equals_the_hardened_one(shape):
    torch.manual_seed(0)
    x = (3 + 2 * torch.randn(shape, dtype=torch.float64)).requires_grad_()
    gamma = torch.randn(shape[1], dtype=torch.float64, requires_grad=True)
    beta = torch.randn(shape[1], dtype=torch.float64, requires_grad=True)
    dy = torch.randn(shape, dtype=torch.float64)

    y, _, _ = BatchNormFunction.apply(x, gamma, beta, 1e-5)
    y.backward(dy)
    taught, saved = bn_forward(x.detach(), gamma.detach(), beta.detach())
    dx, dgamma, dbeta = bn_backward(dy, saved)

    torch.testing.assert_close(taught, y.detach(), rtol=1e-12, atol=1e-12)
    for ours, theirs in ((dx, x.grad), (dgamma, gamma.grad), (dbeta, beta.grad)):
        torch.testing.assert_close(ours, theirs, rtol=1e-10, atol=1e-10)


def test_teaching_backward_is_autograds_gradient():
    """The hand-written chain rule against autograd differentiating the teaching forward itself."""
    torch.manual_seed(1)
    x = torch.randn(16, 4, 3, 3, dtype=torch.float64, requires_grad=True)
    gamma = torch.rand(4, dtype=torch.float64, requires_grad=True)
    beta = torch.randn(4, dtype=torch.float64, requires_grad=True)
    dy = torch.randn_like(x)
    y, saved = bn_forward(x, gamma, beta)
    y.backward(dy)
    by_hand = bn_backward(dy, tuple(s.detach() if torch.is_tensor(s) else s for s in saved))
    for ours, theirs in zip(by_hand, (x.grad, gamma.grad, beta.grad)):
        torch.testing.assert_close(ours, theirs, rtol=1e-10, atol=1e-10)
