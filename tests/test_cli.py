import subprocess
import sys

import pytest

from bnreview.cli import main


def test_train_prints_metrics_and_caches(capsys):
    assert main(["train", "--lr", "0.1", "--epochs", "1", "--bn", "all", "--bn-impl", "ours", "--device", "cpu"]) == 0
    out = capsys.readouterr().out
    assert "epoch   1" in out and "final test accuracy" in out and "cached at" in out


def test_data_says_where_and_what(capsys, tiny_root):
    assert main(["data"]) == 0
    out = capsys.readouterr().out
    assert str(tiny_root / "MNIST" / "raw") in out
    assert "(512, 1, 32, 32)" in out and "(200, 1, 32, 32)" in out


@pytest.mark.parametrize(
    "argv, expected",
    [
        (["train", "--lr", "-1"], "lr=-1.0 is invalid"),
        (["train", "--lr", "0.1", "--bn", "conv7"], "unknown BN layer 'conv7'"),
        (["train", "--lr", "0.1", "--bn-impl", "cudnn"], "bn_impl='cudnn'"),
        (["train", "--lr", "abc"], "invalid float value: 'abc'"),
        (["train", "--batch-size", "1"], "batch_size=1"),
        (["fly"], "invalid choice: 'fly'"),
        (["train", "--n-train", "70000"], "n_train=70000 is invalid; accepted: None (all 60,000 training images) or an "
                                          "integer from batch_size (64) to 60,000"),
        (["train", "--dataset", "cifar"], "dataset='cifar' is invalid; accepted: 'mnist', 'fashion-mnist'"),
        (["train", "--dropout", "1"], "dropout=1.0 is invalid"),
        (["train", "--val-size", "-5"], "val_size=-5 is invalid"),
        (["data", "--dataset", "svhn"], "unknown dataset 'svhn'; accepted: 'mnist', 'fashion-mnist'"),
    ],
)
def test_bad_input_exits_2_with_one_line(capsys, argv, expected):
    assert exit_code(argv) == 2
    err = capsys.readouterr().err
    assert expected in err and len(err.strip().splitlines()) == 1 and "Traceback" not in err


def exit_code(argv) -> int:
    try:
        return main(argv)
    except SystemExit as exc:  # argparse's own errors
        return exc.code


def test_missing_data_exits_2_naming_the_places(capsys, tmp_path, monkeypatch):
    import torchvision.datasets

    monkeypatch.setattr(torchvision.datasets, "MNIST", lambda *a, **k: (_ for _ in ()).throw(RuntimeError("offline")))
    monkeypatch.chdir(tmp_path)
    assert main(["--data", str(tmp_path / "empty"), "data"]) == 2
    err = capsys.readouterr().err
    assert str(tmp_path / "empty" / "MNIST" / "raw") in err and len(err.strip().splitlines()) == 1


def test_every_flag_reaches_the_config_it_trains():
    from bnreview.cli import TRAIN_FLAGS, config_from_args
    from bnreview.config import TrainConfig

    given = dict(lr="0.3", epochs="2", batch_size="32", momentum="0.5", weight_decay="0.01", bn="conv1,fc1",
                 bn_impl="torch", bn_position="after", activation="relu", seed="3", n_train="100", device="cpu",
                 dataset="fashion-mnist", val_size="50", dropout="0.25")
    assert set(given) == set(TRAIN_FLAGS)
    argv = [arg for name, value in given.items() for arg in (f"--{name.replace('_', '-')}", value)]
    assert config_from_args(argv) == TrainConfig(
        lr=0.3, epochs=2, batch_size=32, momentum=0.5, weight_decay=0.01, bn=("conv1", "fc1"), bn_impl="torch",
        bn_position="after", activation="relu", seed=3, n_train=100, device="cpu", dataset="fashion-mnist",
        val_size=50, dropout=0.25)
    assert config_from_args([]) == TrainConfig(lr=0.9)  # the defaults: the review's setting


# Issue 10: never a traceback for a user's mistake, nothing lost.

TRAIN = ["train", "--lr", "0.1", "--epochs", "1", "--device", "cpu"]


def test_an_unwritable_cache_prints_the_results_and_exits_0(capsys, tmp_path, monkeypatch):
    blocker = tmp_path / "a-file"
    blocker.write_text("")
    monkeypatch.setenv("BNREVIEW_CACHE", str(blocker))
    assert main(TRAIN) == 0
    captured = capsys.readouterr()
    assert "final test accuracy" in captured.out and "not cached" in captured.out and "cached at" not in captured.out
    warning_lines = [line for line in captured.err.splitlines() if "warning" in line]
    assert warning_lines == [f"python -m bnreview: warning: bnreview cache {blocker} is not writable "
                             "(it is a file, not a folder); runs will not be cached"]
    assert "Traceback" not in captured.err


def test_a_write_that_fails_after_training_still_prints_the_results(capsys, monkeypatch):
    from bnreview import cache

    def disk_full(*args, **kwargs):
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(cache, "atomic_write", disk_full)
    assert main(TRAIN) == 0
    captured = capsys.readouterr()
    assert "final test accuracy" in captured.out and "not cached" in captured.out
    assert "warning: not cached: OSError: [Errno 28] No space left on device" in captured.err
    assert "Traceback" not in captured.err


