import json
import math
import resource
import threading

from dataclasses import replace

import numpy as np
import pytest
import torch

from bnreview.data import load_mnist
from bnreview.config import SUBSET_SEED, TrainConfig, check_device, data_split, for_profile, steps_per_epoch
from bnreview.models import LeNet
from bnreview.train import DIVERGENCE_LOSS, TRAIN_THREADS, History, keep_freed_memory, train

SMALL = dict(epochs=2, batch_size=32, device="cpu")


@pytest.mark.parametrize(
    "kwargs, message",
    [
        ({"lr": -0.1}, "lr=-0.1 is invalid; accepted: a finite number > 0"),
        ({"lr": 0}, "lr=0"),
        ({"lr": float("nan")}, "lr=nan"),
        ({"lr": float("inf")}, "lr=inf"),
        ({"lr": 0.1, "epochs": 0}, "epochs=0 is invalid; accepted: an integer >= 1"),
        ({"lr": 0.1, "batch_size": 1}, "batch_size=1 is invalid; accepted: an integer >= 2"),
        ({"lr": 0.1, "momentum": 1.5}, "momentum=1.5"),
        ({"lr": 0.1, "weight_decay": -1}, "weight_decay=-1"),
        ({"lr": 0.1, "bn": "conv9"}, "unknown BN layer 'conv9'"),
        ({"lr": 0.1, "bn_impl": "tf"}, "bn_impl='tf'"),
        ({"lr": 0.1, "bn_position": "inside"}, "bn_position='inside'"),
        ({"lr": 0.1, "n_train": 10}, "n_train=10 is invalid"),
        ({"lr": 0.1, "device": "tpu"}, "device='tpu'"),
        ({"lr": 0.1, "seed": -1}, "seed=-1"),
        # what numbers are: bools are not numbers here, and a message names the field
        ({"lr": True}, "lr=True is invalid"),
        ({"lr": 0.1, "epochs": True}, "epochs=True is invalid; accepted: an integer >= 1"),
        ({"lr": 0.1, "epochs": 2.0}, "epochs=2.0 is invalid; accepted: an integer >= 1"),
        ({"lr": "0.1"}, "lr='0.1' is invalid"),
        ({"lr": 0.1, "device": None}, "device=None is invalid; accepted: 'auto', 'cpu', 'cuda', 'cuda:N' or 'mps'"),
        ({"lr": 0.1, "device": 0}, "device=0 is invalid"),
        ({"lr": 0.1, "device": "cpu:abc"}, "device='cpu:abc' is invalid"),
        ({"lr": 0.1, "device": "cuda:x"}, "device='cuda:x' is invalid"),
        ({"lr": 0.1, "bn": 5}, "bn=5 is invalid; accepted: any of conv1, conv2, conv3, fc1"),
        ({"lr": 0.1, "n_train": 70_000}, "n_train=70000 is invalid; accepted: None (all 60,000 training images) or "
                                         "an integer from batch_size (64) to 60,000"),
        ({"lr": 0.1, "val_size": 5000, "n_train": 56_000}, "to 55,000"),
        ({"lr": 0.1, "val_size": -1}, "val_size=-1 is invalid"),
        ({"lr": 0.1, "dataset": "cifar"}, "dataset='cifar' is invalid; accepted: 'mnist'"),
        ({"lr": 0.1, "dropout": 1.0}, "dropout=1.0 is invalid; accepted: a number in [0, 1)"),
        ({"lr": 0.1, "lr_decay": 0}, "lr_decay=0 is invalid; accepted: a number in (0, 1]"),
        ({"lr": 0.1, "lr_decay": 1.5}, "lr_decay=1.5 is invalid"),
        ({"lr": 0.1, "hidden_layers": 4}, "hidden_layers=4 is invalid; accepted: 3 for LeNet"),
        ({"lr": 0.1, "model": "mlp", "hidden_layers": 0}, "hidden_layers=0 is invalid; accepted: an integer >= 1"),
        ({"lr": 0.1, "model": "mlp", "hidden_layers": 2, "bn": "fc3"}, "unknown BN layer 'fc3'"),
    ],
)
def test_config_rejects_bad_values_naming_them(kwargs, message):
    with pytest.raises(ValueError, match="accepted|unknown") as caught:
        TrainConfig(**kwargs)
    assert message in str(caught.value)


def test_numbers_of_any_numeric_type_are_accepted_and_stored_as_python_numbers():
    config = TrainConfig(lr=np.float32(0.5), epochs=np.int64(2), batch_size=np.int32(32), seed=np.uint8(3))
    assert config == TrainConfig(lr=0.5, epochs=2, batch_size=32, seed=3)
    assert type(config.lr) is float and type(config.epochs) is int
    assert json.dumps(config.to_dict())  # a cache key can be made from it
    assert TrainConfig(lr=1).lr == 1.0 and type(TrainConfig(lr=1).lr) is float


