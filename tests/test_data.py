import os
import shutil
import warnings
from pathlib import Path

import pytest
import torch

from bnreview import data
from conftest import REAL_DATA, TINY_TEST, TINY_TRAIN, write_fashion, write_idx, write_mnist


def test_load_mnist_shapes_types_and_padding(tiny_root):
    images, labels = data.load_mnist(tiny_root)
    assert images.shape == (TINY_TRAIN, 1, 32, 32) and images.dtype == torch.float32
    assert labels.shape == (TINY_TRAIN,) and labels.dtype == torch.int64
    test_images, test_labels = data.load_mnist(tiny_root, train=False)
    assert test_images.shape == (TINY_TEST, 1, 32, 32) and test_labels.shape == (TINY_TEST,)
    # the 2-pixel border is padding: background (raw 0) after normalisation
    mean, std = data.train_stats(tiny_root)
    assert torch.allclose(images[:, :, :2, :], torch.tensor(-mean / std))
    assert torch.allclose(images[:, :, :, -2:], torch.tensor(-mean / std))


def test_normalised_with_training_statistics(tiny_root):
    images, _ = data.load_mnist(tiny_root, size=28)
    assert images.shape[-2:] == (28, 28)
    assert abs(images.mean().item()) < 1e-4 and abs(images.std().item() - 1) < 1e-3
    raw, labels = data.load_raw(tiny_root)
    mean, std = data.train_stats(tiny_root)
    expected = (raw[7].float() / 255 - mean) / std
    assert torch.allclose(data.load_mnist(tiny_root, size=28)[0][7, 0], expected, atol=1e-6)


def test_loaded_once_then_served_from_memory(tiny_root):
    first = data.load_mnist(tiny_root)
    assert data.load_mnist(tiny_root)[0] is first[0]


def test_bad_size_names_value():
    with pytest.raises(ValueError, match="size must be 28 or 32, got 30"):
        data.load_mnist(size=30)


def test_search_order_argument_then_env_then_cwd(tmp_path, monkeypatch):
    arg, env, cwd = (write_mnist(tmp_path / name, n_train=20, n_test=10) for name in ("arg", "env", "cwd"))
    monkeypatch.setenv(data.ENV_VAR, str(env))
    monkeypatch.chdir(cwd.parent / "cwd")
    (cwd / "data").mkdir()
    (cwd / "MNIST").rename(cwd / "data" / "MNIST")
    assert data.find_root(arg) == arg
    assert data.find_root() == env
    monkeypatch.delenv(data.ENV_VAR)
    assert data.find_root() == data.DEFAULT_ROOT


def test_missing_data_names_every_place_and_the_fix(tmp_path, monkeypatch):
    import torchvision.datasets

    def offline(*args, **kwargs):
        raise RuntimeError("Error downloading train-images-idx3-ubyte.gz: no network")

    monkeypatch.setattr(torchvision.datasets, "MNIST", offline)
    monkeypatch.setenv(data.ENV_VAR, str(tmp_path / "nowhere"))
    monkeypatch.chdir(tmp_path)
    with pytest.raises(data.DataNotFoundError) as caught:
        data.load_mnist()
    message = str(caught.value)
    assert str(tmp_path / "nowhere" / "MNIST" / "raw") in message
    assert str(tmp_path / "data" / "MNIST" / "raw") in message
    assert "BNREVIEW_DATA" in message and "no network" in message


def test_gzipped_files_are_unpacked_and_read(tmp_path):
    root = write_mnist(tmp_path, n_train=30, n_test=10, compress=True)
    images, labels = data.load_mnist(root)
    assert images.shape == (30, 1, 32, 32)
    assert (root / "MNIST" / "raw" / "train-images-idx3-ubyte").is_file()
    assert not list((root / "MNIST" / "raw").glob(".*tmp*"))


def test_truncated_file_is_a_clear_error(tmp_path):
    root = write_mnist(tmp_path, n_train=30, n_test=10)
    path = root / "MNIST" / "raw" / "train-images-idx3-ubyte"
    path.write_bytes(path.read_bytes()[:-100])
    with pytest.raises(data.CorruptDataError, match="truncated or corrupt"):
        data.load_mnist(root)


@pytest.mark.parametrize("content", [b"", b"\x00\x00\x08", b"GIF89a-not-an-idx-file-at-all"])
def test_garbage_file_is_a_clear_error(tmp_path, content):
    root = write_mnist(tmp_path, n_train=30, n_test=10)
    (root / "MNIST" / "raw" / "train-labels-idx1-ubyte").write_bytes(content)
    with pytest.raises(data.CorruptDataError, match="train-labels-idx1-ubyte"):
        data.load_mnist(root)