def test_a_cache_hit_says_so_and_shows_no_old_timing_as_new(capsys):
    assert main(TRAIN) == 0
    first = capsys.readouterr().out
    assert "from cache" not in first and " s\n" in first  # a fresh run shows its seconds
    assert main(TRAIN) == 0
    second = capsys.readouterr().out
    from_cache = [line for line in second.splitlines() if line.startswith("from cache: ")]
    assert len(from_cache) == 1 and ".pt" in from_cache[0]
    epoch_line = next(line for line in second.splitlines() if line.startswith("epoch   1"))
    assert not epoch_line.rstrip().endswith(" s") and "cached at" not in second
    assert first.splitlines()[-2] == second.splitlines()[-1]  # same final accuracy


@pytest.mark.parametrize("device, expected", [
    ("cuda", "device 'cuda' is not available here; available: cpu"),
    ("mps", "device 'mps' is not available here; available: cpu"),
    ("cuda:x", "device='cuda:x' is invalid"),
])
def test_an_unavailable_device_exits_2_before_any_data_is_read(capsys, tmp_path, monkeypatch, device, expected):
    import torch

    if device.startswith("cuda") and device != "cuda:x" and torch.cuda.is_available():
        pytest.skip("this machine has a GPU")
    from bnreview import data

    monkeypatch.setenv("BNREVIEW_DATA", str(tmp_path / "empty"))  # data would fail with another message
    monkeypatch.setattr(data, "load_raw", lambda *a, **k: pytest.fail("data was read before the device check"))
    assert exit_code(["train", "--lr", "0.1", "--device", device]) == 2
    captured = capsys.readouterr()
    assert expected in captured.err and len(captured.err.strip().splitlines()) == 1
    assert "Traceback" not in captured.err and "MNIST" not in captured.err and captured.out == ""


INTERRUPT_WHILE_IMPORTING = """
import os, runpy, signal, sys

class InterruptOnTorch:  # a real SIGINT, as Ctrl-C sends, while torch is being imported
    def find_spec(self, name, path=None, target=None):
        if name == "torch":
            os.kill(os.getpid(), signal.SIGINT)
        return None

sys.meta_path.insert(0, InterruptOnTorch())
sys.argv = ["python -m bnreview", "train", "--lr", "0.1"]
runpy.run_module("bnreview", run_name="__main__", alter_sys=True)
"""


def _sigint_as_a_terminal_delivers_it():
    """In the child: Ctrl-C's default action, even when the tests run in a background job that ignores SIGINT (a
    shell without job control starts ``cmd &`` so; Python then never raises KeyboardInterrupt)."""
    import signal

    signal.signal(signal.SIGINT, signal.SIG_DFL)


def test_ctrl_c_while_importing_is_one_line_and_exit_130():
    done = subprocess.run([sys.executable, "-c", INTERRUPT_WHILE_IMPORTING], capture_output=True, text=True, timeout=120,
                          preexec_fn=_sigint_as_a_terminal_delivers_it)
    assert done.returncode == 130
    assert done.stderr.strip() == "interrupted; nothing was cached"


def test_ctrl_c_in_the_first_second_of_a_real_command_is_one_line():
    import signal
    import time

    from pathlib import Path

    maps = Path("/proc/self/maps")
    if not maps.exists():
        pytest.skip("needs /proc to see when torch starts loading")
    proc = subprocess.Popen([sys.executable, "-m", "bnreview", "train", "--lr", "0.1", "--device", "cpu"],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            preexec_fn=_sigint_as_a_terminal_delivers_it)
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline and proc.poll() is None:  # Ctrl-C as soon as torch's libraries load
        try:
            if "libtorch" in Path(f"/proc/{proc.pid}/maps").read_text():
                break
        except OSError:
            pass
        time.sleep(0.01)
    proc.send_signal(signal.SIGINT)
    out, err = proc.communicate(timeout=120)
    assert proc.returncode == 130 and err.strip().splitlines()[-1] == "interrupted; nothing was cached"
    assert "Traceback" not in err


def test_the_openmp_wait_policy_is_the_users_and_same_seed_same_numbers_under_either():
    """bnreview leaves libgomp's wait policy alone (passive waiting is 4x slower on an idle machine
    here) and names the shared-machine choice; the numbers never depend on it."""
    import os

    probe = ("import sys, os, bnreview; assert 'torch' not in sys.modules; "
             "print(os.environ.get('OMP_WAIT_POLICY', 'unset'), bnreview.SHARED_MACHINE_POLICY)")
    env = {k: v for k, v in os.environ.items() if k != "OMP_WAIT_POLICY"}
    out = subprocess.run([sys.executable, "-c", probe], env=env, capture_output=True, text=True, check=True).stdout
    assert out.split()[0] == "unset" and "PASSIVE" in out
    losses = ("import bnreview.train as t; h = t.train(t.TrainConfig(lr=0.5, bn='all', epochs=1, batch_size=32, "
              "device='cpu'), progress=False); print(h.step_loss)")
    runs = [subprocess.run([sys.executable, "-c", losses], env={**env, "OMP_WAIT_POLICY": policy},
                           capture_output=True, text=True, check=True).stdout for policy in ("ACTIVE", "PASSIVE")]
    assert runs[0] == runs[1] and runs[0].startswith("[")


def test_bn_spelt_with_spaces_trains_bn_everywhere(capsys):
    assert main(["train", "--lr", "0.1", "--epochs", "1", "--bn", " all", "--device", "cpu", "--no-cache"]) == 0
    assert "BN on conv1+conv2+conv3+fc1" in capsys.readouterr().out


def test_validation_and_dropout_reach_the_run(capsys):
    assert main(["train", "--lr", "0.1", "--epochs", "1", "--val-size", "64", "--dropout", "0.5", "--device", "cpu"]) == 0
    out = capsys.readouterr().out
    assert "64 held out" in out and "dropout 0.5" in out and "final test accuracy" in out
