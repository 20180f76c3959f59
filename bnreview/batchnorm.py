r"""Batch Normalization from scratch: Algorithms 1 and 2 of Ioffe & Szegedy (2015).

A drop-in replacement for :class:`torch.nn.BatchNorm1d` and :class:`torch.nn.BatchNorm2d`, written
to be read next to the paper: the same constructor, parameters and buffers (``weight``, ``bias``,
``running_mean``, ``running_var``, ``num_batches_tracked``), so the same ``state_dict`` keys.

* **Algorithm 1 (training)**, :class:`BatchNormFunction`: per channel, the mini-batch mean
  :math:`\mu_B` and *biased* variance :math:`\sigma_B^2`, then :math:`\hat x`, then
  :math:`\gamma \hat x + \beta`. The gradient must flow *through* :math:`\mu_B` and
  :math:`\sigma_B^2` (Sec. 2: normalising outside the gradient step lets a bias grow without
  bound), so the backward pass is the paper's formulas, written out.
* **Algorithm 2 (inference)**, :func:`batch_norm` with ``training=False``: one fixed affine map
  from the population statistics, which are PyTorch's moving averages
  ``running = (1 - momentum) * running + momentum * batch`` (``momentum`` weighs the *new*
  batch: ``1 - t`` in the TF/Keras convention) with the *unbiased* variance
  :math:`\frac{m}{m-1}\sigma_B^2`; ``momentum=None`` gives the cumulative average the paper writes.
* **Convolutions (Sec. 3.2)**: one :math:`(\gamma, \beta)` per feature map, statistics over the
  batch *and* all positions, so the effective mini-batch is :math:`m' = m \cdot p \cdot q`.
"""

from __future__ import annotations

import math

import torch
from torch import Tensor, nn
from torch.autograd.function import once_differentiable

__all__ = ["BatchNormFunction", "batch_norm", "BatchNorm1d", "BatchNorm2d"]


_REDUCE_DIMS = {2: (0,), 3: (0, 2), 4: (0, 2, 3)}


def _reduce_dims(x: Tensor) -> tuple[int, ...]:
    """All dims but the channel dim 1: (0,) for (N, C), (0, 2) for (N, C, L), (0, 2, 3) for
    (N, C, H, W). Statistics are per channel / feature map (Sec. 3.2)."""
    dims = _REDUCE_DIMS.get(x.dim())
    return dims if dims is not None else (0, *range(2, x.dim()))


_LOW_PRECISION = (torch.float16, torch.bfloat16)


def _compute_dtype(dtype: torch.dtype) -> torch.dtype:
    """The dtype the statistics are computed in: float32 for float16/bfloat16 input (as torch does:
    a float16 variance overflows once any |x - mu| passes 256), the input's own dtype otherwise."""
    return torch.float32 if dtype in _LOW_PRECISION else dtype


def _check_dtypes(input: Tensor, *tensors: Tensor | None) -> None:
    """torch.nn.BatchNorm's rule on CPU: parameters and buffers share the input's dtype, or the input is
    float16/bfloat16 and they are float32 (mixed precision). Anything else is refused, naming both."""
    for t in tensors:
        if t is None or t.dtype == input.dtype:
            continue
        if not (input.dtype in _LOW_PRECISION and t.dtype == torch.float32):
            raise RuntimeError(
                f"BatchNorm got {input.dtype} input with {t.dtype} parameters or buffers; accepted: the same "
                "dtype for both, or float16/bfloat16 input with float32 parameters (as torch.nn.BatchNorm)"
            )


