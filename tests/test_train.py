import json
import math
import threading

import pytest
import torch

from bnreview.train import DIVERGENCE_LOSS, History, TrainConfig, for_profile, train

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
    ],
)
def test_config_rejects_bad_values_naming_them(kwargs, message):
    with pytest.raises(ValueError, match="accepted|unknown") as caught:
        TrainConfig(**kwargs)
    assert message in str(caught.value)


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
    a = train(TrainConfig(lr=0.1, n_train=64, epochs=1, batch_size=32, seed=0, device="cpu"), progress=False)
    assert a.steps_per_epoch == 2 and len(a.step_loss) == 2


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


def test_saturation_follows_the_slope():
    from bnreview.train import saturated

    z = torch.tensor([0.0, 1.0, 2.0, 5.0, -5.0])
    assert saturated(z, "tanh").tolist() == [False, False, True, True, True]
    assert saturated(z, "sigmoid").tolist() == [False, False, False, True, True]


def test_on_step_reports_every_step_and_threads_are_restored():
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        steps = []
        train(TrainConfig(lr=0.1, **SMALL), progress=False, on_step=steps.append)
        assert steps == list(range(1, 33))
        assert torch.get_num_threads() == 1  # training ran on TRAIN_THREADS, then gave the setting back
    finally:
        torch.set_num_threads(before)