@pytest.mark.parametrize("bn", [" all", ["all"], "all ", [" conv1 ", "fc1"], "none", ["none"], []])
def test_bn_spellings_that_mean_one_thing(bn):
    expected = {"none": (), "[]": ()}.get(str(bn).strip("[]' "), None)
    config = TrainConfig(lr=0.1, bn=bn)
    if "all" in str(bn):
        assert config.bn == ("conv1", "conv2", "conv3", "fc1")
    elif "conv1" in str(bn):
        assert config.bn == ("conv1", "fc1")
    else:
        assert config.bn == () and expected in ((), None)


def test_unavailable_devices_are_refused_naming_what_is_available():
    assert check_device("cpu") == torch.device("cpu") and check_device("auto").type in ("cpu", "cuda")
    if not torch.cuda.is_available():
        for device in ("cuda", "cuda:1"):
            with pytest.raises(ValueError, match=f"device '{device}' is not available here; available: cpu"):
                check_device(device)
    with pytest.raises(ValueError, match="device='cuda:x' is invalid"):
        check_device("cuda:x")


def test_config_normalises_bn_and_describes_itself():
    config = TrainConfig(lr=0.9, bn="all")
    assert config.bn == ("conv1", "conv2", "conv3", "fc1")
    assert "lr 0.9" in config.describe() and "batch 64" in config.describe()
    assert TrainConfig(lr=0.9, bn=["fc1", "conv1"]) == TrainConfig(lr=0.9, bn="conv1,fc1")


def test_training_learns_and_records_everything():
    history = train(TrainConfig(lr=0.5, bn="all", **SMALL), progress=False)
    assert len(history.train_loss) == len(history.test_acc) == len(history.epoch_seconds) == 2
    assert history.steps_per_epoch == 16 and len(history.step_loss) == 32
    assert history.final_test_acc > 0.9  # the tiny data set is easy: a bar whose row is the class
    assert history.train_loss[-1] < history.train_loss[0]
    assert len(history.per_class_acc) == 10 and all(0 <= a <= 1 for a in history.per_class_acc)
    confusion = torch.tensor(history.confusion)
    assert confusion.shape == (10, 10) and confusion.sum() == 200
    assert confusion.diag().sum().item() / 200 == pytest.approx(history.final_test_acc)
    assert len(history.sample_indices) == len(history.sample_pred) == len(history.sample_true) > 0
    assert len(history.mistake_indices) == 200 - confusion.diag().sum()
    assert not history.diverged and not history.stopped
    assert set(history.state_dict) >= {"conv1.weight", "bn.conv1.running_var"}


def test_same_config_same_numbers():
    config = TrainConfig(lr=0.1, bn=("conv2",), seed=3, **SMALL)
    a, b = train(config, progress=False), train(config, progress=False)
    assert a.step_loss == b.step_loss and a.test_acc == b.test_acc
    for key in a.state_dict:
        assert torch.equal(a.state_dict[key], b.state_dict[key])
    c = train(TrainConfig(lr=0.1, bn=("conv2",), seed=4, **SMALL), progress=False)
    assert c.step_loss != a.step_loss


def test_exploding_loss_stops_cleanly_as_diverged():
    history = train(TrainConfig(lr=1e5, **SMALL), progress=False)
    assert history.diverged and history.diverged_step is not None
    assert history.diverged_step == len(history.step_loss) < 32
    window = history.step_loss[-50:]
    assert not all(map(math.isfinite, window)) or sum(window) / len(window) > DIVERGENCE_LOSS
    assert len(history.test_acc) == 1 and history.per_class_acc  # evaluated, nothing half-written


def test_stop_ends_within_one_batch_and_keeps_the_weights():
    stop = threading.Event()
    stop.set()
    history = train(TrainConfig(lr=0.1, **SMALL), progress=False, stop=stop)
    assert history.stopped and len(history.step_loss) == 1 and len(history.test_acc) == 1
    assert history.state_dict is not None


def test_callback_runs_after_each_epoch():
    seen = []
    train(TrainConfig(lr=0.1, **SMALL), progress=False, callback=lambda e, h: seen.append((e, len(h.test_acc))))
    assert seen == [(1, 1), (2, 2)]


def test_subset_is_fixed_whatever_the_seed():
    runs = [train(TrainConfig(lr=0.1, n_train=64, epochs=1, batch_size=32, seed=s, device="cpu"), progress=False)
            for s in (0, 1)]
    assert all(h.steps_per_epoch == 2 and len(h.step_loss) == 2 for h in runs)
    assert runs[0].step_loss != runs[1].step_loss  # the seed changes the start and the order ...
    configs = [TrainConfig(lr=0.1, n_train=64, val_size=100, batch_size=32, seed=s) for s in (0, 1)]
    for part in ("train", "validation"):  # ... but not which images are trained on or held out
        (x0, y0), (x1, y1) = (data_split(c, part) for c in configs)
        assert torch.equal(x0, x1) and torch.equal(y0, y1)
    assert len(data_split(configs[0], "train")[1]) == 64


