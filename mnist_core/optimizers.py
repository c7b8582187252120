"""The configured optimizer, and its step as the trainer calls it once per iteration."""

from __future__ import annotations

from collections.abc import Callable

import torch
from torch.optim.adam import adam

from mnist_core.config import TrainConfig

FUSED_OPTIMIZER_DEVICES = ("cpu", "cuda")  # where torch has fused SGD, Adagrad, Adam and AdamW kernels


def make_optimizer(config: TrainConfig, params, device: torch.device) -> torch.optim.Optimizer:
    """The configured optimizer, as one fused kernel per step where torch has one: for the course's MLP on two CPU
    cores that takes Adam's step from ~400 to ~190 microseconds, a sixth of an iteration."""
    lr, wd = config.lr, config.weight_decay
    fused = {"fused": True} if device.type in FUSED_OPTIMIZER_DEVICES else {}
    if config.optimizer == "sgd":
        return torch.optim.SGD(params, lr=lr, weight_decay=wd, **fused)
    if config.optimizer in ("momentum", "nesterov"):
        nesterov = config.optimizer == "nesterov"
        return torch.optim.SGD(params, lr=lr, momentum=0.9, nesterov=nesterov, weight_decay=wd, **fused)
    if config.optimizer == "adagrad":
        return torch.optim.Adagrad(params, lr=lr, weight_decay=wd, **fused)
    if config.optimizer == "rmsprop":  # torch has no fused RMSprop
        return torch.optim.RMSprop(params, lr=lr, weight_decay=wd)
    if config.optimizer == "adam":
        return torch.optim.Adam(params, lr=lr, weight_decay=wd, **fused)
    return torch.optim.AdamW(params, lr=lr, weight_decay=wd, **fused)


def match_parameter_layout(optimizer: torch.optim.Optimizer) -> None:
    """Give loaded optimizer state (moments saved contiguous) its parameter's memory layout, as the fused and
    foreach steps expect the same strides for a parameter, its gradient and its state."""
    for group in optimizer.param_groups:
        for param in group["params"]:
            state = optimizer.state.get(param, {})
            for name, value in state.items():
                if torch.is_tensor(value) and value.shape == param.shape and value.stride() != param.stride():
                    state[name] = torch.empty_like(param).copy_(value)


def step_function(optimizer: torch.optim.Optimizer) -> Callable[[], None]:
    """What the trainer calls for optimizer.step(). For fused Adam and AdamW (the course's optimizer): the same
    update, torch's own functional `adam` on the optimizer's own state, without the ~60-100 microseconds that
    Optimizer.step spends in Python around the kernel each call (profiler range, hooks, state lookup, grad mode):
    for the course's MLP on two CPU cores, ~8% of an iteration. tests/unit/test_optimizers.py checks that both give
    the same weights and state, bit for bit. Any other optimizer: its own step."""
    if not _plain_fused_adam(optimizer):
        return optimizer.step
    group = optimizer.param_groups[0]
    params: list[torch.Tensor] = group["params"]

    def step() -> None:
        grads = [p.grad for p in params]
        states = [optimizer.state.get(p) for p in params]
        if any(g is None for g in grads) or not all(states):  # lazily creates the state; skips grad-less params
            optimizer.step()
            return
        beta1, beta2 = group["betas"]
        with torch.no_grad():
            adam(params, grads, [s["exp_avg"] for s in states], [s["exp_avg_sq"] for s in states], [],
                 [s["step"] for s in states], foreach=group["foreach"], capturable=False, differentiable=False,
                 fused=True, grad_scale=None, found_inf=None, has_complex=False,
                 decoupled_weight_decay=group["decoupled_weight_decay"], amsgrad=False, beta1=beta1, beta2=beta2,
                 lr=group["lr"], weight_decay=group["weight_decay"], eps=group["eps"], maximize=group["maximize"])

    return step


def _plain_fused_adam(optimizer: torch.optim.Optimizer) -> bool:
    """Adam or AdamW with one parameter group of real tensors, fused, and none of the options the short step
    leaves out (amsgrad, capturable, differentiable). Step hooks are not called: the trainer registers none."""
    if not isinstance(optimizer, torch.optim.Adam) or len(optimizer.param_groups) != 1:
        return False
    group = optimizer.param_groups[0]
    return (group["fused"] is True and not (group["amsgrad"] or group["capturable"] or group["differentiable"])
            and not any(torch.is_complex(p) for p in group["params"]))
