"""Algorithm 1 in plain tensor operations: the teaching version of :mod:`bnreview.batchnorm`.

Read it beside the equations of the algorithm chapter; each line computes the one its comment
names. ``tests/test_teach.py`` holds it equal to the hardened implementation (which adds dtype
handling, running statistics, Algorithm 2 and speed).
"""

from __future__ import annotations

import torch


def bn_forward(x: torch.Tensor, gamma: torch.Tensor, beta: torch.Tensor, eps: float = 1e-5):
    """y = BN(x) for x of shape [N, C] or [N, C, H, W]; returns y and what the backward pass needs."""
    dims = [0, *range(2, x.dim())]  # what a channel averages over: the batch (and every location)
    shape = [1, -1] + [1] * (x.dim() - 2)  # one value per channel, broadcast over the rest
    mu = x.mean(dims, keepdim=True)  # mu_B = 1/m sum_i x_i
    var = x.var(dims, unbiased=False, keepdim=True)  # sigma_B^2 = 1/m sum_i (x_i - mu_B)^2
    x_hat = (x - mu) / torch.sqrt(var + eps)  # x_hat_i = (x_i - mu_B) / sqrt(sigma_B^2 + eps)
    y = gamma.view(shape) * x_hat + beta.view(shape)  # y_i = gamma x_hat_i + beta
    return y, (x_hat, var, eps, gamma.view(shape), dims)


def bn_backward(dy: torch.Tensor, saved):
    """dl/dx, dl/dgamma, dl/dbeta from dl/dy, by the chain rule through the forward pass."""
    x_hat, var, eps, gamma, dims = saved
    m = dy.numel() // dy.shape[1]  # values per channel
    dx_hat = dy * gamma  # dl/dx_hat_i = dl/dy_i * gamma
    dgamma = (dy * x_hat).sum(dims)  # dl/dgamma = sum_i dl/dy_i * x_hat_i
    dbeta = dy.sum(dims)  # dl/dbeta = sum_i dl/dy_i
    dx = (m * dx_hat - dx_hat.sum(dims, keepdim=True)  # dl/dx_i, simplified with sum_i (x_i - mu_B) = 0
          - x_hat * (dx_hat * x_hat).sum(dims, keepdim=True)) / (m * torch.sqrt(var + eps))
    return dx, dgamma, dbeta
