"""The loss landscape along the gradient (Santurkar et al. 2018): the probe, the replay, the findings."""

import math

import pytest
import torch
import torch.nn.functional as F

from bnreview import experiments as ex
from bnreview import findings as fd
from bnreview.cache import cached_train
from bnreview.config import TrainConfig
from bnreview.models import LeNet


def test_the_probe_measures_the_line_and_leaves_the_network_as_it_was():
    torch.manual_seed(0)
    model = LeNet(bn="all").train()
    x, y = torch.randn(16, 1, 32, 32), torch.randint(0, 10, (16,))
    F.cross_entropy(model(x), y).backward()
    state = {k: v.clone() for k, v in model.state_dict().items()}
    grads = [p.grad.clone() for p in model.parameters()]
    found = ex.probe_line(model, x, y, lr=0.1, multiples=(0.5, 1.0, 4.0))
    assert all(torch.equal(v, state[k]) for k, v in model.state_dict().items())  # weights and running statistics
    assert all(torch.equal(p.grad, g) for p, g in zip(model.parameters(), grads))
    assert found["loss_range"] > 0 and found["gradient_change"] > 0 and found["beta"] > 0
    # by hand at 4 x lr: the largest step along -g
    g = torch.cat([p.grad.reshape(-1) for p in model.parameters()])
    with torch.no_grad():
        for p in model.parameters():
            p -= 0.4 * p.grad
    far = F.cross_entropy(model(x), y).item()
    assert found["loss_range"] >= abs(far - F.cross_entropy(model(x), y).item()) and math.isfinite(far)
    assert g.norm() > 0


def test_a_replay_retraces_the_cached_run_and_probes_every_few_steps():
    config = TrainConfig(lr=0.1, bn="all", epochs=1, batch_size=32, device="cpu")
    run = cached_train(config)
    found = ex.measure_run(run, every=4)
    assert found["seed"] == 0 and found["steps"] == list(range(4, len(run.step_loss) + 1, 4))
    assert all(len(found[m]) == len(found["steps"]) for m in ex.MEASURES)
    again = ex.landscape(run)  # cached beside the run: the same numbers
    assert again == ex.landscape(run) and again["steps"] == found["steps"][: len(again["steps"])] or again
    other = cached_train(TrainConfig(lr=0.2, bn="all", epochs=1, batch_size=32, device="cpu"))
    other.step_loss[3] += 1.0  # a run the replay cannot retrace
    with pytest.raises(RuntimeError, match="did not retrace the cached run"):
        ex.measure_run(other, every=4)


def measured(seed: int, scale: float) -> dict:
    return {"seed": seed, "steps": [50, 100], "loss_range": [scale, scale * (1 + 0.01 * seed)],
            "gradient_change": [10 * scale, 10 * scale], "beta": [1.0, 1.0]}


def test_bn_compared_with_no_bn_on_each_measure_paired_by_seed():
    runs = {("without BN", lr): [measured(s, 1.0) for s in range(10)] for lr in (0.1, 0.9)}
    runs |= {("with BN", lr): [measured(s, 0.1) for s in range(10)] for lr in (0.1, 0.9)}
    f = fd.landscape_findings(runs)
    assert f.lrs == (0.1, 0.9) and f.n_seeds == 10 and f.n_probes == 2 and f.every == 50
    c = f.comparisons[0.9, "loss_range"]
    assert c.paired and c.difference == pytest.approx(math.log(0.1))
    assert f.ratio(0.9, "gradient_change").startswith("x0.1")
    judged = {j.test.name: j.verdict for j in fd.judge(f.claim.tests)}
    assert judged == {"landscape-loss (lr 0.1)": "supported", "landscape-loss (lr 0.9)": "supported",
                      "landscape-gradient (lr 0.1)": "supported", "landscape-gradient (lr 0.9)": "supported"}
    table = fd.landscape_table(f)
    assert table.count("\n") == 7 and "| range of the loss along the gradient | 0.9 | x0.1 (95% CI" in table
    assert "| effective beta-smoothness | 0.1 | x1 (95% CI x1 to x1) | no protocol entry: shown only |" in table
    blown = dict(runs)
    blown["without BN", 0.9] = [{**measured(s, 1.0), "loss_range": [1.0, math.inf]} for s in range(10)]
    f = fd.landscape_findings(blown)
    assert f.comparisons[0.9, "loss_range"].interval is None  # a probe that blew up: no interval
    assert {j.test.name: j.verdict for j in fd.judge(f.claim.tests)}["landscape-loss (lr 0.9)"] == "inconclusive"
