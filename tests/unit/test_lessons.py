"""The facts the /learn lessons teach, checked against independent answers (torch's DataLoader, autograd,
torch.optim, nn.CrossEntropyLoss), so a lesson can never show a wrong number."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from torch.utils.data import DataLoader

from mnist_core.config import PRESETS
from mnist_core.lessons import batches, course_table, descent, neuron, optimizers, perceptron, softmax


# -- lesson 1: epoch, batch size, iteration --------------------------------------------------------------------
@pytest.mark.parametrize("size,batch,drop_last", [(100, 1, False), (100, 10, False), (100, 100, False),
                                                    (60_000, 100, False), (55_000, 128, False),
                                                    (55_000, 128, True), (1000, 7, True), (5, 10, False),
                                                    (5, 10, True), (50_000, 10, False)])
def test_iterations_per_epoch_are_what_dataloader_gives(size: int, batch: int, drop_last: bool) -> None:
    loader = DataLoader(range(size), batch_size=batch, drop_last=drop_last)
    plan = batches.batch_plan(size, batch, drop_last, epochs=3)
    assert plan.iterations_per_epoch == len(loader)
    assert plan.batch_sizes() == [len(b) for b in loader]
    assert plan.total_iterations == 3 * len(loader)
    assert plan.samples_per_epoch == sum(len(b) for b in loader)


def test_the_mock_exam_of_the_course() -> None:
    assert [batches.exam_updates(b) for b in (1, 10, 100)] == [100, 10, 1]
    # the course's other numbers: 50,000 examples in batches of 10 -> 5,000 updates; MNIST 60,000 / 100 -> 600
    assert batches.batch_plan(50_000, 10, False, 1).iterations_per_epoch == 5_000
    assert batches.batch_plan(60_000, 100, False, 1).iterations_per_epoch == 600


def test_batch_comparison_sees_the_same_samples_with_each_batch_size() -> None:
    configs = batches.batch_comparison(epochs=4)
    assert sorted(configs) == [1, 32, batches.COMPARE_SAMPLES]
    seen = {b: c.epochs * c.train_samples for b, c in configs.items()}
    assert len(set(seen.values())) == 1
    assert configs[batches.COMPARE_SAMPLES].iterations_per_epoch == 1  # the full batch: gradient descent
    assert {c.replace(batch_size=1) for c in configs.values()} == {configs[1]}  # only the batch size differs


def test_a_nonsense_batch_plan_names_the_number() -> None:
    with pytest.raises(ValueError, match="batch_size"):
        batches.batch_plan(100, 0, False, 1)


# -- lesson 2: GD, SGD, mini-batch ---------------------------------------------------------------------------
def test_descent_counts_updates_and_samples_and_gd_goes_downhill() -> None:
    points = descent.make_points()
    gd = descent.descend(points, len(points.x), lr=0.1, epochs=5)
    sgd = descent.descend(points, 1, lr=0.1, epochs=5)
    mini = descent.descend(points, 10, lr=0.1, epochs=5)
    assert (len(gd.wb) - 1, len(mini.wb) - 1, len(sgd.wb) - 1) == (5, 50, 500)
    assert gd.samples[-1] == mini.samples[-1] == sgd.samples[-1] == 5 * len(points.x)
    assert np.all(np.diff(gd.loss) < 0)  # full-batch steps with a small rate never go up on a bowl
    assert sgd.loss[-1] < gd.loss[-1]  # same data used: the many small steps got further


def test_descent_gradient_matches_autograd() -> None:
    points = descent.make_points()
    w = torch.tensor(0.3, dtype=torch.float64, requires_grad=True)
    b = torch.tensor(-0.7, dtype=torch.float64, requires_grad=True)
    x, y = torch.tensor(points.x), torch.tensor(points.y)
    ((w * x + b - y) ** 2).mean().backward()
    assert descent.gradient(points.x, points.y, 0.3, -0.7) == pytest.approx((float(w.grad), float(b.grad)), rel=1e-9)
    assert float(descent.mse(points, 0.3, -0.7)) == pytest.approx(float(((0.3 * x - 0.7 - y) ** 2).mean()))


def test_least_squares_is_the_bottom_of_the_bowl() -> None:
    points = descent.make_points()
    w, b = descent.least_squares(points)
    best = float(descent.mse(points, w, b))
    for dw, db in ((0.01, 0), (-0.01, 0), (0, 0.01), (0, -0.01)):
        assert float(descent.mse(points, w + dw, b + db)) > best


# -- lesson 3: optimizers, step by step against torch.optim --------------------------------------------------
TORCH_OPTIMIZERS = {
    "sgd": lambda p, lr: torch.optim.SGD(p, lr=lr),
    "momentum": lambda p, lr: torch.optim.SGD(p, lr=lr, momentum=0.9),
    "nesterov": lambda p, lr: torch.optim.SGD(p, lr=lr, momentum=0.9, nesterov=True),
    "adagrad": lambda p, lr: torch.optim.Adagrad(p, lr=lr),
    "rmsprop": lambda p, lr: torch.optim.RMSprop(p, lr=lr),
    "adam": lambda p, lr: torch.optim.Adam(p, lr=lr),
}
TORCH_LOSSES = {
    "bowl": lambda p: 0.5 * p[0] ** 2 + 10 * p[1] ** 2,
    "rosenbrock": lambda p: (1 - p[0]) ** 2 + 100 * (p[1] - p[0] ** 2) ** 2,
    "saddle": lambda p: p[0] ** 2 - p[1] ** 2 + 0.25 * p[1] ** 4,
}


@pytest.mark.parametrize("surface", list(optimizers.SURFACES))
@pytest.mark.parametrize("name", optimizers.UPDATE_RULES)
def test_each_optimizer_walks_the_path_torch_optim_walks(surface: str, name: str) -> None:
    s = optimizers.SURFACES[surface]
    lr, steps = s.default_lr[name], 60
    ours = optimizers.optimize(s, name, lr, steps)
    p = torch.tensor(s.start, dtype=torch.float64, requires_grad=True)
    opt = TORCH_OPTIMIZERS[name]([p], lr)
    theirs = [p.detach().clone().numpy()]
    for _ in range(steps):
        opt.zero_grad()
        TORCH_LOSSES[surface](p).backward()
        opt.step()
        theirs.append(p.detach().clone().numpy())
    np.testing.assert_allclose(ours, np.array(theirs), rtol=1e-7, atol=1e-9)


@pytest.mark.parametrize("surface", list(optimizers.SURFACES))
def test_every_default_learning_rate_makes_progress(surface: str) -> None:
    s = optimizers.SURFACES[surface]
    for name in optimizers.UPDATE_RULES:
        losses = optimizers.path_losses(s, optimizers.optimize(s, name, s.default_lr[name], 500))
        assert losses[-1] < losses[0], name


def test_a_diverging_optimizer_stops_at_its_last_finite_point() -> None:
    s = optimizers.SURFACES["bowl"]
    path = optimizers.optimize(s, "sgd", 0.2, 200)  # above 2/20: the steep direction explodes
    assert path.shape == (201, 2) and np.all(np.isfinite(path))
    assert np.abs(path).max() <= 1e6


# -- lesson 4: perceptron and MLP ---------------------------------------------------------------------------
@pytest.mark.parametrize("gate", ["AND", "OR"])
def test_the_perceptron_learns_and_and_or(gate: str) -> None:
    assert perceptron.train_perceptron(gate, epochs=50).accuracy[-1] == 1.0


@pytest.mark.parametrize("seed", range(5))
def test_the_perceptron_never_gets_xor_right(seed: int) -> None:
    history = perceptron.train_perceptron("XOR", epochs=500, seed=seed)
    assert history.accuracy.max() < 1.0


def test_no_straight_line_separates_xor() -> None:
    # The fact behind the lesson, independent of the learning rule: a dense grid of weights and biases.
    grid = np.linspace(-3, 3, 61)
    w1, w2, b = np.meshgrid(grid, grid, grid, indexing="ij")
    out = (perceptron.INPUTS[:, 0, None, None, None] * w1 + perceptron.INPUTS[:, 1, None, None, None] * w2 + b) >= 0
    right = (out == perceptron.GATES["XOR"][:, None, None, None].astype(bool)).sum(axis=0)
    assert right.max() == 3


@pytest.mark.parametrize("hidden", [2, 4])
def test_the_mlp_solves_xor(hidden: int) -> None:
    history = perceptron.train_mlp("XOR", hidden, epochs=1500, lr=2.0)
    assert history.accuracy[-1] == 1.0
    assert history.loss[-1] < 0.05


@pytest.mark.parametrize("row", range(4))
def test_hand_computed_backprop_equals_autograd(row: int) -> None:
    net = perceptron.init_net(2, seed=3)
    x, t = perceptron.INPUTS[row : row + 1], perceptron.GATES["XOR"][row : row + 1]
    ours, theirs = perceptron.backprop(net, x, t), perceptron.autograd_gradients(net, x, t)
    for mine, check in zip((ours.w1, ours.b1, ours.w2, ours.b2), (theirs.w1, theirs.b1, theirs.w2, theirs.b2),
                           strict=True):
        np.testing.assert_allclose(mine, check, rtol=1e-10, atol=1e-12)
    rows = perceptron.gradient_rows(net, ours, theirs)
    assert len(rows) == 9  # 2x2 + 2 + 2 + 1 weights of the 2-2-1 net
    assert max(abs(r[2] - r[3]) for r in rows) < 1e-12
    assert any(abs(r[2]) > 1e-3 for r in rows)  # not a trivially zero comparison


def test_whole_batch_backprop_equals_autograd() -> None:
    net = perceptron.init_net(4, seed=1)
    ours = perceptron.backprop(net, perceptron.INPUTS, perceptron.GATES["XOR"])
    theirs = perceptron.autograd_gradients(net, perceptron.INPUTS, perceptron.GATES["XOR"])
    np.testing.assert_allclose(ours.w1, theirs.w1, atol=1e-12)
    np.testing.assert_allclose(ours.w2, theirs.w2, atol=1e-12)


# -- lesson 5: neuron, activations, collapsing linear layers ----------------------------------------------------
def test_the_bias_decides_when_no_input_is_on() -> None:
    assert neuron.neuron([0, 0, 0], [2.0, 1.0, 3.0], 0.5).fires  # goes to the party whatever the inputs
    assert not neuron.neuron([0, 0, 0], [2.0, 1.0, 3.0], -0.5).fires
    result = neuron.neuron([1, 0, 1], [2.0, 1.0, 3.0], -4.0)
    assert (result.weighted_sum, result.total, result.fires) == (5.0, 1.0, True)


def test_the_pass_mark_of_60() -> None:
    assert neuron.passes([60.0, 60.0]) == (0.0, True)
    total, passed = neuron.passes([59.9999, 60.0])
    assert not passed and total < 0


@pytest.mark.parametrize("name", [a for a in neuron.ACTIVATIONS if a != "step"])
def test_activation_derivatives_match_the_formulas(name: str) -> None:
    z, f, d = neuron.activation_curve(name)
    formulas = {
        "sigmoid": lambda z: (1 / (1 + np.exp(-z))) * (1 - 1 / (1 + np.exp(-z))),
        "tanh": lambda z: 1 - np.tanh(z) ** 2,
        "relu": lambda z: (z > 0).astype(float),
        "leaky_relu": lambda z: np.where(z > 0, 1.0, 0.1),
    }
    if name in formulas:
        away_from_kink = np.abs(z) > 1e-9
        np.testing.assert_allclose(d[away_from_kink], formulas[name](z)[away_from_kink], atol=1e-12)
    else:  # GELU: against a central difference of its values
        np.testing.assert_allclose(d[1:-1], (f[2:] - f[:-2]) / (z[2] - z[0]), atol=1e-4)


def test_step_has_no_gradient_to_learn_from() -> None:
    _z, f, d = neuron.activation_curve("step")
    assert set(np.unique(f)) == {0.0, 1.0} and not d.any()


@pytest.mark.parametrize("sizes", [[3, 4, 2], [3, 4, 4, 2], [5, 8, 8, 8, 8, 3]])
def test_stacked_linear_layers_are_one_linear_map(sizes: list[int]) -> None:
    result = neuron.collapse_linear(sizes)
    assert result.weight.shape == (sizes[-1], sizes[0])
    np.testing.assert_allclose(result.stacked, result.collapsed, atol=1e-5)
    assert np.abs(result.with_relu - result.collapsed).max() > 1e-2  # an activation breaks the collapse


# -- lesson 6: softmax and cross-entropy ---------------------------------------------------------------------
@pytest.mark.parametrize("logits,true_class", [([0.5, 2.0, 0.3], 0), ([0.1, 0.2, 0.9], 2),
                                                ([3.0, -1.0, 0.0, 2.5, 7.0, 1.0, 0.0, -4.0, 2.0, 0.5], 4),
                                                ([1000.0, 0.0, -1000.0], 1)])
def test_cross_entropy_is_log_softmax_plus_nll(logits: list[float], true_class: int) -> None:
    result = softmax.softmax_lesson(logits, true_class)
    assert abs(result.cross_entropy - result.log_softmax_nll) < 1e-6
    assert abs(result.loss_by_hand - result.cross_entropy) < 1e-6
    assert result.probabilities.sum() == pytest.approx(1.0)
    np.testing.assert_allclose(result.probabilities, torch.softmax(torch.tensor(logits, dtype=torch.float64), 0))


def test_the_course_example_y_pred2_has_the_higher_loss() -> None:
    good = softmax.softmax_lesson([2.0, 0.5, 0.3], 0)
    bad = softmax.softmax_lesson([0.5, 2.0, 0.3], 0)
    assert bad.cross_entropy > good.cross_entropy


def test_a_missing_true_class_is_refused_in_words() -> None:
    with pytest.raises(ValueError, match="true class must be 0 to 2"):
        softmax.softmax_lesson([1.0, 2.0, 3.0], 3)


# -- lesson 9: the course's table ----------------------------------------------------------------------------
def test_the_course_table_is_the_six_presets_with_the_course_numbers() -> None:
    assert [e.course_accuracy for e in course_table.COURSE_TABLE] == [0.42, 0.77, 0.94, 0.9791, 0.9824, 0.9776]
    configs = course_table.course_configs(epochs=3)
    assert list(configs) == ["softmax-sgd", "softmax-adam", "mlp-3", "mlp-3-xavier", "dnn-5-xavier",
                             "dnn-5-dropout"]
    for name, config in configs.items():
        assert config == PRESETS[name].replace(epochs=3)
