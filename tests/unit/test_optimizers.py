"""The optimizer's step as the trainer calls it: for fused Adam and AdamW a shorter way to torch's own update, which
must give the same weights and state as optimizer.step(), bit for bit; every other optimizer keeps its own step."""

from __future__ import annotations

import copy

import pytest
import torch

from mnist_core.config import TrainConfig
from mnist_core.models import build_model
from mnist_core.optimizers import make_optimizer, step_function

CPU = torch.device("cpu")
DEVICES = ["cpu", pytest.param("cuda", marks=pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA"))]


def set_gradients(model: torch.nn.Module, generator: torch.Generator) -> None:
    for param in model.parameters():
        param.grad = (torch.randn(param.shape, generator=generator) * 0.1).to(param.device)
        if param.dim() == 4:  # a channels_last CNN's weights: its gradients come the same way
            param.grad = param.grad.contiguous(memory_format=torch.channels_last)


@pytest.mark.parametrize("config", [
    TrainConfig(hidden=(64, 32), optimizer="adam"),
    TrainConfig(hidden=(64,), optimizer="adam", weight_decay=1e-3, lr=0.01),
    TrainConfig(hidden=(64,), optimizer="adamw", weight_decay=1e-2),
    TrainConfig(model="cnn", hidden=(16,), conv_channels=(4, 8), optimizer="adam"),
], ids=["adam", "adam-weight-decay", "adamw", "cnn-channels-last"])
@pytest.mark.parametrize("device", DEVICES)
def test_short_adam_step_equals_optimizer_step_bit_for_bit(config: TrainConfig, device: str):
    reference = build_model(config).to(device)
    if config.model == "cnn":
        reference = reference.to(memory_format=torch.channels_last)
    ours = copy.deepcopy(reference)
    reference_opt = make_optimizer(config, reference.parameters(), torch.device(device))
    our_opt = make_optimizer(config, ours.parameters(), torch.device(device))
    step = step_function(our_opt)
    assert step != our_opt.step  # the short way is taken
    for i in range(5):  # the first step creates the state through optimizer.step(), the next ones do not
        set_gradients(reference, torch.Generator().manual_seed(i))
        set_gradients(ours, torch.Generator().manual_seed(i))
        reference_opt.step()
        step()
    for a, b in zip(reference.parameters(), ours.parameters(), strict=True):
        assert torch.equal(a, b)
    expected, got = reference_opt.state_dict(), our_opt.state_dict()
    assert expected["param_groups"] == got["param_groups"]
    for index, state in expected["state"].items():
        assert state.keys() == got["state"][index].keys()
        assert all(torch.equal(state[key], got["state"][index][key]) for key in state)
    assert float(got["state"][0]["step"]) == 5


def test_a_parameter_without_gradient_is_left_alone_as_optimizer_step_does():
    config = TrainConfig(hidden=(16,), optimizer="adam")
    model = build_model(config)
    optimizer = make_optimizer(config, model.parameters(), CPU)
    step = step_function(optimizer)
    set_gradients(model, torch.Generator().manual_seed(0))
    step()
    frozen = next(model.parameters())
    before = frozen.detach().clone()
    set_gradients(model, torch.Generator().manual_seed(1))
    frozen.grad = None
    step()
    assert torch.equal(frozen, before) and float(optimizer.state[frozen]["step"]) == 1


@pytest.mark.parametrize("name", ["sgd", "momentum", "nesterov", "adagrad", "rmsprop"])
def test_other_optimizers_keep_their_own_step(name: str):
    model = build_model(TrainConfig(hidden=(16,)))
    optimizer = make_optimizer(TrainConfig(hidden=(16,), optimizer=name), model.parameters(), CPU)
    assert step_function(optimizer) == optimizer.step


def test_unfused_adam_keeps_its_own_step():
    model = build_model(TrainConfig(hidden=(16,)))
    optimizer = torch.optim.Adam(model.parameters(), lr=1e-3)  # as on MPS, where torch has no fused kernel
    assert step_function(optimizer) == optimizer.step
    amsgrad = torch.optim.Adam(model.parameters(), lr=1e-3, amsgrad=True, fused=True)
    assert step_function(amsgrad) == amsgrad.step
