"""Chapter algorithm: Algorithms 1 and 2, the review's slips, and our BatchNorm against torch.nn.BatchNorm on
random data (``batchnorm.compare_with_torch``).
"""

from __future__ import annotations

from collections.abc import Sequence

ALG_SHAPES = ((64, 84), (64, 6, 28, 28), (64, 120, 1, 1), (2, 3, 5, 5), (8, 4, 16))
ALG_TOLERANCE = 1e-5  # "the same" up to float32 rounding
REVIEW_SLIPS = (
    "its sigma_B is the variance sigma_B^2, not the standard deviation",
    "its Z = gamma W + beta scales and shifts the raw input: Algorithm 1 applies gamma and beta to the normalised "
    "x_hat",
    "its moving average mu_moving = t mu_moving + (1 - t) mu is the TF/Keras convention; PyTorch's momentum is 1 - t",
    "it averages the biased sigma_B; Algorithm 2 uses the unbiased m/(m-1) sigma_B^2 at inference",
    "it lets \"W be the input data\": BN normalises each layer's input in every mini-batch, not the data fed to the "
    "network (the review's own Motivation says as much)",
)


def algorithm_findings(shapes: Sequence[tuple[int, ...]] = ALG_SHAPES, tolerance: float = ALG_TOLERANCE) -> dict:
    """Our BN against torch.nn.BatchNorm on random batches of each shape (outputs, gradients, running
    statistics), the review's slips, "What we learned" and the claim the chapter tests."""
    from bnreview.batchnorm import compare_with_torch

    worst = {shape: max(compare_with_torch(shape).values()) for shape in shapes}
    largest = max(worst.values())
    same = largest < tolerance
    v: dict = {"alg_largest": largest, "alg_n_shapes": len(shapes), "alg_tolerance": tolerance,
               "alg_same": int(same), "alg_slips": "\n".join(f"{i}. {s[0].upper() + s[1:]}."
                                                           for i, s in enumerate(REVIEW_SLIPS, 1))}
    v["alg_match"] = (f"On {len(shapes)} shapes ({'; '.join(map(str, shapes))}), the largest difference between our "
                      f"BatchNorm and torch.nn.BatchNorm in any output, gradient or running statistic is "
                      f"{largest:.1e} (relative to the largest value above 1): "
                      + (f"below {tolerance:g}, float32 rounding" if same else f"above {tolerance:g}"))
    v["claims"] = []
    v["headline"] = v["alg_match"]
    v["learned"] = "\n".join(f"- {s}." for s in (
        f"The review's statement of the algorithm has {len(REVIEW_SLIPS)} slips; the worst, Z = gamma W + beta, "
        "never normalises anything",
        "The paper's Algorithm 2 averages the mini-batch statistics after training, and Sec. 3.1 adds \"Using "
        "moving averages instead, we can track the accuracy of a model as it trains\": PyTorch's exponential "
        "moving averages follow the paper, they do not depart from it",
        v["alg_match"]))
    return v

