"""The registry of runs: every chapter's runs listed without training, merged, costed, checked against a build's log."""

import json

import pytest

from bnreview import experiments as ex
from bnreview import runs
from bnreview.cache import cache_key
from bnreview.cli import main
from bnreview.config import TrainConfig
from bnreview.models import MLP_LAYERS
from bnreview.train import History
from conftest import write_fashion, write_mnist


@pytest.fixture(autouse=True)
def both_data_sets(tmp_path_factory, monkeypatch):
    """The registry keys every run on its data: MNIST and Fashion-MNIST (tiny) in one root."""
    root = tmp_path_factory.mktemp("both")
    monkeypatch.setenv("BNREVIEW_DATA", str(write_fashion(write_mnist(root))))


def test_every_chapter_lists_its_runs_without_training(forbid_training):
    forbid_training()
    for chapter in runs.chapter_names():
        configs, pending = runs.plans(chapter)
        assert all(isinstance(c, TrainConfig) for c in configs)
        assert chapter in ("algorithm", "protocol") or configs  # these two chapters train nothing
    listed, pending = runs.registry()
    assert len({r.key for r in listed}) == len(listed)  # each run once
    assert sorted((chapter, p.waits_for) for chapter, p in pending) == [
        ("conclusion", "the pilot's 12 runs"), ("conclusion", "the pilot's 36 runs"),  # regularisation's, the MLP's
        ("conclusion", "the pilot's 40 runs"), ("conclusion", "the pilot's 40 runs"),  # the depth chapter's two families
        ("conclusion", "the pilot's 8 runs"), ("conclusion", "the pilot's 8 runs"),
        ("depth", "the pilot's 40 runs"), ("depth", "the pilot's 40 runs"), ("fashion", "the pilot's 8 runs"),
        ("lenet_bn", "the pilot's 8 runs"), ("paper_mnist", "the pilot's 36 runs"), ("regularisation", "the pilot's 12 runs")]
    assert not any(r.cached for r in listed)


def test_a_run_several_chapters_read_is_listed_once_with_each_of_them():
    listed, _ = runs.registry()
    review_bn = ex.review_plan()["BN"][0]
    (run,) = [r for r in listed if r.key == cache_key(review_bn)]
    assert run.chapters == ("motivation", "lenet_bn", "paper_mnist", "fashion", "conclusion")
    only, pending = runs.registry(["regularisation"])  # the pilot, until it is trained
    assert {r.key for r in only} == {cache_key(c) for cs in ex.reg_pilot_plan().values() for c in cs}
    assert pending[0][1].what.startswith("the four variants, the decay schedules and the L2 pilot at the rates")


def test_the_chapters_runs_are_the_plans_runs(monkeypatch, tmp_path):
    """What a chapter's experiments function trains is exactly what its plan lists (the run log says)."""
    monkeypatch.setenv("BNREVIEW_QUICK", "1")
    log = tmp_path / "runs.jsonl"
    monkeypatch.setenv("BNREVIEW_RUN_LOG", str(log))
    ex.regularisation_runs()
    ex.l2_runs()
    ex.decay_runs()
    ex.torch_bn_runs()
    logged = [json.loads(line)["key"] for line in log.read_text().splitlines()]
    configs, pending = runs.plans("regularisation")  # every stage, now that each pilot is cached
    keys = list(dict.fromkeys(cache_key(c) for c in configs))  # the L2 pilot at weight decay 0 is a chosen run
    # quick (seed 0 only): 4 variants at 2 rates (each chosen run is one of them); 2 networks x 2 decays; the L2
    # pilot's 2 new runs (at weight decay 0 it is the chosen run); the L2 grid's runs are the pilot's
    assert not pending and len(configs) == 8 + 4 + 4 + 4 + 4 and len(keys) == 8 + 4 + 2
    assert set(logged) == set(keys) | {cache_key(ex.torch_bn_plan()["torch BN"][0])}  # each stage reads the pilots again
    assert runs.unlisted(log) == []
    assert all(r.cached for r in runs.registry(["regularisation"])[0])


def test_a_logged_run_the_registry_lacks_is_reported(tmp_path):
    log = tmp_path / "runs.jsonl"
    stray = TrainConfig(lr=0.123, epochs=1)
    listed = ex.review_plan()["BN"][0]
    log.write_text("".join(json.dumps({"hit": True, "key": cache_key(c), "run": c.describe()}) + "\n"
                           for c in (listed, stray, stray)))
    assert runs.unlisted(log) == [stray.describe()]


def test_the_mlp_runs_are_listed_once_the_pilot_is_trained(monkeypatch):
    """Until every pilot run is cached the chapter says what it waits for; then the chosen runs appear."""
    configs, pending = runs.plans("paper_mnist")
    assert pending and len(configs) == 12 * ex.PILOT_SEEDS + 2 * len(ex.SEEDS)  # the pilot and the review's runs
    best = {0.1: 0.90, 0.5: 0.95, 2.0: 0.93}  # validation accuracy per lr: 0.5 chosen, 2.0 the runner-up

    def cached(config):
        return History(config=config.to_dict(), val_acc=[best[config.lr]], test_acc=[0.5])

    monkeypatch.setattr(runs, "load_cached", cached)
    configs, pending = runs.plans("paper_mnist")
    assert not pending
    chosen = {(c.lr, c.bn, c.seed) for c in configs if c.model == "mlp" and c.steps == ex.MLP_STEPS}
    # both networks at 0.5 over the seeds (BN's own best is 0.5 too: the same runs), seed 0 of both at 2.0
    assert chosen == ({(0.5, bn, s) for bn in ((), MLP_LAYERS) for s in ex.SEEDS}
                      | {(2.0, (), 0), (2.0, MLP_LAYERS, 0)})
    init = {(c.init_std, c.lr, c.bn, c.seed) for c in configs if c.model == "mlp" and c.steps == ex.MLP_PILOT_STEPS}
    assert {(std, 0.5, bn, s) for std in ex.MLP_INIT_STDS for bn in ((), MLP_LAYERS) for s in ex.SEEDS} <= init


def test_expected_cost_follows_the_work():
    review = ex.review_plan()["no BN"][0]
    assert runs.expected_seconds(review) > runs.expected_seconds(ex.sweep_config(0.9))  # 10 epochs against 1
    assert runs.expected_seconds(ex.review_plan()["BN"][0]) > runs.expected_seconds(review)  # BN costs
    mlp = ex.paper_mlp_config()
    assert runs.expected_seconds(mlp) > runs.expected_seconds(ex.mlp_pilot_config(0.5, 0.05))


def test_runs_command_lists_and_checks(capsys, tmp_path):
    assert main(["runs", "--chapter", "regularisation"]) == 0
    out = capsys.readouterr().out
    assert out.count("\nmissing ") + out.startswith("missing ") == 12 and "12 runs: 0 cached, 12 missing" in out
    log = tmp_path / "runs.jsonl"
    log.write_text(json.dumps({"hit": False, "key": "0" * 24, "run": "a run nobody declared"}) + "\n")
    assert main(["runs", "--check-log", str(log)]) == 1
    assert "not in the registry: a run nobody declared" in capsys.readouterr().out


@pytest.mark.parametrize("argv, expected", [(["runs", "--chapter", "nope"], "unknown chapter 'nope'"),
                                             (["precompute", "--workers", "0"], "--workers=0 is invalid")])
def test_bad_input_is_one_line(capsys, argv, expected):
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert expected in err and len(err.strip().splitlines()) == 1
