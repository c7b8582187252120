"""What a run will cost before it starts: parameters, memory, the weights file and a rough time, worked out from its
config alone (no torch: the CLI and the Train form ask on every edit), and the check that refuses a run that does
not fit the server (`check_fits`) or a model too big to load in the web server (`check_web_fits`).

Memory is counted as the trainer really allocates it (mnist_core/training.py), in float32:
- the dataset: the raw uint8 images in memory, the run's images normalised once (`_to_device`), and while they are
  split all 60,000 training images normalised at once (before any model exists);
- the model: weights, gradients and the optimizer's state (Adam/AdamW 2 copies, momentum/nesterov/adagrad/rmsprop 1);
- one training step: the batch's activations that autograd keeps for the backward pass (exactly as PyTorch saves
  them: tests/unit/test_cost.py counts the saved tensors) plus the gradients in flight, layer by layer;
- one evaluation batch (`evaluation.evaluate`: 2,000 images, no autograd): a layer's input and output at once;
- at the end, the optimizer state copied for the weights file (while the optimizer still holds its own), then the
  file serialised in memory to write it (the optimizer gone by then).
The peak: the dataset, plus the largest of the split, (model + that copy + the larger of step and evaluation) and
(model + file). These are PyTorch's live tensors. A real process's peak (RSS) measured 0.9-1.0x of it for runs of
large tensors (tests/unit/test_cost.py checks two), up to 1.65x for runs of many small batches: the C allocator
keeps their freed buffers (1.1x with MALLOC_MMAP_THRESHOLD_ fixed). The budget's share of RAM leaves room for that.
"""

from __future__ import annotations

from dataclasses import dataclass

from mnist_core import settings
from mnist_core.config import TRAIN_SET_SIZE, TrainConfig

FLOAT = 4  # bytes of a float32
IMAGE = 28 * 28
TEST_SET_SIZE = 10_000
EVAL_BATCH = 2_000  # evaluation.evaluate's batch
# Optimizer state in copies of the weights (torch's own: exp_avg + exp_avg_sq, momentum_buffer, sum, square_avg).
OPTIMIZER_COPIES = {"sgd": 0, "momentum": 1, "nesterov": 1, "adagrad": 1, "rmsprop": 1, "adam": 2, "adamw": 2}
# Optimizer state tensors per parameter in the weights file ("step": a float32 scalar).
OPTIMIZER_KEYS = {"sgd": (), "momentum": ("momentum_buffer",), "nesterov": ("momentum_buffer",),
                  "adagrad": ("step", "sum"), "rmsprop": ("step", "square_avg"),
                  "adam": ("step", "exp_avg", "exp_avg_sq"), "adamw": ("step", "exp_avg", "exp_avg_sq")}
ACTIVATION_KINDS = {"relu": "ReLU", "sigmoid": "Sigmoid", "tanh": "Tanh", "leaky_relu": "LeakyReLU", "gelu": "GELU"}
# What autograd keeps for the backward pass: these layers' backward reads their own output...
SAVES_OUTPUT = {"ReLU", "Sigmoid", "Tanh"}
# ...these read their input (a Linear or Conv2d also its weight, which is counted with the model).
SAVES_INPUT = {"Linear", "Conv2d", "MaxPool2d", "LeakyReLU", "GELU"}
LOSS_SAVED = 10 + 2  # cross_entropy keeps log_softmax's output (10 floats) and the int64 target (2 floats' bytes)
# Rough time on this server (2 CPU cores), from `make bench` (README, "Benchmark"): the MLP's matrix products alone
# run at ~290 GFLOP/s (180,000 samples/s x 1.61 MFLOP), and the rest of an iteration (autograd, the optimizer step,
# the batch gather) costs ~0.7 ms (1.24 ms per 100-image iteration of mlp-3, 0.54 ms of it products). The lenet CNN
# trains 6,000 samples/s: 16.7 ms per 100 images of 1.81 GFLOP, 16 ms without those 0.7 ms, so ~113 GFLOP/s
# (convolutions use the cores less well). Rough: other runs share the cores, and a GPU is many times faster.
MLP_FLOPS_PER_S = 290e9
CNN_FLOPS_PER_S = 113e9
ITERATION_S = 0.0007
# Weights-file metadata besides the config (safetensors header): mean, std, run id, the run's name (at most ~80
# characters of UTF-8), the optimizer's hyperparameters as JSON (~250 bytes + the parameter indices), a temperature.
METADATA_ALLOWANCE = 640