def test_validation_images_are_held_out_and_never_trained_on():
    config = TrainConfig(lr=0.1, epochs=2, batch_size=32, val_size=112, device="cpu")
    images, _ = data_split(config, "train")
    held_out, _ = data_split(config, "validation")
    everything, _ = data_split(TrainConfig(lr=0.1), "train")
    assert len(images) == 400 and len(held_out) == 112 and len(everything) == 512
    rows = {tuple(x.flatten().tolist()) for x in images}
    assert not rows & {tuple(x.flatten().tolist()) for x in held_out}
    history = train(config, progress=False)
    assert history.steps_per_epoch == 400 // 32 + 1 and len(history.val_acc) == 2 == len(history.val_loss)
    assert history.final_val_acc == history.val_acc[-1]
    assert math.isnan(train(TrainConfig(lr=0.1, epochs=1, device="cpu"), progress=False).final_val_acc)
    with pytest.raises(ValueError, match="unknown part 'val'"):
        data_split(config, "val")


def test_nothing_held_out_keeps_the_training_set_as_it_was():
    whole = data_split(TrainConfig(lr=0.1), "train")
    assert whole[0] is load_mnist(train=True)[0]
    sub = data_split(TrainConfig(lr=0.1, n_train=100), "train")[1]
    keep = torch.randperm(512, generator=torch.Generator().manual_seed(SUBSET_SEED))[:100]
    assert torch.equal(sub, load_mnist(train=True)[1][keep])


def test_dropout_changes_training_only_when_asked():
    base = TrainConfig(lr=0.1, epochs=1, batch_size=64, device="cpu")
    plain, zero = (train(c, progress=False) for c in (base, replace(base, dropout=0.0)))
    assert plain.step_loss == zero.step_loss
    dropped = train(replace(base, dropout=0.5), progress=False)
    assert dropped.step_loss != plain.step_loss and set(dropped.state_dict) == set(plain.state_dict)
    with pytest.raises(ValueError, match="dropout=0.5 is invalid; accepted: 0 for the paper's MLP"):
        TrainConfig(lr=0.1, model="mlp", dropout=0.5)


def test_history_round_trips_through_json():
    history = train(TrainConfig(lr=0.1, epochs=1, batch_size=64, device="cpu"), progress=False)
    restored = History.from_dict(json.loads(json.dumps(history.to_dict())))
    assert restored == history and restored.state_dict is None
    assert restored.steps_to(0.0) == history.steps_per_epoch


def test_quick_profile_shrinks_runs(monkeypatch):
    full = TrainConfig(lr=0.9, epochs=10)
    assert for_profile(full) is full
    monkeypatch.setenv("BNREVIEW_QUICK", "1")
    quick = for_profile(full, quick_epochs=2)
    assert (quick.n_train, quick.epochs, quick.lr) == (2000, 2, 0.9)
    assert for_profile(TrainConfig(lr=0.9, n_train=500)).n_train == 500


def test_probes_record_layer_statistics_without_changing_the_run():
    plain = train(TrainConfig(lr=0.1, bn="all", **SMALL), progress=False)
    probed = train(TrainConfig(lr=0.1, bn="all", probe_every=8, **SMALL), progress=False)
    assert probed.step_loss == plain.step_loss  # probing leaves BN's running statistics alone
    assert probed.probe_steps == [0, 8, 16, 24, 32]
    fc1 = probed.probes["fc1"]
    assert len(fc1["p50"]) == len(fc1["unit_p50"]) == 5
    assert all(lo <= mid <= hi for lo, mid, hi in zip(fc1["p15"], fc1["p50"], fc1["p85"]))
    assert abs(fc1["mean"][0]) < 1e-4 and abs(fc1["std"][0] - 1) < 0.01  # BN at init: beta 0, gamma 1
    assert all(0 <= s <= 1 for s in probed.probes["conv1"]["saturated"])
    norms = probed.probes["conv2"]["weight_norm"]
    assert len(norms) == 5 and norms[-1] == pytest.approx(probed.state_dict["conv2.weight"].norm().item(), rel=1e-5)
    assert norms[0] != norms[-1]  # the weights moved


