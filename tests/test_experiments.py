"""The experiments beyond the review: new config fields, the paper's MLP, noisy BN, sweeps and Algorithm 2."""

import math

import pytest
import torch

from bnreview import experiments as ex
from bnreview import findings as fd
from bnreview.cache import cached_train
from bnreview.models import (BN_LAYERS, MLP_LAYERS, BNNoise, ConvNet, LeNet, PaperMLP, init_gaussian, pool2,
                             resolve_bn_layers)
from bnreview.config import TrainConfig, for_profile
from bnreview.train import History, train

TINY = dict(batch_size=32, device="cpu")


# --- models -------------------------------------------------------------------------------

def test_paper_mlp_shape_parameters_and_record():
    model = PaperMLP(bn="all")
    assert model.bn_layers == MLP_LAYERS and model.fc1.bias is None and model.out.bias is not None
    record = {}
    logits = model(torch.randn(8, 1, 28, 28), record)
    assert logits.shape == (8, 10)
    assert set(record) == {"fc1", "fc2", "fc3"} and record["fc3"].shape == (8, 100)
    plain = PaperMLP()
    assert sum(p.numel() for p in plain.parameters()) == 784 * 100 + 100 + 2 * (100 * 100 + 100) + 1010
    assert isinstance(plain.act, torch.nn.Sigmoid)


def test_a_deeper_mlp_has_depth_hidden_layers_and_the_paper_s_is_unchanged():
    torch.manual_seed(0)
    paper = PaperMLP(bn="all")
    torch.manual_seed(0)
    three = PaperMLP(bn="all", depth=3)
    assert all(torch.equal(a, b) for a, b in zip(paper.state_dict().values(), three.state_dict().values()))
    deep = PaperMLP(bn="all", depth=5)
    assert deep.bn_layers == ("fc1", "fc2", "fc3", "fc4", "fc5") and deep.fc5.in_features == 100
    record = {}
    assert deep(torch.randn(4, 1, 28, 28), record).shape == (4, 10) and len(record) == 5
    config = TrainConfig(lr=0.1, model="mlp", bn="all", hidden_layers=5)
    assert config.bn == deep.bn_layers and len(config.build_model().bn) == 5
    assert "mlp (sigmoid, 5 hidden layers)" in TrainConfig(lr=0.1, model="mlp", activation="sigmoid",
                                                           hidden_layers=5).describe()
    with pytest.raises(ValueError, match="depth=0 is invalid; accepted: an integer >= 1"):
        PaperMLP(depth=0)


def test_the_convnet_stacks_depth_tanh_convolutions_with_bn_before_each():
    model = ConvNet(bn="all", depth=5)
    assert model.bn_layers == ("conv1", "conv2", "conv3", "conv4", "conv5") and model.conv1.bias is None
    assert model.conv1.in_channels == 1 and model.conv5.in_channels == model.conv5.out_channels == 8
    assert isinstance(model.act, torch.nn.Tanh) and model.out.in_features == 8 * 7 * 7
    record = {}
    assert model(torch.randn(4, 1, 28, 28), record).shape == (4, 10)
    assert record["conv1"].shape == (4, 8, 28, 28) and record["conv5"].shape == (4, 8, 14, 14)
    plain = ConvNet(depth=2)
    assert plain.conv2.bias is not None and not plain.bn
    assert sum(p.numel() for p in plain.parameters()) == (9 * 8 + 8) + (72 * 8 + 8) + 392 * 10 + 10
    config = TrainConfig(lr=0.1, model="convnet", bn="all", hidden_layers=16)
    assert config.input_size == 28 and len(config.build_model().bn) == 16
    assert "convnet (tanh, 16 convolutions)" in config.describe() and "BN on all 16 layers" in config.describe()
    with pytest.raises(ValueError, match="dropout=0.5 is invalid; accepted: 0 for the ConvNet"):
        TrainConfig(lr=0.1, model="convnet", dropout=0.5)
    with pytest.raises(ValueError, match="unknown BN layer 'fc1'"):
        TrainConfig(lr=0.1, model="convnet", bn="fc1")
    with pytest.raises(ValueError, match="depth=0 is invalid; accepted: an integer >= 1"):
        ConvNet(depth=0)