class BatchNormFunction(torch.autograd.Function):
    r"""Algorithm 1 (training mode) with the paper's backward pass written out.

    ``BatchNormFunction.apply(x, gamma, beta, eps)`` returns ``(y, mu_B, var_B)``.
    ``gamma`` and ``beta`` may be ``None`` (no scale / no shift). ``mu_B`` and the biased
    ``var_B`` are returned (as non-differentiable outputs) so that the caller can update
    the running statistics; the gradient that flows through them *inside* the
    normalisation is handled here in :meth:`backward`.
    """

    @staticmethod
    def forward(ctx, x: Tensor, gamma: Tensor | None, beta: Tensor | None, eps: float):
        """Algorithm 1: ``(y, mu_B, var_B)`` for a batch ``x``, normalised per channel, scaled and shifted."""
        # Low-precision input is normalised in float32 and handed back in its own dtype; for
        # float32 and float64 every .to() below returns the tensor itself: no copy, no rounding.
        ctx.dtypes = x.dtype, gamma.dtype if gamma is not None else None, beta.dtype if beta is not None else None
        compute = _compute_dtype(x.dtype)
        if x.dtype != compute:
            x = x.to(compute)
            gamma = gamma.to(compute) if gamma is not None else None
            beta = beta.to(compute) if beta is not None else None
        dims = _reduce_dims(x)
        C = x.shape[1]
        m = x.numel() // C  # values per channel: m' = N * H * W for convolutions

        # Two-pass moments: the mean first, then the squared deviations from it. This is
        # exact even when |mu_B| >> sigma_B (the one-pass E[x^2] - E[x]^2 cancels), and
        # x - mu_B is needed for x_hat anyway. keepdim: (1, C, 1, 1) broadcasts against x.
        mu_B = x.mean(dims, keepdim=True)  # mu_B = 1/m sum_i x_i
        x_mu = x - mu_B  # x_i - mu_B   (turned into x_hat in place below)
        y = x_mu * x_mu  # (x_i - mu_B)^2, in the buffer that will hold the output y
        var_B = y.mean(dims, keepdim=True)  # var_B = 1/m sum_i (x_i - mu_B)^2   (biased, as in the paper)
        inv_std = (var_B + eps).rsqrt_()  # 1 / sqrt(var_B + eps): eps keeps a constant channel finite
        x_hat = x_mu.mul_(inv_std)  # x_hat_i = (x_i - mu_B) / sqrt(var_B + eps)

        # Scale and shift, written into y's buffer (one fresh allocation fewer: on CPU a
        # new activation-sized tensor costs page faults, often more than the arithmetic).
        shape = mu_B.shape
        if gamma is not None:
            torch.mul(x_hat, gamma.view(shape), out=y)  # y_i = gamma * x_hat_i ...
            if beta is not None:
                y.add_(beta.view(shape))  # ... + beta
        elif beta is not None:
            torch.add(x_hat, beta.view(shape), out=y)  # y_i = x_hat_i + beta   (no scale)
        else:
            # No affine step: y is x_hat, but as a copy, so that an in-place op on y
            # (e.g. ReLU(inplace=True)) cannot corrupt the x_hat saved for backward.
            y.copy_(x_hat)

        # Backward needs only x_hat, 1/sqrt(var_B + eps) and gamma: x - mu_B is x_hat / inv_std.
        ctx.save_for_backward(x_hat, inv_std, gamma.view(shape) if gamma is not None else None)
        ctx.m, ctx.dims = m, dims
        mu_B, var_B = mu_B.view(C), var_B.view(C)
        ctx.mark_non_differentiable(mu_B, var_B)
        ctx.set_materialize_grads(False)
        return (y if y.dtype == ctx.dtypes[0] else y.to(ctx.dtypes[0])), mu_B, var_B

    @staticmethod
    @once_differentiable
    def backward(ctx, dl_dy: Tensor | None, _dl_dmu: None, _dl_dvar: None):
        r"""The paper's chain rule (Section 3), with :math:`g = \partial\ell/\partial y` and
        :math:`s = 1/\sqrt{\sigma_B^2 + \epsilon}`:

        .. math::

            \frac{\partial \ell}{\partial \hat x_i} = g_i \gamma, \quad
            \frac{\partial \ell}{\partial \sigma_B^2} = -\tfrac12 s^3 \sum_i
                \frac{\partial \ell}{\partial \hat x_i} (x_i - \mu_B), \quad
            \frac{\partial \ell}{\partial \mu_B} = -s \sum_i \frac{\partial \ell}{\partial \hat x_i}
                + \frac{\partial \ell}{\partial \sigma_B^2} \frac{\sum_i -2 (x_i - \mu_B)}{m}, \\
            \frac{\partial \ell}{\partial x_i} = \frac{\partial \ell}{\partial \hat x_i} s
                + \frac{\partial \ell}{\partial \sigma_B^2} \frac{2 (x_i - \mu_B)}{m}
                + \frac{\partial \ell}{\partial \mu_B} \frac{1}{m}, \quad
            \frac{\partial \ell}{\partial \gamma} = \sum_i g_i \hat x_i, \quad
            \frac{\partial \ell}{\partial \beta} = \sum_i g_i.

        Since :math:`\sum_i (x_i-\mu_B) = 0` and :math:`x_i - \mu_B = \hat x_i / s`, the three terms of
        :math:`\partial\ell/\partial x_i` collapse to

        .. math::

            \frac{\partial \ell}{\partial x_i} = \gamma s \Big( g_i - \frac{1}{m}\frac{\partial \ell}{\partial \beta}
                - \frac{\hat x_i}{m}\frac{\partial \ell}{\partial \gamma} \Big),

        so the whole backward pass needs two per-channel reductions, the two that give the
        gradients of :math:`\beta` and :math:`\gamma`.
        """
        if dl_dy is None:  # only mu_B / var_B were used downstream: they carry no gradient
            return None, None, None, None
        x_hat, inv_std, gamma = ctx.saved_tensors  # gamma already shaped (1, C, 1, 1) like inv_std
        dims, m = ctx.dims, ctx.m
        if dl_dy.dtype != x_hat.dtype:
            dl_dy = dl_dy.to(x_hat.dtype)

        # The two reductions. dl/dy * x_hat goes into a scratch buffer that is reused for dl/dx.
        buf = dl_dy * x_hat
        dl_dgamma = buf.sum(dims, keepdim=True)  # dl/dgamma = sum_i dl/dy_i * x_hat_i
        dl_dbeta = dl_dy.sum(dims, keepdim=True)  # dl/dbeta = sum_i dl/dy_i

        dl_dx = None
        if ctx.needs_input_grad[0]:
            # dl/dx_hat = dl/dy * gamma ; fold gamma and s = inv_std into one per-channel factor.
            g_s = inv_std if gamma is None else gamma * inv_std  # gamma * s
            k = g_s * (-1.0 / m)  # -gamma * s / m
            # dl/dx_i = dl/dx_hat_i * s  +  dl/dvar_B * 2(x_i - mu_B)/m  +  dl/dmu_B / m, where
            #   dl/dvar_B * 2(x_i - mu_B)/m  ==  -(gamma*s/m) * dl/dgamma * x_hat_i
            #   dl/dmu_B / m                 ==  -(gamma*s/m) * dl/dbeta
            dl_dx = torch.mul(x_hat, k * dl_dgamma, out=buf)  # variance term
            dl_dx.add_(k * dl_dbeta)  # mean term
            dl_dx.addcmul_(dl_dy, g_s)  # direct term: dl/dx_hat_i * s
            if dl_dx.dtype != ctx.dtypes[0]:
                dl_dx = dl_dx.to(ctx.dtypes[0])

        # each gradient in the dtype of what it is the gradient of
        C = x_hat.shape[1]
        return dl_dx, _grad(dl_dgamma, C, ctx.dtypes[1]), _grad(dl_dbeta, C, ctx.dtypes[2]), None


