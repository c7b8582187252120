"""Lesson 4: a single perceptron learns AND and OR but never XOR; a two-layer perceptron (MLP) learns XOR by
backpropagation. Written with numpy by hand, so the gradients can be shown and checked against autograd's."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

INPUTS = np.array([[0.0, 0.0], [0.0, 1.0], [1.0, 0.0], [1.0, 1.0]])
GATES: dict[str, np.ndarray] = {
    "AND": np.array([0.0, 0.0, 0.0, 1.0]),
    "OR": np.array([0.0, 1.0, 1.0, 1.0]),
    "XOR": np.array([0.0, 1.0, 1.0, 0.0]),
}


def truth(gate: str) -> np.ndarray:
    if gate not in GATES:
        raise ValueError(f"unknown gate {gate!r}; choose one of {', '.join(GATES)}")
    return GATES[gate]


# -- the single perceptron (Rosenblatt's rule, a step function as activation) ------------------------------
@dataclass(frozen=True)
class PerceptronHistory:
    weights: np.ndarray  # [epochs + 1, 2]
    bias: np.ndarray  # [epochs + 1]
    accuracy: np.ndarray  # [epochs + 1], on the four rows of the truth table
    errors: np.ndarray  # [epochs + 1], wrong rows


def step(z: np.ndarray) -> np.ndarray:
    return (np.asarray(z) >= 0).astype(float)


def perceptron_outputs(w: np.ndarray, b: float, x: np.ndarray = INPUTS) -> np.ndarray:
    return step(x @ w + b)


def train_perceptron(gate: str, epochs: int, lr: float = 0.1, seed: int = 0) -> PerceptronHistory:
    """The perceptron learning rule, one row at a time: w += lr * (target - output) * x."""
    target = truth(gate)
    rng = np.random.default_rng(seed)
    w, b = rng.normal(0, 0.5, 2), float(rng.normal(0, 0.5))
    ws, bs = [w.copy()], [b]
    for _ in range(epochs):
        for x, t in zip(INPUTS, target, strict=False):
            error = t - float(step(x @ w + b))
            w, b = w + lr * error * x, b + lr * error
        ws.append(w.copy())
        bs.append(b)
    weights, bias = np.array(ws), np.array(bs)
    outputs = step(np.einsum("ek,nk->en", weights, INPUTS) + bias[:, None])
    wrong = (outputs != target).sum(axis=1)
    return PerceptronHistory(weights, bias, 1 - wrong / len(target), wrong)


# -- the two-layer perceptron: sigmoid hidden layer, sigmoid output, binary cross-entropy -----------------
@dataclass(frozen=True)
class Net:
    w1: np.ndarray  # [2, hidden]
    b1: np.ndarray  # [hidden]
    w2: np.ndarray  # [hidden]
    b2: float


@dataclass(frozen=True)
class MLPHistory:
    nets: list[Net]  # after each epoch, the first one untrained
    loss: np.ndarray  # [epochs + 1]
    accuracy: np.ndarray  # [epochs + 1]


def sigmoid(z: np.ndarray) -> np.ndarray:
    return 1.0 / (1.0 + np.exp(-z))


def init_net(hidden: int, seed: int) -> Net:
    rng = np.random.default_rng(seed)
    return Net(rng.normal(0, 1, (2, hidden)), np.zeros(hidden), rng.normal(0, 1, hidden), 0.0)


def forward(net: Net, x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(hidden activations [n, hidden], outputs [n]) for inputs x [n, 2]."""
    h = sigmoid(x @ net.w1 + net.b1)
    return h, sigmoid(h @ net.w2 + net.b2)


def bce(y: np.ndarray, target: np.ndarray) -> float:
    y = np.clip(y, 1e-12, 1 - 1e-12)
    return float(-(target * np.log(y) + (1 - target) * np.log(1 - y)).mean())


def backprop(net: Net, x: np.ndarray, target: np.ndarray) -> Net:
    """The gradient of the mean binary cross-entropy w.r.t. every weight, by the chain rule layer by layer
    (returned as a Net of gradients). Sigmoid + cross-entropy: dL/dz_out = y - target."""
    h, y = forward(net, x)
    n = len(x)
    d_out = (y - target) / n  # [n]
    d_hidden = np.outer(d_out, net.w2) * h * (1 - h)  # [n, hidden]: back through w2 and the sigmoid
    return Net(x.T @ d_hidden, d_hidden.sum(axis=0), h.T @ d_out, float(d_out.sum()))


def train_mlp(gate: str, hidden: int, epochs: int, lr: float = 1.0, seed: int = 0) -> MLPHistory:
    """Full-batch gradient descent on the four rows with the hand-written backpropagation."""
    target = truth(gate)
    net = init_net(hidden, seed)
    nets = [net]
    for _ in range(epochs):
        g = backprop(net, INPUTS, target)
        net = Net(net.w1 - lr * g.w1, net.b1 - lr * g.b1, net.w2 - lr * g.w2, net.b2 - lr * g.b2)
        nets.append(net)
    outputs = [forward(n, INPUTS)[1] for n in nets]
    loss = np.array([bce(y, target) for y in outputs])
    accuracy = np.array([((y >= 0.5) == target).mean() for y in outputs])
    return MLPHistory(nets, loss, accuracy)


def autograd_gradients(net: Net, x: np.ndarray, target: np.ndarray) -> Net:
    """The same gradients from PyTorch's autograd: the independent answer the hand-computed ones are checked
    against on the page and in the tests."""
    import torch

    params = [torch.tensor(np.asarray(v, dtype=np.float64), requires_grad=True)
              for v in (net.w1, net.b1, net.w2, net.b2)]
    w1, b1, w2, b2 = params
    xt, tt = torch.tensor(x, dtype=torch.float64), torch.tensor(target, dtype=torch.float64)
    y = torch.sigmoid(torch.sigmoid(xt @ w1 + b1) @ w2 + b2)
    torch.nn.functional.binary_cross_entropy(y, tt).backward()
    return Net(*(p.grad.numpy() for p in params[:3]), float(params[3].grad))


def gradient_rows(net: Net, grads: Net, checks: Net) -> list[tuple[str, float, float, float]]:
    """(weight name, value, hand-computed gradient, autograd gradient) for every weight of the net."""
    rows = []
    hidden = len(net.b1)
    for j in range(hidden):
        for i in range(2):
            rows.append((f"w1[x{i + 1}→h{j + 1}]", net.w1[i, j], grads.w1[i, j], checks.w1[i, j]))
        rows.append((f"b1[h{j + 1}]", net.b1[j], grads.b1[j], checks.b1[j]))
    for j in range(hidden):
        rows.append((f"w2[h{j + 1}→y]", net.w2[j], grads.w2[j], checks.w2[j]))
    rows.append(("b2[y]", net.b2, grads.b2, checks.b2))
    return [(name, float(v), float(g), float(c)) for name, v, g, c in rows]


def grid_outputs(predict, size: int = 41) -> tuple[np.ndarray, np.ndarray]:
    """Coordinates and the model's output on a size x size grid over [-0.25, 1.25]^2: the decision map."""
    axis = np.linspace(-0.25, 1.25, size)
    xx, yy = np.meshgrid(axis, axis)
    points = np.column_stack([xx.ravel(), yy.ravel()])
    return axis, np.asarray(predict(points)).reshape(size, size)