def test_a_convnet_trains_probes_its_layers_and_repeats_its_numbers():
    config = TrainConfig(lr=0.3, model="convnet", bn="all", hidden_layers=3, steps=24, probe_every=12, **TINY)
    history = train(config, progress=False)
    assert history.final_test_acc > 0.3 and history.probe_steps == [0, 12, 24]
    assert set(history.probes) == {"conv1", "conv2", "conv3"} and "conv3.weight" in history.state_dict
    assert train(config, progress=False).step_loss == history.step_loss


def test_the_depth_chapter_runs_both_families_at_their_own_length():
    conv = ex.depth_config(8, "all", 0.3, "convnet")
    assert (conv.model, conv.activation, conv.steps, conv.hidden_layers) == ("convnet", "tanh", 3_000, 8)
    mlp = ex.depth_config(8, "all", 0.3)
    assert (mlp.model, mlp.activation, mlp.steps) == ("mlp", "sigmoid", 10_000)
    assert {c.model for hs in ex.depth_pilot_plan("convnet").values() for c in hs} == {"convnet"}
    with pytest.raises(ValueError, match="unknown family 'cnn'; accepted: 'mlp', 'convnet'"):
        ex.depth_config(8, "all", 0.3, "cnn")


def test_the_depth_pilot_chooses_each_network_s_rate_at_each_depth_on_validation():
    def run(val: float, test: float, diverged: bool = False) -> History:
        return History(config={}, val_acc=[val], test_acc=[test], diverged=diverged)

    pilot = {(2, 0.1, "without BN"): [run(0.90, 0.99)], (2, 1.0, "without BN"): [run(0.95, 0.90)],
             (2, 0.1, "with BN"): [run(0.96, 0.90)], (2, 1.0, "with BN"): [run(0.99, 0.90, diverged=True)],
             (8, 0.1, "without BN"): [run(0.50, 0.50)], (8, 1.0, "without BN"): [run(0.10, 0.10)],
             (8, 0.1, "with BN"): [run(0.93, 0.93)], (8, 1.0, "with BN"): [run(0.97, 0.97)]}
    choice = ex.depth_choice(pilot)  # on validation, never the test set; a diverged run counts as 0
    assert choice == {(2, "with BN"): 0.1, (2, "without BN"): 1.0, (8, "with BN"): 1.0, (8, "without BN"): 0.1}
    plan = ex.depth_plan(choice)
    assert [c.seed for c in plan[8, "with BN"]] == list(ex.seeds())
    config = plan[8, "with BN"][0]
    assert (config.hidden_layers, config.lr, config.bn, config.val_size) == (8, 1.0, MLP_LAYERS + (
        "fc4", "fc5", "fc6", "fc7", "fc8"), ex.val_size())
    assert config == ex.depth_config(8, "all", 1.0)  # seed 0's run is the pilot's: one cache entry
    assert set(ex.depth_pilot_plan()) == {(d, lr, n) for d in ex.DEPTHS for lr in ex.DEPTH_LRS
                                         for n in ("without BN", "with BN")}


def test_bn_layer_names_depend_on_the_model():
    assert resolve_bn_layers("all", MLP_LAYERS) == ("fc1", "fc2", "fc3")
    assert resolve_bn_layers("fc3,fc1", MLP_LAYERS) == ("fc1", "fc3")
    with pytest.raises(ValueError, match="unknown BN layer 'conv1'"):
        resolve_bn_layers("conv1", MLP_LAYERS)
    assert TrainConfig(lr=0.1, model="mlp", bn="all").bn == MLP_LAYERS
    assert TrainConfig(lr=0.1, bn="all").bn == BN_LAYERS
    with pytest.raises(ValueError, match="model='resnet' is invalid"):
        TrainConfig(lr=0.1, model="resnet")


def test_init_gaussian_sets_the_weight_scale_and_zeroes_biases():
    torch.manual_seed(0)
    model = init_gaussian(PaperMLP(), 0.05)
    assert abs(model.fc1.weight.std().item() - 0.05) < 0.002
    assert model.fc1.bias.abs().max() == 0
    config = TrainConfig(lr=0.1, model="mlp", init_std=0.01)
    torch.manual_seed(0)
    assert abs(config.build_model().fc2.weight.std().item() - 0.01) < 0.001