def _grad(total: Tensor, C: int, dtype: torch.dtype | None) -> Tensor | None:
    """A per-channel sum as the gradient of a (C,) parameter of ``dtype`` (None: no such parameter)."""
    if dtype is None:
        return None
    total = total.view(C)
    return total if total.dtype == dtype else total.to(dtype)


def batch_norm(
    input: Tensor,
    running_mean: Tensor | None,
    running_var: Tensor | None,
    weight: Tensor | None = None,
    bias: Tensor | None = None,
    training: bool = False,
    momentum: float = 0.1,
    eps: float = 1e-5,
) -> Tensor:
    r"""Functional batch normalisation with the semantics of :func:`torch.nn.functional.batch_norm`.

    ``training=True``: Algorithm 1 with the statistics of this batch; if the running
    buffers are given they are updated in place,
    ``running = (1 - momentum) * running + momentum * batch`` (unbiased variance).
    ``training=False``: Algorithm 2, the fixed affine map given by the running buffers.
    """
    if input.dim() < 2:
        raise ValueError(f"batch_norm expects input of shape (N, C, *), got input of shape {tuple(input.shape)}")
    if training:
        if input.shape[0] * math.prod(input.shape[2:]) == 1:
            raise ValueError(f"Expected more than 1 value per channel when training, got input size {input.size()}")
        if eps <= 0.0:
            raise ValueError(f"batch_norm eps must be positive during training, but got {eps}")
    elif eps < 0.0:
        raise ValueError(f"batch_norm eps must be non-negative, but got {eps}")
    _check_dtypes(input, running_mean, running_var, weight, bias)

    if training:
        y, mu_B, var_B = BatchNormFunction.apply(input, weight, bias, eps)
        if running_mean is not None or running_var is not None:
            # Algorithm 2, step 10, as a moving average instead of a mean over all batches.
            with torch.no_grad():
                m = input.numel() // input.shape[1]
                # lerp_(b, w) is a <- a + w (b - a) = (1 - w) a + w b.
                if running_mean is not None:
                    # E[x] <- (1 - momentum) E[x] + momentum * mu_B
                    running_mean.lerp_(mu_B.to(running_mean.dtype), momentum)
                if running_var is not None:
                    # Var[x] <- (1 - momentum) Var[x] + momentum * m/(m-1) var_B   (unbiased)
                    running_var.lerp_((var_B * (m / (m - 1))).to(running_var.dtype), momentum)
        return y

    # Algorithm 2, step 11: at inference BN is one fixed per-channel affine map
    # y = scale * x + shift, with scale = gamma / sqrt(Var[x] + eps), shift = beta - scale * E[x].
    if running_mean is None or running_var is None:
        raise ValueError("batch_norm in eval mode (training=False) needs running_mean and running_var")
    shape = [1, input.shape[1]] + [1] * (input.dim() - 2)
    compute = _compute_dtype(input.dtype)  # float32 for float16/bfloat16, as in training
    scale = torch.rsqrt(running_var.to(compute) + eps)  # 1 / sqrt(Var[x] + eps)
    if weight is not None:
        scale = weight.to(compute) * scale  # gamma / sqrt(Var[x] + eps)
    shift = -running_mean.to(compute) * scale  # - gamma E[x] / sqrt(Var[x] + eps)
    if bias is not None:
        shift = shift + bias.to(compute)  # beta - gamma E[x] / sqrt(Var[x] + eps)
    # y = scale * x + shift. (mul then add_: torch.addcmul with two broadcast operands
    # takes a slow unvectorised path on CPU.)
    return (input.to(compute) * scale.view(shape)).add_(shift.view(shape)).to(input.dtype)