def test_images_and_labels_must_agree(tmp_path):
    root = write_mnist(tmp_path, n_train=30, n_test=10)
    write_idx(root / "MNIST" / "raw" / "train-labels-idx1-ubyte", torch.zeros(29, dtype=torch.uint8))
    with pytest.raises(data.CorruptDataError, match="30 images but 29 labels"):
        data.load_mnist(root)


def test_fingerprint_changes_with_the_data(tmp_path, tiny_root):
    other = write_mnist(tmp_path, n_train=30, n_test=10)
    assert data.fingerprint(tiny_root) == data.fingerprint(tiny_root)
    assert data.fingerprint(tiny_root) != data.fingerprint(other)


def test_batches_shuffle_reproducibly_and_cover_everything():
    images, labels = torch.arange(10.0).reshape(10, 1), torch.arange(10)
    run = lambda: [y.tolist() for _, y in data.batches(images, labels, 4, torch.Generator().manual_seed(3))]
    assert run() == run()
    assert sorted(sum(run(), [])) == list(range(10))
    assert [len(b) for b in run()] == [4, 4, 2]
    ordered = [y.tolist() for _, y in data.batches(images, labels, 4)]
    assert ordered == [[0, 1, 2, 3], [4, 5, 6, 7], [8, 9]]


def test_batch_of_one_is_dropped_when_training():
    images, labels = torch.zeros(9, 1), torch.arange(9)
    sizes = [len(y) for _, y in data.batches(images, labels, 4, torch.Generator().manual_seed(0))]
    assert sizes == [4, 4]


# --- looking never writes; a failed download keeps its reason -----------------------------------

def _offline_with_folders(monkeypatch, name="MNIST"):
    """torchvision's download as it behaves offline: it makes root/<Folder>/raw, then fails with a
    multi-line message whose reason comes after the first line."""
    import torchvision.datasets

    def offline(root, train=True, download=False):
        os.makedirs(os.path.join(root, name, "raw"), exist_ok=True)
        raise RuntimeError("Error downloading train-images-idx3-ubyte.gz:\nTried mirror-1: <urlopen error "
                           "[Errno -3] Temporary failure in name resolution>")

    monkeypatch.setattr(torchvision.datasets, name, offline)


def test_a_failed_lookup_leaves_nothing_at_a_mistyped_path(tmp_path, monkeypatch):
    _offline_with_folders(monkeypatch)
    mistyped = tmp_path / "nonexistent" / "deeper"
    with pytest.raises(data.DataNotFoundError) as caught:
        data.load_mnist(root=mistyped)
    assert not (tmp_path / "nonexistent").exists()  # the download made folders; they are gone
    assert "Temporary failure in name resolution" in str(caught.value)  # the reason after the first line
    assert "\n" not in str(caught.value).split("Downloading it failed too: ")[1].split("\nFix")[0]


def test_a_failed_download_keeps_folders_that_were_there(tmp_path, monkeypatch):
    _offline_with_folders(monkeypatch)
    (tmp_path / "mine" / "MNIST").mkdir(parents=True)
    (tmp_path / "mine" / "MNIST" / "notes.txt").write_text("keep me")
    with pytest.raises(data.DataNotFoundError):
        data.find_root(tmp_path / "mine")
    assert (tmp_path / "mine" / "MNIST" / "notes.txt").read_text() == "keep me"
    assert not (tmp_path / "mine" / "MNIST" / "raw").exists()


def test_looking_without_download_writes_nothing(tmp_path):
    with pytest.raises(data.DataNotFoundError, match="MNIST not found"):
        data.find_root(tmp_path / "absent", download=False)
    assert not (tmp_path / "absent").exists()


# --- Fashion-MNIST through the same loader -------------------------------------------------------

def test_fashion_mnist_is_served_from_its_own_folder_with_its_own_statistics(tiny_root):
    write_fashion(tiny_root)
    images, labels = data.load_mnist(dataset="fashion-mnist")
    assert images.shape == (96, 1, 32, 32) and labels.shape == (96,)
    assert abs(images.mean().item() - data.load_mnist(dataset="fashion-mnist", size=32)[0].mean().item()) < 1e-6
    fashion_stats, mnist_stats = data.train_stats(dataset="fashion-mnist"), data.train_stats()
    assert fashion_stats != mnist_stats and 0.2 < fashion_stats[0] < 0.27  # uniform on [0, 120/255)
    assert data.fingerprint(dataset="fashion-mnist") != data.fingerprint()
    assert data.DATASETS["fashion-mnist"].classes[9] == "Ankle boot" and data.TRAIN_SIZE == 60_000


def test_an_unknown_dataset_is_refused_naming_the_accepted_ones():
    with pytest.raises(ValueError, match="unknown dataset 'cifar'; accepted: 'mnist', 'fashion-mnist'"):
        data.load_mnist(dataset="cifar")