def test_bn_noise_changes_every_step_is_seeded_and_off_in_eval():
    noise = BNNoise(1.0, seed=3, index=1)
    x = torch.randn(64, 5)
    a, b = noise(x), noise(x)
    assert not torch.equal(a, b) and int(noise.step) == 2
    again = BNNoise(1.0, seed=3, index=1)
    assert torch.equal(again(x), a)  # same seed, same step: same noise
    # per channel, a shift of mean up to `strength` and a rescaled spread
    shifts = torch.stack([(BNNoise(1.0, seed=s)(x) - x).mean(0) for s in range(20)])
    assert shifts.abs().max() < 1.0 + 0.6 and shifts.std() > 0.2
    noise.eval()
    assert torch.equal(noise(x), x)
    with pytest.raises(ValueError):
        BNNoise(0.0)


def test_noisy_lenet_keeps_the_plain_state_dict_without_noise():
    assert set(LeNet(bn="all").state_dict()) == set(LeNet(bn="all", bn_noise=0.0).state_dict())
    noisy = LeNet(bn="all", bn_noise=0.5)
    assert set(noisy.noise) == set(BN_LAYERS)
    record_plain, record_noisy = {}, {}
    torch.manual_seed(0)
    x = torch.randn(16, 1, 32, 32)
    plain = LeNet(bn="all")
    noisy.load_state_dict({**plain.state_dict(), **{k: v for k, v in noisy.state_dict().items() if "noise" in k}})
    plain(x, record_plain), noisy(x, record_noisy)
    assert not torch.allclose(record_plain["fc1"], record_noisy["fc1"])
    noisy.load_state_dict({**plain.state_dict(), **{k: v for k, v in noisy.state_dict().items() if "noise" in k}})
    plain.eval(), noisy.eval()
    assert torch.allclose(plain(x), noisy(x))  # no noise at inference


# --- config and training -------------------------------------------------------------------

@pytest.mark.parametrize("kwargs, message", [
    ({"init_std": 0}, "init_std=0"),
    ({"steps": 0}, "steps=0"),
    ({"eval_every": -1}, "eval_every=-1"),
    ({"bn_noise": -1.0}, "bn_noise=-1.0"),
    ({"bn_noise": 0.5}, "bn_noise=0.5 is invalid"),  # noise without BN
])
def test_new_fields_are_validated(kwargs, message):
    with pytest.raises(ValueError) as caught:
        TrainConfig(lr=0.1, **kwargs)
    assert message in str(caught.value)


def test_new_fields_change_the_description_and_the_cache_key():
    from bnreview.cache import cache_key

    base = TrainConfig(lr=0.1)
    for change in ({"model": "mlp"}, {"init_std": 0.1}, {"steps": 10}, {"eval_every": 5},
                   {"bn": "all", "bn_noise": 1.0}):
        assert cache_key(TrainConfig(lr=0.1, **change)) != cache_key(base)
    text = TrainConfig(lr=0.5, model="mlp", activation="sigmoid", steps=500, init_std=0.05).describe()
    assert text.startswith("mlp (sigmoid)") and "500 steps" in text and "N(0, 0.05^2)" in text
    assert "noise 1" in TrainConfig(lr=0.1, bn="all", bn_noise=1.0).describe()


def test_steps_and_eval_every():
    history = train(TrainConfig(lr=0.3, steps=20, eval_every=8, **TINY), progress=False)
    assert len(history.step_loss) == 20 and history.steps_per_epoch == 16
    assert len(history.test_acc) == 2  # one full epoch, one partial
    assert history.eval_steps == [0, 8, 16] and len(history.eval_acc) == len(history.eval_loss) == 3
    assert history.eval_acc[0] < 0.5 < history.eval_acc[-1]
    first = history.steps_to(0.5)
    assert first in (8, 16) and history.steps_to(1.01) is None


def test_eval_every_does_not_change_the_run():
    plain = train(TrainConfig(lr=0.3, bn="all", epochs=1, **TINY), progress=False)
    evaluated = train(TrainConfig(lr=0.3, bn="all", epochs=1, eval_every=4, **TINY), progress=False)
    assert plain.step_loss == evaluated.step_loss


