"""Benchmark: our trainer against the course's own DataLoader loop, measured side by side in one run.

    python -m mnist_core.bench [--json] [--device cpu]

Same model for both (784-256-256-10, ReLU, Adam lr 1e-3, batch 100, cross-entropy). Also times that model's
matrix products alone (the ceiling any trainer on this machine meets), a drawing's way from a 280x280 canvas to ten
probabilities, and peak memory.
"""

from __future__ import annotations

import argparse
import json
import resource
import statistics
import sys
import time
from collections.abc import Callable

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from mnist_core import settings
from mnist_core.config import TrainConfig, preset_config
from mnist_core.data import DatasetUnavailable, load_dataset, normalize
from mnist_core.models import build_model
from mnist_core.optimizers import make_optimizer
from mnist_core.training import flush_denormals, pick_device, train

LENET_CONFIG = preset_config("lenet", epochs=1, val_size=0)  # Adam lr 1e-3, batch 100, as the default model
FLOP_PER_SAMPLE = 6 * 268_800  # forward 2 x weights, backward twice that, for 784-256-256-10 (268,800 weights)
BENCH_CONFIG = TrainConfig(hidden=(256, 256), optimizer="adam", lr=1e-3, batch_size=100, epochs=1, val_size=0)


def course_samples_per_s(device: torch.device, iterations: int, model: nn.Module | None = None) -> float:
    """The course's loop: ToTensor per sample through DataLoader(batch_size=100, shuffle=True, drop_last=True).
    `model`: a CNN that takes the images as they come ([100, 1, 28, 28]); default the MLP on flattened ones."""
    from torch.utils.data import DataLoader
    from torchvision import datasets, transforms

    dataset = datasets.MNIST(str(settings.data_dir()), train=True, transform=transforms.ToTensor(), download=True)
    loader = DataLoader(dataset, batch_size=100, shuffle=True, drop_last=True)
    torch.manual_seed(0)
    flatten = model is None
    if model is None:
        model = nn.Sequential(nn.Linear(784, 256), nn.ReLU(), nn.Linear(256, 256), nn.ReLU(), nn.Linear(256, 10))
    model = model.to(device)
    criterion = nn.CrossEntropyLoss()
    optimizer = torch.optim.Adam(model.parameters(), lr=1e-3)
    samples, started = 0, 0.0
    for i, (x, y) in enumerate(loader):
        if i == 10:  # warm-up iterations excluded, as for ours (our first epoch includes its own warm-up)
            samples, started = 0, time.perf_counter()
        if i == iterations + 10:
            break
        x, y = (x.view(-1, 784) if flatten else x).to(device), y.to(device)
        optimizer.zero_grad()
        loss = criterion(model(x), y)
        loss.backward()
        optimizer.step()
        samples += len(y)
    if device.type == "cuda":
        torch.cuda.synchronize()
    return samples / (time.perf_counter() - started)


def ours_samples_per_s(device: torch.device, epochs: int) -> float:
    data = load_dataset("mnist")
    train(BENCH_CONFIG.replace(epochs=1, train_limit=6_000), data=data, device=device)  # warm-up
    result = train(BENCH_CONFIG.replace(epochs=epochs), data=data, device=device)
    return result.samples_per_s


def lenet_samples_per_s(device: torch.device, train_limit: int) -> float:
    """Our trainer on the lenet preset (the CNN of the default model), after a short warm-up."""
    data = load_dataset("mnist")
    train(LENET_CONFIG.replace(train_limit=2_000), data=data, device=device)  # warm-up (oneDNN primitives)
    return train(LENET_CONFIG.replace(train_limit=train_limit), data=data, device=device).samples_per_s