class _BatchNorm(nn.Module):
    """Shared body of :class:`BatchNorm1d` and :class:`BatchNorm2d` (mirrors torch's ``_BatchNorm``)."""

    _version = 2  # state_dict version 2 added num_batches_tracked (as in torch)
    _accepted = ""  # human-readable accepted shapes, set by subclasses
    _ndims: tuple[int, ...] = ()

    def __init__(self, num_features: int, eps: float = 1e-5, momentum: float | None = 0.1, affine: bool = True,
                 track_running_stats: bool = True, device=None, dtype=None, *, bias: bool = True) -> None:
        factory_kwargs = {"device": device, "dtype": dtype}
        super().__init__()
        self.num_features = num_features
        self.eps = eps
        self.momentum = momentum
        self.affine = affine
        self.track_running_stats = track_running_stats
        if affine:
            # gamma and beta of the paper: one pair per channel / feature map.
            self.weight = nn.Parameter(torch.empty(num_features, **factory_kwargs))
            if bias:
                self.bias = nn.Parameter(torch.empty(num_features, **factory_kwargs))
            else:
                self.register_parameter("bias", None)
        else:
            self.register_parameter("weight", None)
            self.register_parameter("bias", None)
        if track_running_stats:
            # E[x] and Var[x] of Algorithm 2, estimated during training.
            self.register_buffer("running_mean", torch.zeros(num_features, **factory_kwargs))
            self.register_buffer("running_var", torch.ones(num_features, **factory_kwargs))
            self.register_buffer(
                "num_batches_tracked", torch.tensor(0, dtype=torch.long, device=device)
            )
        else:
            self.register_buffer("running_mean", None)
            self.register_buffer("running_var", None)
            self.register_buffer("num_batches_tracked", None)
        self.reset_parameters()

    def reset_running_stats(self) -> None:
        """Running mean 0, running variance 1, no batches tracked (as a fresh module)."""
        if self.track_running_stats:
            self.running_mean.zero_()
            self.running_var.fill_(1)
            self.num_batches_tracked.zero_()

    def reset_parameters(self) -> None:
        # gamma = 1, beta = 0: BN starts as pure normalisation. Learning gamma = sqrt(Var[x])
        # and beta = E[x] would undo it: "the transformation inserted in the network can
        # represent the identity transform" (Sec. 3), which is why gamma and beta exist.
        self.reset_running_stats()
        if self.affine:
            nn.init.ones_(self.weight)
            if self.bias is not None:
                nn.init.zeros_(self.bias)

    def extra_repr(self) -> str:
        """The constructor's arguments, as torch's BatchNorm prints them."""
        return (f"{self.num_features}, eps={self.eps}, momentum={self.momentum}, affine={self.affine}, "
                f"bias={self.bias is not None}, track_running_stats={self.track_running_stats}")

    def _check_input_dim(self, input: Tensor) -> None:
        if input.dim() not in self._ndims:
            raise ValueError(f"{type(self).__name__} expects input of shape {self._accepted}, "
                             f"got input of shape {tuple(input.shape)} ({input.dim()}D)")
        if input.shape[1] != self.num_features:
            raise ValueError(f"{type(self).__name__}({self.num_features}) expects {self.num_features} "
                             f"channels in dim 1, got input of shape {tuple(input.shape)} "
                             f"with {input.shape[1]} channels")

    def _load_from_state_dict(self, state_dict, prefix, local_metadata, strict, missing_keys, unexpected_keys,
                              error_msgs) -> None:
        # Checkpoints written before torch's state_dict version 2 lack num_batches_tracked.
        version = local_metadata.get("version", None)
        if (version is None or version < 2) and self.track_running_stats:
            key = prefix + "num_batches_tracked"
            if key not in state_dict:
                state_dict[key] = (
                    self.num_batches_tracked
                    if self.num_batches_tracked is not None
                    and self.num_batches_tracked.device != torch.device("meta")
                    else torch.tensor(0, dtype=torch.long)
                )
        super()._load_from_state_dict(state_dict, prefix, local_metadata, strict, missing_keys, unexpected_keys,
                                      error_msgs)

    def forward(self, input: Tensor) -> Tensor:
        """Algorithm 1 in training (updating the running statistics), Algorithm 2 in evaluation."""
        self._check_input_dim(input)
        factor = 0.0 if self.momentum is None else self.momentum
        if self.training and self.track_running_stats and self.num_batches_tracked is not None:
            self.num_batches_tracked.add_(1)
            if self.momentum is None:
                # Cumulative average: after t batches every batch weighs 1/t, the paper's E_B.
                factor = 1.0 / float(self.num_batches_tracked)

        # Batch statistics in training; in eval too when there are no running statistics.
        use_batch_stats = self.training or (self.running_mean is None and self.running_var is None)
        # Update the buffers only when tracking, in training.
        pass_buffers = not self.training or self.track_running_stats
        return batch_norm(input, self.running_mean if pass_buffers else None, self.running_var if pass_buffers else None,
                          self.weight, self.bias, use_batch_stats, factor, self.eps)