@dataclass(frozen=True)
class LayerCost:
    """One layer as build_model makes it (same name, kind, per-sample output shape and parameters), with what it
    costs per sample: multiply-adds of its forward pass and float32 values autograd keeps for the backward pass."""

    name: str
    kind: str
    output_shape: tuple[int, ...]
    params: int
    macs: int
    saved: int = 0
    field: str = "hidden"  # the setting that sizes it: "hidden" or "conv_channels"

    @property
    def size(self) -> int:
        n = 1
        for d in self.output_shape:
            n *= d
        return n


@dataclass(frozen=True)
class RunCost:
    """A run's cost before it starts; all sizes in bytes."""

    config: TrainConfig
    layers: tuple[LayerCost, ...]
    parameters: int
    dataset_bytes: int  # the raw dataset and the run's normalised images, labels and bookkeeping
    split_bytes: int  # all training images normalised at once while the run's split is copied (before the model)
    model_bytes: int  # weights + gradients + optimizer state
    state_copy_bytes: int  # the optimizer state copied at the end, for the weights file
    batch_bytes: int  # one training step: activations kept for backward + gradients in flight
    eval_bytes: int  # one evaluation batch of 2,000 images
    weights_file_bytes: int
    flops: float  # training (forward + backward: 3x forward) and evaluation (forward) together
    seconds: float  # rough, on this server's CPUs

    @property
    def memory_bytes(self) -> int:
        """The run's peak."""
        training = self.model_bytes + self.state_copy_bytes + max(self.batch_bytes, self.eval_bytes)
        return self.dataset_bytes + max(self.split_bytes, training, self.model_bytes + self.weights_file_bytes)

    @property
    def web_bytes(self) -> int:
        """Loading the model in the web server and reading one drawing: weights.load_model reads the whole file and
        unpacks every tensor in it, optimizer state too (2 x file), then builds the network beside the unpacked
        tensors (file + weights). Measured: 133 MB for a 66 MB file; the issue's 3.36 GB for the largest network
        is 2 x 1.45 GB plus the web server's own."""
        drawing = sum(layer.size for layer in self.layers) * FLOAT
        file = self.weights_file_bytes
        return max(2 * file, file + self.parameters * FLOAT) + drawing

    def biggest_memory_field(self) -> str:
        """The setting to change to need less memory: the one behind the biggest part of the peak."""
        parts = {"train_limit": self.split_bytes + self.dataset_bytes,
                 self.params_field(): self.model_bytes + self.state_copy_bytes + self.weights_file_bytes}
        step, evaluation = ("batch_size", self.batch_bytes), (self._widest_eval_field(), self.eval_bytes)
        field, size = max(step, evaluation, key=lambda part: part[1])
        parts[field] = max(parts.get(field, 0), size)
        return max(parts, key=lambda name: parts[name])

    def params_field(self) -> str:
        """The setting behind most of the parameters (and so of the weights file)."""
        by_field: dict[str, int] = {}
        for layer in self.layers:
            by_field[layer.field] = by_field.get(layer.field, 0) + layer.params
        return max(by_field, key=lambda name: by_field[name])

    def _widest_eval_field(self) -> str:
        return max(self.layers, key=lambda layer: layer.size).field


class RunTooLarge(ValueError):
    """A run (or a model to draw with) that does not fit the server, refused before anything is stored or loaded.
    As data for the app to word: `resource` ("memory": the run's peak, "disk": its weights file, "web": loading it in
    the web server), `field` (the setting to make smaller), `need` and `budget` in bytes."""

    WHAT = {"memory": "memory", "disk": "a weights file", "web": "memory to load it in the web server"}
    SETTING = {"memory": settings.RUN_MEMORY_ENV, "disk": settings.RUN_DISK_ENV, "web": settings.WEB_MODEL_ENV}

    def __init__(self, resource: str, field: str, need: int, budget: int) -> None:
        self.resource, self.field, self.need, self.budget = resource, field, int(need), int(budget)
        super().__init__(f"this run needs about {_mb(need)} of {self.WHAT[resource]}, more than the {_mb(budget)} "
                         f"allowed ({self.SETTING[resource]}): make {field} smaller")