def test_mlp_trains_on_28x28_and_probes_its_hidden_layers():
    history = train(TrainConfig(lr=0.5, model="mlp", activation="sigmoid", bn="all", steps=32, probe_every=16,
                                init_std=0.05, **TINY), progress=False)
    assert history.final_test_acc > 0.5
    assert set(history.probes) == {"fc1", "fc2", "fc3"} and history.probe_steps == [0, 16, 32]
    assert "fc3.weight" in history.state_dict and history.config["model"] == "mlp"


def test_noisy_bn_run_is_deterministic_and_probing_leaves_it_unchanged():
    config = TrainConfig(lr=0.3, bn="all", bn_noise=1.0, epochs=1, **TINY)
    a = train(config, progress=False)
    b = train(TrainConfig(lr=0.3, bn="all", bn_noise=1.0, epochs=1, probe_every=4, **TINY), progress=False)
    assert a.step_loss == b.step_loss
    assert a.step_loss != train(TrainConfig(lr=0.3, bn="all", epochs=1, **TINY), progress=False).step_loss


def test_quick_profile_shrinks_steps_and_evaluations(monkeypatch):
    config = TrainConfig(lr=0.5, steps=50_000, eval_every=500, batch_size=60, probe_every=250)
    assert for_profile(config) is config
    monkeypatch.setenv("BNREVIEW_QUICK", "1")
    quick = for_profile(config)
    assert quick.steps == 34 and quick.eval_every == 25 and quick.probe_every == 5  # one pass over 2,000 images
    assert for_profile(config, quick_steps=300).steps == 300


def test_old_histories_still_load():
    data = train(TrainConfig(lr=0.1, epochs=1, **TINY), progress=False).to_dict()
    for key in ("eval_steps", "eval_acc", "eval_loss"):
        data.pop(key)
    old = History.from_dict(data)
    assert old.eval_steps == [] and old.steps_to(0.0) == old.steps_per_epoch


# --- experiments ---------------------------------------------------------------------------

def test_profile_helpers(monkeypatch):
    assert ex.seeds() == ex.SEEDS and ex.pick((1, 2, 3), (1,)) == (1, 2, 3)
    monkeypatch.setenv("BNREVIEW_QUICK", "1")
    assert ex.seeds() == (0,) and ex.pick((1, 2, 3), (1,)) == (1,)
    assert ex.sweep_config(0.1).n_train == 2000 and ex.sweep_config(0.1).eval_every == 8
    assert ex.paper_mlp_config().steps == ex.QUICK_MLP_STEPS
    assert ex.batch_size_config(4).lr == pytest.approx(ex.BATCH_LR_AT_64 / 16) and ex.pick(ex.BATCH_SIZES, ex.QUICK_BATCH_SIZES) == (8, 64, 256)


def test_full_settings_are_the_chapters():
    sweep = ex.sweep_config(0.9, "all")
    assert (sweep.epochs, sweep.batch_size, sweep.n_train, sweep.eval_every) == (1, 64, None, 100)
    mlp = ex.paper_mlp_config("all")
    assert (mlp.model, mlp.activation, mlp.batch_size, mlp.steps, mlp.bn) == ("mlp", "sigmoid", 60, 50_000, MLP_LAYERS)
    assert ex.batch_size_config(128).lr == pytest.approx(2 * ex.BATCH_LR_AT_64)


def test_lr_sweep_summary_and_tables():
    results = ex.lr_sweep_runs(lrs=(0.3, 1e5), seed_list=(0, 1), n_train=64, batch_size=32, device="cpu")
    assert set(results) == {(v, lr) for v in ("no BN", "BN (all four layers)") for lr in (0.3, 1e5)}
    assert all(len(hs) == 2 for hs in results.values())
    rows = ex.sweep_rows(results)
    by_key = {(r["variant"], r["lr"]): r for r in rows}
    exploded = by_key[("no BN", 1e5)]
    assert exploded["diverged"] == 2 and exploded["reached"][0.97] == 0
    assert math.isnan(exploded["steps_to_mean"][0.97])
    ok = by_key[("no BN", 0.3)]
    assert ok["min"] <= ok["mean"] <= ok["max"] and ok["diverged"] == 0
    assert fd.largest_trainable_lr(results, "no BN", 0.0) == 0.3  # the diverged lr never trains
    assert fd.largest_trainable_lr(results, "no BN", 1.01) is None
    assert fd.best_by_validation({lr: results["no BN", lr] for lr in (0.3, 1e5)}) == 0.3
    # a second call reads the cache
    again = ex.lr_sweep_runs(lrs=(0.3,), variants={"no BN": ()}, seed_list=(0,), n_train=64, batch_size=32,
                             device="cpu")
    assert again[("no BN", 0.3)][0].step_loss == results[("no BN", 0.3)][0].step_loss


