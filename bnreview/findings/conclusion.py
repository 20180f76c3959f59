"""Chapter conclusion: the review's questions answered, each chapter's finding in one sentence, the claims ledger."""

from __future__ import annotations

from bnreview.findings.ledger import ledger_markdown, verdict_counts

REVIEW_CONCLUSION = ("\"Batch Normalization can allow for larger learning rates, decrease training time, decrease the "
                     "amount of regularization needed and remove the necessity of drop-out layer. The above "
                     "mentionned advantages were not noticed when using the LeNet model [...]\"")


def conclusion_findings(chapters: dict[str, dict]) -> dict:
    """The conclusion: the review's questions answered, each chapter's finding in one sentence, the claims ledger.

    ``chapters``: each chapter's findings (``{"motivation": motivation_findings(...), "lenet_bn":
    review_findings(...), "lr_sweep": lr_sweep_findings(...), "paper_mnist": ..., "what_bn_does": ...,
    "regularisation": ..., "fashion": ...}``); the keys are the chapters' document names. Every sentence is theirs.
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
         "shallow", chapters["fashion"]["headline"], "fashion"),
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
    claims = [c for name in ("motivation", "lenet_bn", "lr_sweep", "paper_mnist", "what_bn_does", "regularisation",
                             "fashion")
              for c in chapters[name]["claims"]]
    by_topic = {c.topic: c for c in claims}
    wider = by_topic["larger learning rates"].verdict == "supported"
    faster = by_topic["faster training"].verdict in ("supported", "mixed")
    answer = ("The review's \"not noticed\" holds for what it measured, the final accuracy of one run at one "
              "learning rate" if review["final_clear"] == 0 else
              "Even the review's own measure, the final accuracy at lr 0.9, separates the two networks over seeds")
    beyond = [what for what, holds in (("the range of usable learning rates", wider),
                                       ("the speed of training", faster)) if holds]
    answer += (f"; the paper's claims are about {' and '.join(beyond)}, and there LeNet, shallow as it is, shows them. "
               "So the review's explanation, that the network is too shallow, is not needed for what it saw"
               if beyond else "; on the range of learning rates and the speed of training our runs do not show the "
               "paper's advantage either")
    return {"table": "\n".join(table), "found": "\n".join(f"- {s} ({{doc}}`{doc}`)" for doc, s in found),
            "ledger": ledger_markdown(claims), "verdict_counts": verdict_counts(claims), "n_claims": len(claims),
            "answer": f"{answer}. {chapters['fashion']['headline']}.",
            "review_conclusion": REVIEW_CONCLUSION}