class BatchNorm1d(_BatchNorm):
    r"""Batch normalisation of ``(N, C)`` or ``(N, C, L)`` input; statistics per channel
    over ``N`` (and ``L``). Drop-in for :class:`torch.nn.BatchNorm1d`.

    .. math:: y = \frac{x - \mu_B}{\sqrt{\sigma_B^2 + \epsilon}} \gamma + \beta

    Args:
        num_features: ``C``, channels: one :math:`(\gamma, \beta)` and one pair of running statistics each.
        eps: :math:`\epsilon` of Algorithm 1, added to the variance. Default 1e-5.
        momentum: weight of the new batch in the running statistics; ``None``: cumulative average. Default 0.1.
        affine: learn :math:`\gamma` (``weight``, starts at 1) and :math:`\beta` (``bias``, starts at 0). Default True.
        track_running_stats: keep running statistics for evaluation (Algorithm 2). Default True.
        device, dtype: of the parameters and buffers; bias: learn :math:`\beta` too (with ``affine``). Default True.

    Shape:
        - Input: ``(N, C)`` or ``(N, C, L)``; in training, more than one value per channel.
        - Output: the same shape (and memory layout) as the input.

    Example::

        >>> bn = BatchNorm1d(84)            # after LeNet's fc1
        >>> y = bn(torch.randn(64, 84))      # training: this batch's statistics
        >>> y.mean(0).abs().max() < 1e-6
        tensor(True)
        >>> bn.eval()(torch.randn(1, 84)).shape   # evaluation: the running statistics
        torch.Size([1, 84])
    """

    _accepted = "(N, C) or (N, C, L)"
    _ndims = (2, 3)