def test_placement_configs_cover_positions_once_for_no_bn():
    configs = ex.placement_configs(0.9)
    assert set(configs) == {("no BN", "-")} | {(p, pos) for p in ("convs only", "fc1 only", "all four")
                                                for pos in ("before", "after")}
    assert configs[("fc1 only", "after")].bn == ("fc1",) and configs[("fc1 only", "after")].bn_position == "after"


def test_percentile_drift_measures_movement():
    history = History(config={}, probe_steps=[0, 1, 2],
                      probes={"fc1": {"unit_p15": [0, 1, 0], "unit_p50": [0, 0, 0], "unit_p85": [1, 1, 4],
                                      "p15": [0, 0, 0], "p50": [0, 0, 0], "p85": [0, 0, 0]}})
    drift = fd.percentile_drift(history, "fc1")
    assert drift["range_p15"] == 1 and drift["step_p15"] == 1 and drift["range_p85"] == 3
    assert drift["mean_range"] == pytest.approx(4 / 3) and drift["mean_step"] == pytest.approx((1 + 0 + 1.5) / 3)
    assert fd.percentile_drift(history, "fc1", unit=False)["mean_range"] == 0
    assert fd.percentile_drift(history, "fc1", skip=1)["range_p15"] == 1


def test_population_statistics_is_algorithm_2():
    torch.manual_seed(0)
    model = LeNet(bn="fc1").eval()
    images = torch.randn(96, 1, 32, 32)
    population = ex.population_statistics(model, images, batch_size=32)
    # by hand: fc1's inputs for the three batches of the same seeded order
    from bnreview.data import batches

    order = torch.Generator().manual_seed(0)
    means, variances = [], []
    with torch.no_grad():
        for x, _ in batches(images, torch.zeros(96, dtype=torch.long), 32, generator=order):
            pre = model.fc1(model.conv3(pool2(model.act(model.conv2(pool2(model.act(model.conv1(x))))))).tanh().flatten(1))
            means.append(pre.mean(0))
            variances.append(pre.var(0, unbiased=True))
    assert torch.allclose(population.bn["fc1"].running_mean, torch.stack(means).mean(0), atol=1e-5)
    assert torch.allclose(population.bn["fc1"].running_var, torch.stack(variances).mean(0), atol=1e-4)
    assert population.bn["fc1"].momentum == 0.1 and not population.training
    assert model.bn["fc1"].running_mean.abs().max() == 0  # the original is untouched


def test_inference_accuracies_and_batch_statistics():
    history = cached_train(TrainConfig(lr=0.3, bn="all", epochs=2, **TINY), progress=False)
    result = ex.inference_accuracies(history)
    assert {"ema", "population", "batch", "gap_mean", "gap_std", "gap_mean_fc1", "gap_std_conv1"} <= set(result)
    assert all(0 <= result[k] <= 1 for k in ("ema", "population", "batch")) and result["gap_mean"] >= 0
    assert result["ema"] == pytest.approx(history.final_test_acc)
    assert ex.inference_accuracies(history) == result  # read back from the cache
    assert derived_path(history, "inference", ex.what_bn_does).exists()  # keyed on the module that computes it
    model = ex.model_from(history)
    before = {k: v.clone() for k, v in model.state_dict().items()}
    images, labels = ex.run_test_data(history)
    ex.batch_stats_accuracy(model, images, labels, batch_size=16)
    assert all(torch.equal(before[k], v) for k, v in model.state_dict().items()) and not model.training
    assert 0 <= ex.eval_accuracy(model, images, labels) <= 1