def cnn_step_samples_per_s(device: torch.device, iterations: int, channels_last: bool) -> float:
    """The lenet CNN's bare training step (indexed batch, forward, loss, backward, fused Adam) in the default
    (NCHW) or channels_last memory format: whether oneDNN's channels_last kernels would make our trainer faster."""
    data = load_dataset("mnist")
    images = normalize(data.train_images[:10_000], data.mean, data.std).to(device)
    labels = data.train_labels[:10_000].to(device)
    torch.manual_seed(0)
    model = build_model(LENET_CONFIG).to(device)
    if channels_last:
        model = model.to(memory_format=torch.channels_last)
        images = images.contiguous(memory_format=torch.channels_last)
    optimizer = make_optimizer(LENET_CONFIG, model.parameters(), device)

    def step(i: int) -> None:
        rows = torch.arange((i % 100) * 100, (i % 100 + 1) * 100, device=device)
        loss = F.cross_entropy(model(images.index_select(0, rows)), labels.index_select(0, rows))
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()

    return _timed_samples_per_s(step, iterations, device)


def _timed_samples_per_s(iteration: Callable[[int], None], iterations: int, device: torch.device) -> float:
    """Samples per second of `iterations` calls of one 100-image iteration, after 10 warm-up calls."""
    for i in range(10):
        iteration(i)
    started = time.perf_counter()
    for i in range(iterations):
        iteration(i)
    if device.type == "cuda":
        torch.cuda.synchronize()
    return iterations * 100 / (time.perf_counter() - started)


def gemm_ceiling_samples_per_s(device: torch.device, iterations: int) -> float:
    """The same network's matrix products alone, forward and backward, with nothing around them: no autograd,
    activations, loss or optimizer. No trainer built on these products can go faster; it shows what is left."""
    images = load_dataset("mnist").train_images.view(-1, 784).float().to(device)
    w1, w2, w3 = (torch.randn(o, i, device=device) * 0.05 for o, i in ((256, 784), (256, 256), (10, 256)))
    b1, b2, b3 = (torch.zeros(o, device=device) for o in (256, 256, 10))
    order = torch.randperm(len(images), generator=torch.Generator().manual_seed(0)).to(device)

    def products(i: int) -> None:
        x = images.index_select(0, order[(i % 600) * 100 : (i % 600 + 1) * 100])
        h1 = torch.addmm(b1, x, w1.t())
        h2 = torch.addmm(b2, h1, w2.t())
        g3 = torch.addmm(b3, h2, w3.t())  # stands in for the loss gradient: same shape, same cost
        g2 = g3.mm(w3)
        g1 = g2.mm(w2)
        g3.t().mm(h2), g2.t().mm(h1), g1.t().mm(x)  # the three weight gradients

    return _timed_samples_per_s(products, iterations, device)


def lenet_ceiling_samples_per_s(device: torch.device, iterations: int) -> float:
    """The lenet's convolutions and dense products alone, forward and backward (input and weight gradients, as
    aten's kernels compute them), channels_last as our trainer runs them: no activations, pooling, loss,
    autograd or optimizer. The ceiling of any trainer of this CNN on this machine."""
    torch.manual_seed(0)
    model = build_model(LENET_CONFIG).to(device).to(memory_format=torch.channels_last)
    x = torch.randn(100, 1, 28, 28, device=device).contiguous(memory_format=torch.channels_last)
    shapes = []  # each product's input, found by one forward pass

    def keep_input(module: nn.Module, inputs: tuple[torch.Tensor, ...]) -> None:
        shapes.append((module, inputs[0].detach()))

    hooks = [m.register_forward_pre_hook(keep_input) for m in model if isinstance(m, (nn.Conv2d, nn.Linear))]
    with torch.no_grad():
        model(x)
    for hook in hooks:
        hook.remove()
    layers = [(m, inp, torch.randn_like(m(inp) if isinstance(m, nn.Conv2d) else F.linear(inp, m.weight, m.bias)))
              for m, inp in shapes]

    def products(_i: int) -> None:
        with torch.no_grad():
            for module, inp, grad in layers:
                if isinstance(module, nn.Conv2d):
                    F.conv2d(inp, module.weight, module.bias, padding=module.padding)
                    torch.ops.aten.convolution_backward(grad, inp, module.weight, [module.out_channels], [1, 1],
                                                        list(module.padding), [1, 1], False, [0, 0], 1,
                                                        [module is not layers[0][0], True, True])
                else:
                    torch.addmm(module.bias, inp, module.weight.t())
                    grad.mm(module.weight), grad.t().mm(inp)

    return _timed_samples_per_s(products, iterations, device)


