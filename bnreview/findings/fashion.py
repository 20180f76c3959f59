"""Chapter "Is MNIST too easy?": the review's experiment on Fashion-MNIST, and d2l's published LeNet as a check.

On MNIST both networks end near 99%, which leaves little room for any difference in final
accuracy. Fashion-MNIST has the same format, size and number of classes and is much harder: if
BN's advantage in accuracy shows there and not on MNIST, the review's "no advantage" was about
the data, not about the depth of the network.
"""

from __future__ import annotations

from collections.abc import Sequence

from bnreview.data import DATASETS
from bnreview.findings.core import Comparison, compare, epoch_accuracy, final_accuracy, over_runs, train_minutes, \
    usable_range_text
from bnreview.findings.ledger import Claim, Test
from bnreview.findings.wording import lenet_setting, listing, runs_setting, sweep_setting
from bnreview.train import History

CLASSES = DATASETS["fashion-mnist"].classes


def network_labels(results: dict[tuple[str, float], Sequence[History]]) -> tuple[str, str]:
    """The sweep's labels of the network without BN and of the one with BN, read from the runs' configs."""
    without = next(v for (v, _), hs in results.items() if not hs[0].config["bn"])
    with_ = next(v for (v, _), hs in results.items() if hs[0].config["bn"])
    return without, with_


def per_class(no_bn: Sequence[History], bn: Sequence[History]) -> dict[str, Comparison]:
    """``{class name: BN against no BN}`` on each class's final test accuracy (in %)."""
    return {name: compare(over_runs(no_bn, lambda h, k=k: 100 * h.per_class_acc[k]),
                          over_runs(bn, lambda h, k=k: 100 * h.per_class_acc[k]))
            for k, name in enumerate(CLASSES)}


def per_class_text(classes: dict[str, Comparison]) -> str:
    """Which classes BN helps and which it hurts (the 95% interval of the paired difference excludes zero)."""
    ahead = sorted((c for c in classes.items() if c[1].shown and c[1].difference > 0), key=lambda c: -c[1].difference)
    behind = sorted((c for c in classes.items() if c[1].shown and c[1].difference < 0), key=lambda c: c[1].difference)
    def names(items):
        return ", ".join(f"{name} ({c.difference:+.1f})" for name, c in items) or "none"
    rest = len(classes) - len(ahead) - len(behind)
    return (f"BN is ahead on {len(ahead)} of {len(classes)} classes ({names(ahead)}) and behind on "
            f"{len(behind)} ({names(behind)}); on the other {rest} the interval includes zero (difference of the "
            f"mean per-class test accuracy, in points; 95% intervals of the paired differences, uncorrected)")


def lr_texts(results: dict[tuple[str, float], Sequence[History]], without: str, with_: str) -> list[str]:
    """One comparison of the final test accuracy per learning rate of the sweep, ``with_`` against ``without``."""
    lrs = sorted({lr for _, lr in results})
    texts = []
    for lr in lrs:
        c = compare(final_accuracy(results[(without, lr)]), final_accuracy(results[(with_, lr)]))
        diverged = sum(h.diverged for h in results[(without, lr)])
        note = f" ({diverged} of {len(results[(without, lr)])} seeds without BN diverged)" if diverged else ""
        texts.append(f"at lr {lr:g}, {c.text('without BN', 'with BN')}{note}")
    return texts


def d2l_texts(runs: dict[str, Sequence[History]], published: dict[str, float]) -> dict[str, str]:
    """For each of d2l's two settings, the book's LeNet's final test accuracy against the published one."""
    texts = {}
    for name, hs in runs.items():
        ours, theirs = final_accuracy(hs), 100 * published[name]
        if ours.lo <= theirs <= ours.hi:
            relation = "d2l's published value lies within the range of our seeds"
        else:
            relation = (f"{abs(ours.mean - theirs):.1f} points {'above' if ours.mean > theirs else 'below'} "
                        "d2l's published value, outside the range of our seeds")
        c = hs[0].config
        texts[name] = (f"{name} (lr {c['lr']:g}): the book's LeNet ends at {ours.text()} against d2l's "
                       f"{theirs:.1f}%: {relation}")
    return texts


def d2l_sign_text(runs: dict[str, Sequence[History]], published: dict[str, float]) -> str:
    """Whether BN's advantage at d2l's settings has the sign d2l publishes, in our runs."""
    ours = compare(final_accuracy(runs["no BN"]), final_accuracy(runs["BN"]))
    theirs = 100 * (published["BN"] - published["no BN"])
    same = ours.shown and (ours.difference > 0) == (theirs > 0)
    return (f"{ours.text('without BN', 'with BN')}; d2l's published difference is {theirs:+.1f} points, so our runs "
            + ("agree with it in sign" if same else "do not show its sign"))