def test_batch_size_sweep_scales_the_learning_rate():
    results = ex.batch_size_sweep(batch_sizes=(8, 32), seed_list=(0,))
    assert set(results) == {("no BN", 8), ("no BN", 32), ("BN", 8), ("BN", 32)}
    h8 = results[("BN", 8)][0]
    assert h8.config["lr"] == pytest.approx(ex.BATCH_LR_AT_64 / 8) and h8.config["batch_size"] == 8
    assert h8.steps_per_epoch == 512 // 8  # the tiny set is smaller than the 20,000-image subset


def test_noisy_bn_configs():
    configs = ex.noisy_bn_configs(0.9)
    assert configs["noisy BN"].bn_noise == ex.NOISE and configs["BN"].bn == BN_LAYERS and configs["no BN"].bn == ()


def test_mlp_pilot_config():
    pilot = ex.mlp_pilot_config(2.0, 0.01, "all")
    assert (pilot.steps, pilot.lr, pilot.init_std, pilot.probe_every, pilot.bn) == (3000, 2.0, 0.01, 0, MLP_LAYERS)


# --- figures -------------------------------------------------------------------------------

def _fake(acc, eval_acc=(0.1, 0.5, 0.9), diverged=False):
    return History(config={}, test_acc=[acc], eval_steps=[0, 10, 20], eval_acc=list(eval_acc), diverged=diverged,
                   steps_per_epoch=20, step_loss=[1.0] * 20)


def test_sweep_and_run_figures_draw():
    import matplotlib.pyplot as plt

    from bnreview import plots

    results = {("no BN", 0.1): [_fake(0.98, (0.1, 0.97, 0.98)), _fake(0.97)], ("no BN", 9.0): [_fake(0.1, diverged=True)] * 2,
               ("BN", 0.1): [_fake(0.99, (0.1, 0.98, 0.99))] * 2, ("BN", 9.0): [_fake(0.98, (0.1, 0.9, 0.98))] * 2}
    rows = ex.sweep_rows(results)
    fig = plots.lr_sweep_figure(rows, title="sweep")
    assert len(fig.axes) == 4 and fig.axes[0].get_xscale() == "log" and fig.axes[2].get_ylabel() == "SGD steps"
    fig = plots.curves_over_steps({"no BN": results[("no BN", 0.1)], "BN": results[("BN", 0.1)]}, title="t")
    assert fig.axes[0].get_xlabel() == "SGD step" and len(fig.axes[0].lines) == 2
    fig = plots.grouped_bars({"g1": {"a": [1.0, 2.0], "b": [3.0]}, "g2": {"a": [1.5]}}, "value (unit)", title="bars")
    assert len(fig.axes[0].patches) == 3 and fig.axes[0].get_ylabel() == "value (unit)"
    fig = plots.against_batch_size({"BN": ([2, 4], [[0.9, 0.91], [0.95, 0.96]])}, title="batch")
    assert fig.axes[0].get_xscale() == "log" and "batch size" in fig.axes[0].get_xlabel()
    plt.close("all")


# --- placement at several learning rates, regularisation -------------------------------------

def test_placement_grid_covers_every_placement_position_and_lr():
    grid = ex.placement_grid(lrs=(0.1, 0.3), seed_list=(0,))
    placements = {p.grid_key for p in ex.PLACEMENTS}  # (layers with BN, position), no BN once
    assert ("no BN", "-") in placements and ("fc1 only", "after") in placements
    assert set(grid) == {(name, pos, lr) for name, pos in placements for lr in (0.1, 0.3)}
    run = grid["fc1 only", "after", 0.3][0]
    assert run.config["bn"] == ["fc1"] and run.config["bn_position"] == "after" and run.config["lr"] == 0.3
    assert run.config["val_size"] == ex.val_size() and run.val_acc  # the sweep holds validation images out


