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


def test_module_help_documents_every_flag():
    out = subprocess.run([sys.executable, "-m", "bnreview", "train", "--help"], capture_output=True, text=True, check=True).stdout
    for flag in ("--lr", "--epochs", "--batch-size", "--momentum", "--weight-decay", "--bn", "--bn-impl",
                 "--bn-position", "--activation", "--seed", "--n-train", "--device", "--no-cache"):
        assert flag in out
