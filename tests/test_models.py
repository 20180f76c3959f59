import pytest
import torch
from torch import nn

from bnreview import batchnorm
from bnreview.models import BN_LAYERS, LeNet, count_parameters, dense_conv, first_conv, pool2, resolve_bn_layers


def test_lenet_has_61706_parameters_and_the_review_architecture():
    model = LeNet()
    assert count_parameters(model) == 61_706
    assert model(torch.randn(3, 1, 32, 32)).shape == (3, 10)
    assert [m.out_channels for m in (model.conv1, model.conv2, model.conv3)] == [6, 16, 120]
    assert (model.fc1.out_features, model.fc2.out_features) == (84, 10)
    assert isinstance(model.act, nn.Tanh)


def test_bn_before_drops_the_bias_it_replaces():
    model = LeNet(bn="all")
    for layer in BN_LAYERS:
        assert getattr(model, layer).bias is None
    assert model.fc2.bias is not None
    # -226 biases, +2 x 226 gamma and beta
    assert count_parameters(model) == 61_706 + 226


def test_bn_after_keeps_the_bias():
    model = LeNet(bn=("conv2", "fc1"), bn_position="after")
    assert model.conv2.bias is not None and model.fc1.bias is not None
    assert count_parameters(model) == 61_706 + 2 * (16 + 84)


@pytest.mark.parametrize("bn", [None, (), "none", "all", "conv1", "conv3,fc1", ["fc1", "conv1"]])
def test_bn_normalises_exactly_the_layers_asked_for(bn):
    """In training mode each BN layer hands its nonlinearity per-channel mean 0 and variance 1; the others do not."""
    torch.manual_seed(0)
    model = LeNet(bn=bn)
    with torch.no_grad():  # give every layer inputs far from normalised, so that only BN can make them so
        for layer in BN_LAYERS:
            getattr(model, layer).weight.mul_(3.0)
    record = {}
    model.train()(3 * torch.randn(32, 1, 32, 32) + 1, record)
    wanted = resolve_bn_layers(bn)
    for layer in BN_LAYERS:
        z = record[layer]
        dims = (0, 2, 3) if z.dim() == 4 else (0,)
        mean, var = z.mean(dims), z.var(dims, unbiased=False)
        normalised = bool(mean.abs().max() < 1e-4 and (var - 1).abs().max() < 1e-2)
        assert normalised == (layer in wanted), (layer, wanted)


def test_resolve_keeps_network_order():
    assert resolve_bn_layers(["fc1", "conv1"]) == ("conv1", "fc1")
    assert resolve_bn_layers("all") == BN_LAYERS


@pytest.mark.parametrize(
    "kwargs, bad",
    [
        ({"bn": "conv4"}, "'conv4'"),
        ({"bn": ["conv1", "fc2"]}, "'fc2'"),
        ({"bn_impl": "keras"}, "'keras'"),
        ({"bn_position": "middle"}, "'middle'"),
        ({"activation": "gelu"}, "'gelu'"),
    ],
)
def test_unknown_names_list_what_is_accepted(kwargs, bad):
    with pytest.raises(ValueError, match="accepted") as caught:
        LeNet(**kwargs)
    assert bad in str(caught.value)


def test_our_bn_and_torch_bn_give_the_same_network():
    torch.manual_seed(0)
    ours = LeNet(bn="all", bn_impl="ours")
    theirs = LeNet(bn="all", bn_impl="torch")
    theirs.load_state_dict(ours.state_dict())
    assert isinstance(ours.bn["conv1"], batchnorm.BatchNorm2d) and isinstance(theirs.bn["conv1"], nn.BatchNorm2d)
    assert isinstance(ours.bn["fc1"], batchnorm.BatchNorm1d) and isinstance(theirs.bn["fc1"], nn.BatchNorm1d)
    x = torch.randn(16, 1, 32, 32)
    torch.testing.assert_close(ours(x), theirs(x), atol=1e-5, rtol=1e-4)
    for a, b in zip(ours.state_dict().values(), theirs.state_dict().values()):
        torch.testing.assert_close(a, b, atol=1e-5, rtol=1e-4)
    ours.eval(), theirs.eval()
    torch.testing.assert_close(ours(x), theirs(x), atol=1e-5, rtol=1e-4)