class BatchNorm2d(_BatchNorm):
    r"""Batch normalisation of ``(N, C, H, W)`` input; statistics per feature map over
    ``N, H, W`` (Section 3.2). Drop-in for :class:`torch.nn.BatchNorm2d`.

    Args: as :class:`BatchNorm1d` (``num_features`` is the number of feature maps).

    Shape:
        - Input: ``(N, C, H, W)``, contiguous or channels_last.
        - Output: the same shape and memory layout as the input.

    Example::

        >>> bn = BatchNorm2d(6)              # after LeNet's conv1
        >>> y = bn(torch.randn(64, 6, 28, 28))
        >>> y.shape, sorted(bn.state_dict())
        (torch.Size([64, 6, 28, 28]), ['bias', 'num_batches_tracked', 'running_mean', 'running_var', 'weight'])
    """

    _accepted = "(N, C, H, W)"
    _ndims = (4,)


def compare_with_torch(shape: tuple[int, ...], steps: int = 3, seed: int = 0, **kwargs) -> dict[str, float]:
    """Largest differences between our BN and torch.nn's over ``steps`` training steps and one evaluation.

    Same random gamma, beta and batches; a random linear loss. ``{what: max |ours - torch| / max(1, max |torch|)}``
    for outputs, gradients and running statistics (relative above 1: the gradient of gamma sums m' = N*H*W
    terms, so float32 rounding grows with it). ``kwargs`` go to both constructors.
    """
    generator = torch.Generator().manual_seed(seed)
    kind = "BatchNorm1d" if len(shape) in (2, 3) else "BatchNorm2d"
    ours, theirs = globals()[kind](shape[1], **kwargs), getattr(nn, kind)(shape[1], **kwargs)
    if ours.affine:
        with torch.no_grad():
            ours.weight.copy_(torch.rand(shape[1], generator=generator) + 0.5)
            ours.bias.copy_(torch.randn(shape[1], generator=generator))
    theirs.load_state_dict(ours.state_dict())
    worst: dict[str, float] = {}

    def note(what: str, a: Tensor | None, b: Tensor | None) -> None:
        if a is not None and b is not None:
            scale = max(1.0, b.abs().max().item())
            worst[what] = max(worst.get(what, 0.0), (a - b).abs().max().item() / scale)

    for _ in range(steps):
        x = (3 * torch.randn(shape, generator=generator) + 1).requires_grad_()
        x2 = x.detach().clone().requires_grad_()
        weights = torch.randn(shape, generator=generator)
        y_ours, y_theirs = ours(x), theirs(x2)
        (y_ours * weights).sum().backward()
        (y_theirs * weights).sum().backward()
        note("train output", y_ours, y_theirs)
        note("grad input", x.grad, x2.grad)
        if ours.affine:
            note("grad weight", ours.weight.grad, theirs.weight.grad)
            note("grad bias", ours.bias.grad, theirs.bias.grad)
        note("running mean", ours.running_mean, theirs.running_mean)
        note("running var", ours.running_var, theirs.running_var)
    ours.eval(), theirs.eval()
    x = 3 * torch.randn(shape, generator=generator) + 1
    with torch.no_grad():
        note("eval output", ours(x), theirs(x))
    return worst