def _mb(size: float) -> str:
    return f"{size / settings.MB:,.0f} MB"


def layers(config: TrainConfig) -> tuple[LayerCost, ...]:
    """The network build_model makes for `config`, layer by layer, without building it."""
    rows: list[LayerCost] = []
    act = ACTIVATION_KINDS[config.activation]

    def add(kind: str, shape: tuple[int, ...], params: int = 0, macs: int = 0, field: str = "hidden") -> None:
        rows.append(LayerCost(str(len(rows)), kind, shape, params, macs, field=field))

    if config.model == "cnn":
        c1, c2 = config.conv_channels
        for c_in, c_out, side in ((1, c1, 28), (c1, c2, 14)):
            add("Conv2d", (c_out, side, side), c_out * c_in * 25 + c_out, c_out * side * side * c_in * 25,
                "conv_channels")
            add(act, (c_out, side, side), field="conv_channels")
            add("MaxPool2d", (c_out, side // 2, side // 2), field="conv_channels")
        add("Flatten", (c2 * 49,), field="conv_channels")
    else:
        add("Flatten", (IMAGE,))
    features = rows[-1].size
    for units in config.hidden:
        add("Linear", (units,), features * units + units, features * units)
        add(act, (units,))
        if config.dropout > 0:
            add("SeededDropout", (units,))
        features = units
    add("Linear", (10,), features * 10 + 10, features * 10, "hidden" if config.hidden or config.model == "mlp"
        else "conv_channels")
    return _with_saved(rows)


def _with_saved(rows: list[LayerCost]) -> tuple[LayerCost, ...]:
    """Each layer's values kept for backward per sample: its output when it or its consumer reads it back (a
    Flatten is a view: the layer after it decides), max pooling's int64 indices, dropout's mask."""
    out = []
    for i, layer in enumerate(rows):
        consumer = next((r.kind for r in rows[i + 1 :] if r.kind != "Flatten"), "")
        kept = layer.kind != "Flatten" and (layer.kind in SAVES_OUTPUT or consumer in SAVES_INPUT)
        extra = {"MaxPool2d": 2 * layer.size, "SeededDropout": layer.size}.get(layer.kind, 0)
        out.append(LayerCost(layer.name, layer.kind, layer.output_shape, layer.params, layer.macs,
                             (layer.size if kept else 0) + extra, layer.field))
    return tuple(out)


def saved_per_sample(network: tuple[LayerCost, ...]) -> int:
    """Float32 values autograd keeps per sample from forward to backward: the input image (the first layer reads
    it), every layer's kept values, and the loss's."""
    return IMAGE + sum(layer.saved for layer in network) + LOSS_SAVED


def _step_per_sample(network: tuple[LayerCost, ...]) -> int:
    """A training step's peak per sample, in float32 values: at the end of the forward pass everything saved plus
    the logits; in the backward pass, at each layer, what the layers before it still keep (a layer's saved values
    go once its backward has run) plus the gradient reaching it and the one it passes on. The logits stay (the
    epoch's accuracy reads them after the step). The CNN's last pooling gets its gradient from the Flatten in the
    plain layout while its input is channels_last (the trainer's format on the CPU): PyTorch converts the gradient
    and makes a second gradient for the input, measured with backward hooks as 2.5 inputs at once, not one."""
    logits = 10
    peak = saved_per_sample(network) + logits
    kept, inputs = IMAGE, 0  # no gradient for the images themselves
    for i, layer in enumerate(network):
        kept += layer.saved
        if layer.kind != "Flatten":  # a view: its gradient is the next layer's, reshaped
            mixed = i + 1 < len(network) and layer.kind == "MaxPool2d" and network[i + 1].kind == "Flatten"
            copies = inputs + 2 * layer.size if mixed else 0
            peak = max(peak, kept + layer.size + inputs + copies + logits)
            inputs = layer.size
    return peak


def _eval_per_sample(network: tuple[LayerCost, ...]) -> int:
    """Without autograd a layer's input is freed once its output exists: the peak is the widest input + output
    (max pooling's indices included, as PyTorch's CPU pooling may compute them anyway)."""
    widest, previous = 0, IMAGE
    for layer in network:
        if layer.kind == "Flatten":
            continue
        pool = 2 * layer.size if layer.kind == "MaxPool2d" else 0
        widest, previous = max(widest, previous + layer.size + pool), layer.size
    return widest


def weights_file_bytes(config: TrainConfig, network: tuple[LayerCost, ...]) -> int:
    """The safetensors file save_model writes at the end of the run: an 8-byte length, a JSON header (each
    tensor's name, shape and offsets, and the metadata) padded to 8 bytes, then the weights and optimizer state."""
    shapes: list[tuple[str, tuple[int, ...]]] = []
    for layer in network:
        if layer.kind in ("Linear", "Conv2d"):
            c_out = layer.output_shape[0]
            c_in = layer.params // c_out - 1
            weight = (c_out, c_in // 25, 5, 5) if layer.kind == "Conv2d" else (c_out, c_in)
            shapes += [(f"{layer.name}.weight", weight), (f"{layer.name}.bias", (c_out,))]
    optimizer: list[tuple[str, tuple[int, ...]]] = []
    for index, (_name, shape) in enumerate(shapes):
        optimizer += [(f"optimizer.{index}.{key}", () if key == "step" else shape)
                      for key in OPTIMIZER_KEYS[config.optimizer]]
    header = len(config.to_json()) + METADATA_ALLOWANCE + 4 * len(shapes)
    data = 0
    for name, shape in shapes + optimizer:
        size = FLOAT
        for d in shape:
            size *= d
        dims = ",".join(map(str, shape))
        entry = f'"{name}":{{"dtype":"F32","shape":[{dims}],"data_offsets":[{data},{data + size}]}},'
        header, data = header + len(entry), data + size
    return 8 + (header + 7) // 8 * 8 + data


def run_cost(config: TrainConfig) -> RunCost:
    """Everything a run of `config` will cost, from the config alone (valid configs only)."""
    network = layers(config)
    parameters = sum(layer.params for layer in network)
    copies = OPTIMIZER_COPIES[config.optimizer]
    train, val = config.train_samples, config.val_size
    images = train + val + TEST_SET_SIZE
    # Raw uint8 images and int64 labels; the run's float32 copies, their labels, each epoch's order and predictions.
    dataset = (TRAIN_SET_SIZE + TEST_SET_SIZE) * (IMAGE + 8) + images * (IMAGE * FLOAT + 8) + train * 16
    batch = config.batch_size * FLOAT * _step_per_sample(network)
    macs = sum(layer.macs for layer in network)
    flops = 6 * macs * train * config.epochs + 2 * macs * (val * config.epochs + TEST_SET_SIZE)
    speed = CNN_FLOPS_PER_S if config.model == "cnn" else MLP_FLOPS_PER_S
    return RunCost(
        config=config, layers=network, parameters=parameters, dataset_bytes=dataset,
        split_bytes=TRAIN_SET_SIZE * IMAGE * FLOAT, model_bytes=parameters * FLOAT * (2 + copies),
        state_copy_bytes=parameters * FLOAT * copies,
        batch_bytes=batch, eval_bytes=EVAL_BATCH * FLOAT * _eval_per_sample(network),
        weights_file_bytes=weights_file_bytes(config, network), flops=flops,
        seconds=flops / speed + config.total_iterations * ITERATION_S,
    )


def check_fits(config: TrainConfig) -> RunCost:
    """The run's cost, or RunTooLarge when its memory or weights file is over this server's budget for one run
    (settings.run_memory_bytes, settings.run_disk_bytes). ConfigError for an invalid config."""
    cost = run_cost(config.validated())
    memory_budget = settings.run_memory_bytes()
    if cost.memory_bytes > memory_budget:
        raise RunTooLarge("memory", cost.biggest_memory_field(), cost.memory_bytes, memory_budget)
    disk_budget = settings.run_disk_bytes()
    if cost.weights_file_bytes > disk_budget:
        raise RunTooLarge("disk", cost.params_field(), cost.weights_file_bytes, disk_budget)
    return cost


def check_web_fits(config: TrainConfig) -> RunCost:
    """The model's cost, or RunTooLarge when loading it in the web server and reading one drawing would need more
    than settings.web_model_bytes: checked before a byte of its file is read."""
    cost = run_cost(config)
    budget = settings.web_model_bytes()
    if cost.web_bytes > budget:
        raise RunTooLarge("web", cost.params_field(), cost.web_bytes, budget)
    return cost