def test_regularisation_variants_and_the_training_accuracy(monkeypatch):
    monkeypatch.setattr(ex.regularisation, "REG_N_TRAIN", 128)
    monkeypatch.setattr(ex.regularisation, "REG_EPOCHS", 2)
    runs = ex.regularisation_runs(seed_list=(0,))
    assert list(runs) == ["neither", "dropout", "BN", "BN + dropout"]
    pilot = ex.run_plan(ex.reg_pilot_plan())  # read from the cache: the pilot trained above
    choice = ex.reg_choice(pilot)
    for name, hs in runs.items():  # each at the rate best on its own validation images, never on test
        assert hs[0].config["lr"] == choice[name] and hs[0].val_acc
        best = max(ex.REG_LRS, key=lambda lr: pilot[name, lr][0].final_val_acc)
        assert pilot[name, best][0].final_val_acc == pilot[name, choice[name]][0].final_val_acc
    both = runs["BN + dropout"][0].config
    assert both["dropout"] == ex.REG_DROPOUT and both["bn"] == list(BN_LAYERS) and both["n_train"] == 128
    h = runs["dropout"][0]
    fit = ex.training_accuracy(h)
    assert 0 <= fit <= 1 and ex.training_accuracy(h) == fit  # the second call reads the cache
    assert derived_path(h, "fit", ex.regularisation).exists()  # keyed on the module that computes it
    quick = ex.regularisation_config()
    monkeypatch.setenv("BNREVIEW_QUICK", "1")
    assert ex.regularisation_config().n_train == 128 and ex.regularisation_config().epochs == 2
    assert quick.lr == ex.REG_LRS[1] and quick.val_size == ex.val_size()


@pytest.mark.parametrize("edited_name", ["what_bn_does", "common"])
def test_derived_numbers_are_keyed_on_the_code_that_derives_them(monkeypatch, edited_name):
    """Keyed on the module that computes (passed in) and on common (the rebuilt network, the accuracy)."""
    from bnreview import cache

    history = cached_train(TrainConfig(lr=0.3, epochs=1, **TINY), progress=False)
    module, edited_module = ex.what_bn_does, getattr(ex, edited_name)
    calls = []

    def compute():
        calls.append(1)
        return {"value": len(calls)}

    assert ex.cached_numbers(history, "probe", compute, module) == {"value": 1}
    assert ex.cached_numbers(history, "probe", compute, module) == {"value": 1}  # read back
    real = cache._source
    with monkeypatch.context() as edited:
        edited.setattr(cache, "_source", lambda m: real(m) + (b"# edited" if m is edited_module else b""))
        cache.code_version.cache_clear()
        try:
            assert ex.cached_numbers(history, "probe", compute, module) == {"value": 2}  # the code edited: a miss
        finally:
            cache.code_version.cache_clear()
    assert ex.cached_numbers(history, "probe", compute, module) == {"value": 1}


def derived_path(history, name, module):
    """Where a number derived by ``module`` from ``history`` is cached."""
    from bnreview.cache import cache_dir, cache_key

    return cache_dir() / f"{cache_key(history.train_config(), ex.common, module)}.{name}.json"


def test_derived_numbers_survive_an_unwritable_cache(monkeypatch):
    from bnreview import cache

    history = cached_train(TrainConfig(lr=0.3, epochs=1, **TINY), progress=False)

    def refuse(*args, **kwargs):
        raise PermissionError(13, "Permission denied")

    monkeypatch.setattr(cache, "atomic_write", refuse)
    with pytest.warns(UserWarning, match="not cached: PermissionError"):
        assert ex.cached_numbers(history, "probe", lambda: {"value": 3}) == {"value": 3}


def test_fashion_runs_are_the_reviews_and_d2ls_settings_on_fashion_mnist():
    from bnreview.config import review_config
    from bnreview.models import BN_LAYERS

    configs = [seeds[0] for seeds in ex.fashion_review_plan().values()]
    assert configs == [review_config(dataset="fashion-mnist", probe_every=0),
                       review_config(dataset="fashion-mnist", probe_every=0, bn="all")]
    assert (configs[0].lr, configs[0].epochs, configs[0].batch_size, configs[0].activation) == (0.9, 10, 64, "tanh")
    configs = [seeds[0] for seeds in ex.d2l_plan().values()]
    assert [(c.activation, c.batch_size, c.epochs, c.lr, c.bn, c.dataset) for c in configs] == [
        ("sigmoid", 256, 10, 0.9, (), "fashion-mnist"), ("sigmoid", 256, 10, 1.0, BN_LAYERS, "fashion-mnist")]
    assert ex.fashion_lr_plan() == ex.lr_sweep_plan(ex.FASHION_LRS, dataset="fashion-mnist", probe_every=0)