def test_missing_fashion_mnist_names_the_dataset_and_its_folder(tmp_path, monkeypatch):
    _offline_with_folders(monkeypatch, "FashionMNIST")
    with pytest.raises(data.DataNotFoundError) as caught:
        data.load_mnist(root=tmp_path / "f", dataset="fashion-mnist")
    assert str(caught.value).startswith("Fashion-MNIST not found")
    assert str(tmp_path / "f" / "FashionMNIST" / "raw") in str(caught.value)
    assert not (tmp_path / "f").exists()


def test_a_fashion_run_is_keyed_and_labelled_as_such(tiny_root):
    from bnreview.cache import cache_key
    from bnreview.config import TrainConfig

    write_fashion(tiny_root)
    mnist, fashion = TrainConfig(lr=0.1), TrainConfig(lr=0.1, dataset="fashion-mnist")
    assert cache_key(mnist) != cache_key(fashion)
    assert fashion.describe().startswith("Fashion-MNIST: lr 0.1")


def test_a_failed_download_keeps_its_chained_cause(tmp_path, monkeypatch):
    import urllib.error

    import torchvision.datasets

    def offline(root, train=True, download=False):
        try:
            raise urllib.error.URLError("[Errno -2] Name or service not known")
        except urllib.error.URLError as exc:
            raise RuntimeError("Error downloading train-images-idx3-ubyte.gz:") from exc

    monkeypatch.setattr(torchvision.datasets, "MNIST", offline)
    with pytest.raises(data.DataNotFoundError) as caught:
        data.find_root(tmp_path / "absent")
    reason = str(caught.value).split("Downloading it failed too: ")[1].split("\nFix")[0]
    assert "Error downloading train-images-idx3-ubyte.gz:" in reason and "Name or service not known" in reason
    assert not (tmp_path / "absent").exists()


OFFICIAL = [pytest.param(name, marks=pytest.mark.skipif(
    not (REAL_DATA and (Path(REAL_DATA) / data.DATASETS[name].folder / "raw").is_dir()),
    reason="the real data set is not where BNREVIEW_DATA points")) for name in data.OFFICIAL_MD5]


@pytest.mark.parametrize("dataset", OFFICIAL)
def test_the_official_files_pass_and_a_changed_byte_in_any_of_them_is_refused(dataset, tmp_path, monkeypatch):
    monkeypatch.delenv(data.UNOFFICIAL_ENV)
    real = Path(REAL_DATA) / data.DATASETS[dataset].folder / "raw"
    data.check_official(real, dataset)  # the official files pass
    raw = tmp_path / data.DATASETS[dataset].folder / "raw"
    raw.mkdir(parents=True)
    for name in data.OFFICIAL_MD5[dataset]:
        shutil.copyfile(real / name, raw / name)
    for name, official in data.OFFICIAL_MD5[dataset].items():
        path = raw / name
        original = path.read_bytes()
        changed = bytearray(original)
        changed[len(changed) // 2] ^= 1  # one bit of one byte, far past the header: same size, same header
        path.write_bytes(bytes(changed))
        with pytest.raises(data.UnofficialDataError) as refused:
            data.check_official(raw, dataset)
        message = str(refused.value)
        assert "\n" not in message and str(path) in message and official in message
        assert data.md5(path) in message and data.UNOFFICIAL_ENV in message and "http" in message
        path.write_bytes(original)
        os.utime(path, ns=(path.stat().st_atime_ns, path.stat().st_mtime_ns + 10**9))  # a new mtime: hashed again
    data.check_official(raw, dataset)


def test_an_unofficial_file_is_refused_when_loaded_naming_the_way_to_allow_it(tmp_path, monkeypatch):
    monkeypatch.delenv(data.UNOFFICIAL_ENV)
    root = write_mnist(tmp_path)
    with pytest.raises(data.UnofficialDataError, match=rf"\(and 3 more\): MD5 .*{data.UNOFFICIAL_ENV}=1"):
        data.load_mnist(root)


def test_the_opt_out_trains_on_its_own_files_and_says_so_once(tmp_path):
    root = write_mnist(tmp_path)
    with pytest.warns(UserWarning, match=f"{data.UNOFFICIAL_ENV}=1: training on MNIST files that are not the official"):
        images, _ = data.load_mnist(root)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        data.load_mnist(root, train=False)
        data.check_official(root / "MNIST" / "raw", "mnist")
    assert len(images) == TINY_TRAIN


def test_each_file_is_hashed_once_per_size_and_mtime(tmp_path, monkeypatch):
    path = tmp_path / "f"
    path.write_bytes(b"abc")
    calls = []
    real = data.hashlib.md5
    monkeypatch.setattr(data.hashlib, "md5", lambda: calls.append(1) or real())
    assert data.md5(path) == data.md5(path) == real(b"abc").hexdigest() and len(calls) == 1
    path.write_bytes(b"abcd")
    assert data.md5(path) == real(b"abcd").hexdigest() and len(calls) == 2
