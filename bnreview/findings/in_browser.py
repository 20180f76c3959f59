"""Chapter "Retrain LeNet in your browser": the settings the page states and what the book's own runs say.

The page's numbers (its subset, the replay's length and tolerances) come from :mod:`bnreview.browser`;
the one result the chapter quotes, the book's PyTorch runs at the rate the page suggests trying, is
a comparison over seeds from the learning-rate chapter's sweep, written here.
"""

from __future__ import annotations

from collections.abc import Sequence

from bnreview.findings.fashion import lr_texts, network_labels
from bnreview.findings.wording import sweep_setting
from bnreview.train import DIVERGENCE_WINDOW, History

TRY_LR = 3.0  # the rate the chapter suggests trying with and without BN (the placement chapter's rate)


def browser_findings(lr_runs: dict[tuple[str, float], Sequence[History]]) -> dict:
    """Glue values of the chapter: the page's settings, and the book's runs at ``TRY_LR`` (``lr_runs``: the sweep at that rate)."""
    from bnreview import browser

    without, with_ = network_labels(lr_runs)
    (text,) = lr_texts({key: runs for key, runs in lr_runs.items() if key[1] == TRY_LR}, without, with_)
    return {
        "br_try_lr": f"{TRY_LR:g}",
        "br_book_runs": f"In the book's own runs ({sweep_setting(lr_runs)}), {text}.",
        "br_train": f"{browser.BROWSER_TRAIN:,}", "br_test": f"{browser.BROWSER_TEST:,}",
        "br_sizes": ", ".join(f"{n:,}" for n in browser.BROWSER_SIZES),
        "br_steps": browser.REFERENCE_STEPS, "br_ref_lr": f"{browser.REFERENCE_LR:g}",
        "br_loss_rtol": f"{browser.LOSS_RTOL:g}", "br_bn_atol": f"{browser.BN_ATOL:g}",
        "br_window": DIVERGENCE_WINDOW, "br_batch": browser.reference_config().batch_size,
    }