def test_probing_runs_record_every_steps_update_size_relative_to_the_weights():
    probed = train(TrainConfig(lr=0.1, bn="all", probe_every=8, **SMALL), progress=False)
    assert train(TrainConfig(lr=0.1, bn="all", **SMALL), progress=False).update_size == {}  # only with probes
    assert set(probed.update_size) == {"conv1", "conv2", "conv3", "fc1"}
    assert all(len(sizes) == 32 and all(s > 0 for s in sizes) for sizes in probed.update_size.values())
    # plain SGD: the update is lr * grad, so its size over the weights' is lr * ||grad|| / ||W||
    inspected = {}

    def inspect(step, model, x, y):
        if step == 1:
            w = model.conv2.weight
            inspected["size"] = (0.1 * w.grad.norm() / w.norm()).item()

    again = train(TrainConfig(lr=0.1, bn="all", probe_every=8, **SMALL), progress=False, inspect=inspect)
    assert again.update_size == probed.update_size
    assert probed.update_size["conv2"][0] == pytest.approx(inspected["size"], rel=1e-5)


def test_inspect_sees_every_step_before_its_update_without_changing_the_run():
    plain = train(TrainConfig(lr=0.1, bn="all", **SMALL), progress=False)
    seen = []

    def inspect(step, model, x, y):
        assert model.training and model.conv1.weight.grad is not None and len(x) == len(y) == 32
        seen.append(step)

    inspected = train(TrainConfig(lr=0.1, bn="all", **SMALL), progress=False, inspect=inspect)
    assert seen == list(range(1, 33)) and inspected.step_loss == plain.step_loss


def test_the_learning_rate_decays_by_lr_decay_after_every_epoch():
    constant = train(TrainConfig(lr=0.1, **SMALL), progress=False)
    decayed = train(TrainConfig(lr=0.1, lr_decay=0.5, **SMALL), progress=False)
    assert decayed.step_loss[:16] == constant.step_loss[:16]  # the first epoch at lr 0.1 ...
    assert decayed.step_loss[17:] != constant.step_loss[17:]  # ... the second at 0.05
    halved = train(TrainConfig(lr=0.05, **SMALL), progress=False)  # the second epoch's rate from the start
    assert halved.step_loss[:16] != decayed.step_loss[:16]
    assert "lr x0.5 per epoch" in TrainConfig(lr=0.1, lr_decay=0.5).describe()


def test_saturation_follows_the_slope():
    from bnreview.probes import saturated

    z = torch.tensor([0.0, 1.0, 2.0, 5.0, -5.0])
    assert saturated(z, "tanh").tolist() == [False, False, True, True, True]
    assert saturated(z, "sigmoid").tolist() == [False, False, False, True, True]


def test_on_step_reports_every_step_and_threads_are_restored():
    before = torch.get_num_threads()
    torch.set_num_threads(TRAIN_THREADS + 1)
    try:
        steps, threads = [], set()

        def on_step(step):
            steps.append(step)
            threads.add(torch.get_num_threads())

        train(TrainConfig(lr=0.1, **SMALL), progress=False, on_step=on_step)
        assert steps == list(range(1, 33))
        assert threads == {TRAIN_THREADS}  # training ran on TRAIN_THREADS ...
        assert torch.get_num_threads() == TRAIN_THREADS + 1  # ... then gave the setting back
    finally:
        torch.set_num_threads(before)


def test_a_history_knows_its_config():
    config = TrainConfig(lr=0.3, epochs=1, n_train=64, batch_size=32, bn=("conv2", "fc1"), val_size=64, device="cpu")
    history = train(config, progress=False)
    assert history.train_config() == config
    again = History.from_dict(json.loads(json.dumps(history.to_dict())))
    assert again.train_config() == config


@pytest.mark.parametrize("n, batch, expected", [(64, 32, 2), (65, 32, 2), (66, 32, 3), (512, 64, 8), (1, 64, 0)])
def test_steps_per_epoch_drop_a_last_batch_of_one(n, batch, expected):
    assert steps_per_epoch(n, batch) == expected
    if n >= batch:
        h = train(TrainConfig(lr=0.1, n_train=n, epochs=1, batch_size=batch, device="cpu"), progress=False)
        assert h.steps_per_epoch == len(h.step_loss) == expected


def test_training_steps_reuse_freed_memory():
    """After keep_freed_memory, a LeNet step takes its activations from freed memory: no fresh pages."""
    assert keep_freed_memory()  # Linux with glibc (this project's machines)
    torch.manual_seed(0)
    model = LeNet(bn="all")
    optimizer = torch.optim.SGD(model.parameters(), lr=0.1)
    x, y = torch.randn(64, 1, 32, 32), torch.randint(0, 10, (64,))

    def step():
        loss = torch.nn.functional.cross_entropy(model(x), y)
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()

    for _ in range(3):  # the first steps allocate what every later step reuses
        step()
    faults = resource.getrusage(resource.RUSAGE_SELF).ru_minflt
    for _ in range(5):
        step()
    assert resource.getrusage(resource.RUSAGE_SELF).ru_minflt - faults < 50  # about 1,400 per step without it