def goal_ratios(device: torch.device, repeats: int, iterations: int, epochs: int,
                lenet_samples: int) -> dict[str, list[float]]:
    """The issue's two goals, each measured `repeats` times side by side (each repeat times the course loop, our
    trainer and the ceiling back to back, so load from other programs touches all three alike): our trainer / the
    course's loop (goal >= 5x) and our trainer / the matrix products alone (goal >= 70%), for the MLP and LeNet."""
    ratios: dict[str, list[float]] = {"mlp_vs_course": [], "mlp_vs_ceiling": [], "lenet_vs_course": [],
                                      "lenet_vs_ceiling": []}
    for _repeat in range(repeats):
        course = course_samples_per_s(device, iterations)
        ours = ours_samples_per_s(device, epochs)
        ceiling = gemm_ceiling_samples_per_s(device, iterations * 2)
        ratios["mlp_vs_course"].append(ours / course)
        ratios["mlp_vs_ceiling"].append(ours / ceiling)
        lenet_course = course_samples_per_s(device, max(10, iterations // 3), build_model(LENET_CONFIG))
        lenet_ours = lenet_samples_per_s(device, lenet_samples)
        lenet_ceiling = lenet_ceiling_samples_per_s(device, max(10, iterations // 3))
        ratios["lenet_vs_course"].append(lenet_ours / lenet_course)
        ratios["lenet_vs_ceiling"].append(lenet_ours / lenet_ceiling)
    return ratios


def print_goal_ratios(ratios: dict[str, list[float]]) -> None:
    goals = {"vs_course": (5.0, "the course loop's speed (goal >= 5x)", "{:.2f}x"),
             "vs_ceiling": (0.70, "of the matrix products alone (goal >= 70%)", "{:.0%}")}
    for key, values in ratios.items():
        net, kind = key.split("_", 1)
        goal, words, shown = goals[kind]
        median = statistics.median(values)
        print(f"{net} trainer: {shown.format(median)} {words}, median of {len(values)} side-by-side repeats, "
              f"spread {shown.format(min(values))}-{shown.format(max(values))}: "
              f"{'met' if median >= goal else 'not met'}")


def predict_latency_ms(repeats: int) -> tuple[float, float]:
    """preprocess + predict for genuine test digits drawn large on a 280x280 RGBA canvas, with the default model."""
    from mnist_core.predict import load_default_model, predict_image

    model = load_default_model()
    digits = load_dataset("mnist").test_images[:repeats].numpy()
    canvases = []
    for digit in digits:
        canvas = np.zeros((280, 280, 4), dtype=np.uint8)
        canvas[..., 3] = 255
        canvas[..., :3] = np.kron(digit, np.ones((10, 10), dtype=np.uint8))[..., None]  # 28 -> 280 px strokes
        canvases.append(canvas)
    for canvas in canvases[:10]:
        predict_image(model, canvas)
    times = []
    for canvas in canvases:
        started = time.perf_counter()
        predict_image(model, canvas)
        times.append((time.perf_counter() - started) * 1000)
    quantiles = statistics.quantiles(times, n=100)
    return quantiles[49], quantiles[94]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m mnist_core.bench", description=__doc__.splitlines()[0])
    parser.add_argument("--json", action="store_true", help="end with one JSON line of the figures")
    parser.add_argument("--device", help="cpu, cuda, mps (default: the best available)")
    parser.add_argument("--course-iterations", type=int, default=300, help="iterations of the course loop to time")
    parser.add_argument("--epochs", type=int, default=2, help="epochs of our trainer to time")
    parser.add_argument("--lenet-samples", type=int, default=10_000, help="training images of the lenet run to time")
    parser.add_argument("--repeats", type=int, default=3, help="side-by-side repeats of the goal ratios")
    args = parser.parse_args(argv)
    try:
        load_dataset("mnist")  # before the course loop, whose torchvision download would end in a traceback
    except DatasetUnavailable as exc:
        print(f"mnist_core.bench: error: {exc}", file=sys.stderr)
        return 2
    flush_denormals()  # as the app's and the CLI's training threads do; the course loop runs under it too
    device = pick_device(args.device)

    print(f"device {device}, torch {torch.__version__}, {torch.get_num_threads()} threads", file=sys.stderr)
    course = course_samples_per_s(device, args.course_iterations)
    print(f"course loop (DataLoader + ToTensor): {course:>10,.0f} samples/s")
    ours = ours_samples_per_s(device, args.epochs)
    print(f"our trainer (indexed tensors):       {ours:>10,.0f} samples/s")
    speedup = ours / course
    gflops = ours * FLOP_PER_SAMPLE / 1e9
    print(f"speed-up vs course: {speedup:.1f}x   achieved {gflops:.1f} GFLOP/s")
    ceiling = gemm_ceiling_samples_per_s(device, args.course_iterations * 2)
    print(f"matrix products alone (ceiling): {ceiling:>10,.0f} samples/s = {ceiling / course:.1f}x the course loop; "
          f"our trainer runs at {ours / ceiling:.0%} of it")
    lenet_course = course_samples_per_s(device, max(10, args.course_iterations // 3), build_model(LENET_CONFIG))
    lenet_ours = lenet_samples_per_s(device, args.lenet_samples)
    print(f"lenet (CNN): course loop {lenet_course:,.0f}, our trainer {lenet_ours:,.0f} samples/s = "
          f"{lenet_ours / lenet_course:.1f}x")
    nchw = cnn_step_samples_per_s(device, max(10, args.course_iterations // 3), channels_last=False)
    nhwc = cnn_step_samples_per_s(device, max(10, args.course_iterations // 3), channels_last=True)
    faster = "channels_last" if nhwc > nchw else "the default"
    print(f"lenet training step: default (NCHW) {nchw:,.0f}, channels_last {nhwc:,.0f} samples/s "
          f"({faster} is faster here: {max(nhwc, nchw) / min(nhwc, nchw):.2f}x)")
    ratios = goal_ratios(device, args.repeats, args.course_iterations, args.epochs, args.lenet_samples)
    print_goal_ratios(ratios)
    p50, p95 = predict_latency_ms(300)
    print(f"drawing -> probabilities: p50 {p50:.2f} ms, p95 {p95:.2f} ms")
    peak_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(f"peak memory (RSS): {peak_mb:,.0f} MB")
    if args.json:
        print(json.dumps({
            "device": str(device), "speedup_vs_course": round(speedup, 3), "samples_per_s": round(ours),
            "course_samples_per_s": round(course), "gflops": round(gflops, 2),
            "gemm_ceiling_samples_per_s": round(ceiling), "ceiling_speedup_vs_course": round(ceiling / course, 3),
            "predict_p50_ms": round(p50, 3), "predict_p95_ms": round(p95, 3), "peak_rss_mb": round(peak_mb),
            "lenet_course_samples_per_s": round(lenet_course), "lenet_samples_per_s": round(lenet_ours),
            "lenet_speedup_vs_course": round(lenet_ours / lenet_course, 3),
            "lenet_step_nchw_samples_per_s": round(nchw), "lenet_step_channels_last_samples_per_s": round(nhwc),
            "goal_ratios": {key: [round(v, 3) for v in values] for key, values in ratios.items()},
        }))
    return 0


if __name__ == "__main__":
    sys.exit(main())