def test_record_collects_each_layers_input_to_its_nonlinearity():
    model = LeNet(bn="all").train()
    record = {}
    model(torch.randn(32, 1, 32, 32), record)
    assert list(record) == list(BN_LAYERS)
    assert record["conv1"].shape == (32, 6, 28, 28) and record["fc1"].shape == (32, 84)
    # before the nonlinearity, BN's output has per-feature mean 0 and variance 1 in training mode
    assert record["fc1"].mean(0).abs().max() < 1e-5
    assert model.bn["conv1"].num_batches_tracked.item() == 1  # recording does not run BN twice


@pytest.mark.parametrize("bias", [True, False])
def test_first_conv_matches_conv2d(bias):
    """conv1's fast path: same output, and the weight gradient (a forward convolution) equal to autograd's."""
    torch.manual_seed(0)
    conv = nn.Conv2d(1, 6, 5, bias=bias)
    x, g = torch.randn(8, 1, 32, 32), torch.randn(8, 6, 28, 28)
    fast = first_conv(conv, x)
    torch.testing.assert_close(fast, conv(x), rtol=0, atol=0)  # the same forward convolution
    grads = torch.autograd.grad(fast, [p for p in conv.parameters()], g)
    expected = torch.autograd.grad(conv(x), [p for p in conv.parameters()], g)
    for got, want in zip(grads, expected):
        torch.testing.assert_close(got, want, rtol=1e-4, atol=1e-3)
    x.requires_grad_()  # an input that needs its gradient takes the ordinary path
    assert first_conv(conv, x).grad_fn.name() == conv(x).grad_fn.name()


def test_dense_conv_is_a_linear_layer_where_the_kernel_covers_the_input():
    torch.manual_seed(0)
    conv = nn.Conv2d(16, 120, 5)
    x = torch.randn(8, 16, 5, 5, requires_grad=True)
    fast, plain = dense_conv(conv, x), conv(x)
    assert fast.shape == plain.shape == (8, 120, 1, 1)
    torch.testing.assert_close(fast, plain, rtol=1e-5, atol=1e-5)
    g = torch.randn(8, 120, 1, 1)
    for got, want in zip(torch.autograd.grad(fast, [x, conv.weight, conv.bias], g),
                         torch.autograd.grad(plain, [x, conv.weight, conv.bias], g)):
        torch.testing.assert_close(got, want, rtol=1e-5, atol=1e-5)
    bigger = torch.randn(2, 16, 7, 7)  # a kernel smaller than the input: the ordinary convolution
    torch.testing.assert_close(dense_conv(conv, bigger), conv(bigger), rtol=0, atol=0)


@pytest.mark.parametrize("shape", [(4, 6, 28, 28), (3, 16, 10, 10), (2, 3, 7, 9)])
def test_pool2_is_avg_pool2d_forward_and_backward(shape):
    x = torch.randn(*shape, dtype=torch.float64, requires_grad=True)
    ours, theirs = pool2(x), nn.functional.avg_pool2d(x, 2)
    torch.testing.assert_close(ours, theirs)
    g = torch.randn_like(theirs)
    torch.testing.assert_close(torch.autograd.grad(ours, x, g)[0], torch.autograd.grad(theirs, x, g)[0])
    if shape[-1] % 2 == 0:  # the fast path: checked by autograd's own finite differences too
        assert torch.autograd.gradcheck(pool2, (x[:1, :2].detach().requires_grad_(),))
    channels_last = x.detach().contiguous(memory_format=torch.channels_last)
    torch.testing.assert_close(pool2(channels_last), nn.functional.avg_pool2d(channels_last, 2))
