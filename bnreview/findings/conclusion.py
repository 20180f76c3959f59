"""Chapter conclusion: the review's questions answered, each chapter's finding in one sentence, the claims ledger."""

from __future__ import annotations

from bnreview import protocol
from bnreview.findings.depth import DepthFindings
from bnreview.findings.ledger import evidence_markdown, ledger_markdown, ledger_rows, summary, verdict_counts

REVIEW_CONCLUSION = ("\"Batch Normalization can allow for larger learning rates, decrease training time, decrease the "
                     "amount of regularization needed and remove the necessity of drop-out layer. The above "
                     "mentionned advantages were not noticed when using the LeNet model [...]\"")


def check_protocol(claims) -> None:
    """Every protocol entry is tested (or said not to be) by some claim of the ledger, and every test is an entry's:
    a ValueError naming what is missing."""
    tested = {t.entry for c in claims for t in c.tests}
    missing = [e.id for e in protocol.ENTRIES if e.id not in tested]
    if missing:
        raise ValueError(f"protocol entries no claim of the ledger tests: {', '.join(missing)}")


def claims_of(found) -> list:
    """A chapter's ledger rows: its typed findings' ``claims``, or the ``"claims"`` of a findings dict."""
    return found["claims"] if isinstance(found, dict) else found.claims


def depth_text(depth, claims) -> str:
    """What the depth chapter adds to "network or data?": BN's advantage per doubling of depth and the verdict of
    depth-trend judged within the chapter (nothing for findings that are not the depth chapter's)."""
    if not isinstance(depth, DepthFindings):
        return ""
    trend = summary([j.verdict for j in ledger_rows(claims) if j.test.entry == "depth-trend"])
    return (f". The depth chapter ({{doc}}`depth`) varies it on sigmoid MLPs of {depth.depths[0]} to "
            f"{depth.depths[-1]} hidden layers: BN's advantage changes by "
            f"{depth.slopes.interval_text(2, ' points per doubling')}, and depth-trend is {trend} there")


def conclusion_findings(chapters: dict[str, dict]) -> dict:
    """The conclusion: the review's questions answered, each chapter's finding in one sentence, the claims ledger.

    ``chapters``: each chapter's findings (``{"motivation": motivation_findings(...), "lenet_bn":
    review_findings(...), "lr_sweep": lr_sweep_findings(...), "paper_mnist": ..., "what_bn_does": ...,
    "regularisation": ..., "fashion": ..., "depth": depth_findings(...), "landscape": landscape_findings(...)}``); the
    keys are the chapters' document names (and "landscape", a section of what_bn_does). Every sentence is theirs.
    """
    review, sweep, reg = chapters["lenet_bn"], chapters["lr_sweep"], chapters["regularisation"]
    rows = [
        ("Does LeNet + BN end more accurate at lr 0.9 after 10 epochs?", "no: \"The overall total test accuracy of "
         "the model is 98%\" for both", f"{review['accuracy_verdict']}: {review['final_compare']}", "lenet_bn"),
        ("Does BN train faster?", "\"not noticed\"", f"{review['epoch1_compare']}; {sweep['speed']}", "lr_sweep"),
        ("Does BN cost time per epoch?", "not measured (it timed its own BN against PyTorch's only)",
         review["time_text"], "lenet_bn"),
        ("Is the review's own BN as good as PyTorch's?", "\"no significant difference in running time and "
         "accuracy\"", review["impl_text"], "lenet_bn"),
        ("Does BN allow larger learning rates?", "\"not noticed\"", sweep["usable_range"], "lr_sweep"),
        ("Does BN regularise, and let dropout go?", "\"not noticed\"", reg["headline"], "regularisation"),
        ("Was \"no advantage\" about the network or the data?", "the network: \"probably\" because LeNet is "
         "shallow", chapters["fashion"]["headline"] + depth_text(chapters["depth"], claims_of(chapters["depth"])),
         "fashion"),
    ]
    table = ["| question | the review | our runs |", "|---|---|---|"]
    table += [f"| {q} | {r} | {ours} ({{doc}}`{doc}`) |".replace("\n", " ") for q, r, ours, doc in rows]
    found = [
        ("motivation", chapters["motivation"]["headline"]),
        ("paper_mnist", chapters["paper_mnist"]["headline"]),
        ("what_bn_does", chapters["what_bn_does"]["headline_noisy"]),
        ("what_bn_does", chapters["what_bn_does"]["headline_batch"]),
        ("what_bn_does", chapters["what_bn_does"]["headline_population"]),
        ("lr_sweep", sweep["effective"]["summary"]),
        ("regularisation", reg["headline"]),
        ("fashion", chapters["fashion"]["headline"]),
    ]
    order = ("baseline", "motivation", "lenet_bn", "lr_sweep", "paper_mnist", "what_bn_does", "regularisation",
             "fashion", "depth", "landscape")
    claims = [c for name in order for c in claims_of(chapters[name])]
    check_protocol(claims)
    rows_judged = ledger_rows(claims)
    by_entry: dict[str, list[str]] = {}
    for j in rows_judged:
        by_entry.setdefault(j.test.entry, []).append(j.verdict)
    wider = summary(by_entry["larger-learning-rates"]) == "supported"
    faster = summary(by_entry["fewer-steps"]) == "supported"
    answer = ("The review's \"not noticed\" holds for what it measured, the final accuracy at lr 0.9"
              if review["final_clear"] == 0 else
              "Even the review's own measure, the final accuracy at lr 0.9, separates the two networks over seeds")
    beyond = [what for what, holds in (("the range of usable learning rates", wider),
                                       ("the speed of training", faster)) if holds]
    answer += (f"; the paper's claims are about {' and '.join(beyond)}, and there LeNet, shallow as it is, shows them "
               "(after correction across the ledger)" if beyond else
               "; on the range of learning rates and the speed of training the ledger's corrected intervals do not "
               "show the paper's advantage either")
    return {"table": "\n".join(table), "found": "\n".join(f"- {s} ({{doc}}`{doc}`)" for doc, s in found),
            "ledger": ledger_markdown(claims), "evidence": evidence_markdown(claims),
            "verdict_counts": verdict_counts(claims), "n_claims": len(rows_judged), "judged": rows_judged,
            "answer": f"{answer}. {chapters['fashion']['headline']}.",
            "review_conclusion": REVIEW_CONCLUSION}