def answer(fashion: Comparison, mnist: Comparison) -> str:
    """Was the review's "no advantage" about the network or the data? One sentence, generated from both gaps."""
    gaps = (f"BN's gap in final test accuracy is {fashion.difference:+.2f} points on Fashion-MNIST "
            f"({fashion.direction}) against {mnist.difference:+.2f} on MNIST ({mnist.direction})")
    if fashion.shown and fashion.difference > 0 and not mnist.shown:
        return (f"{gaps}: with the same LeNet and the same settings, BN's advantage in accuracy appears once the task "
                "is harder. So the review's \"no advantage\" was at least partly about the data (MNIST leaves little "
                "room above 98%); whether depth matters as well, these runs do not say")
    if fashion.shown and fashion.difference > 0:
        return f"{gaps}: BN is ahead on both data sets, and by more on the harder one"
    if fashion.shown:
        return f"{gaps}: on the harder task BN ends below, so the data does not explain the review's finding"
    return (f"{gaps}: even on the harder task the interval of the difference includes zero, so the data alone "
            "does not explain the review's \"no advantage\" in final accuracy at these settings")


def fashion_findings(review: dict[str, Sequence[History]], sweep: dict[tuple[str, float], Sequence[History]],
                     d2l: dict[str, Sequence[History]], d2l_published: dict[str, float],
                     mnist_review: dict[str, Sequence[History]]) -> dict:
    """Everything the Fashion-MNIST chapter states: ``review`` and ``mnist_review`` are ``{"no BN": runs, "BN":
    runs}`` at the review's settings, ``sweep`` the learning-rate runs ``{(network, lr): runs}``, ``d2l`` the
    runs at d2l's settings ``{"no BN": runs, "BN": runs}`` with d2l's published accuracies."""
    no_bn, bn = review["no BN"], review["BN"]
    final = compare(final_accuracy(no_bn), final_accuracy(bn))
    mnist = compare(final_accuracy(mnist_review["no BN"]), final_accuracy(mnist_review["BN"]))
    epoch1 = compare(epoch_accuracy(no_bn, 1), epoch_accuracy(bn, 1))
    classes = per_class(no_bn, bn)
    without, with_ = network_labels(sweep)
    usable = usable_range_text(sweep, without, with_)
    headline = answer(final, mnist)
    everything = [h for hs in (*review.values(), *sweep.values(), *d2l.values()) for h in hs]
    claim = Claim(
        topic="higher accuracy with BN on a harder task (Fashion-MNIST, LeNet, lr 0.9, 10 epochs)",
        paper="\"Batch Normalization helps the network train faster and achieve higher accuracy\" (Figure 1(a))",
        review="BN's advantages \"were not noticed when using the LeNet model\", \"probably\" because it is shallow",
        evidence=f"{final.text('without BN', 'with BN')} ({runs_setting(bn)}); on MNIST at the same settings "
                 f"{mnist.difference:+.2f} points ({mnist.direction})",
        tests=(Test("harder-task", final),), chapter="fashion")
    return {
        "setting": f"{DATASETS['fashion-mnist'].display}, {lenet_setting(bn)}",
        "sweep_setting": f"{DATASETS['fashion-mnist'].display}, {sweep_setting(sweep)}",
        "d2l_setting": f"{DATASETS['fashion-mnist'].display}, LeNet (sigmoid), plain SGD, "
                       f"{runs_setting(next(iter(d2l.values())))}",
        "final_compare": final.text("without BN", "with BN"), "final_clear": int(final.shown),
        "epoch1_compare": epoch1.text("without BN", "with BN", what="test accuracy after one epoch"),
        "mnist_compare": mnist.text("without BN", "with BN"),
        "per_class": per_class_text(classes), "per_class_comparisons": classes,
        "usable_range": usable,
        "lr_compare": "; ".join(lr_texts(sweep, without, with_)), "lrs": listing(sorted({lr for _, lr in sweep})),
        **{f"d2l_{'bn' if name == 'BN' else 'nobn'}": text for name, text in d2l_texts(d2l, d2l_published).items()},
        "d2l_sign": d2l_sign_text(d2l, d2l_published),
        "headline": headline, "claims": [claim],
        "minutes": f"{train_minutes(everything):.0f}", "n_runs": len(everything),
    }
