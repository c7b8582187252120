"""Every page rendered in Korean (AppTest, ?lang=ko), with real finished runs so the run views, charts and tables
are on screen too: no English word outside an allow-list of technical tokens, and the language choice itself."""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from pathlib import Path

import pytest
from streamlit.testing.v1 import AppTest

from app.i18n import use_language
from mnist_core.runs.store import RunStore

from app_harness import QUICK, button, start_app, texts, train_run, wait_until_finished

# Names, code words and units that stay as they are in Korean text: the course writes them so too.
TECHNICAL_TOKENS = {
    "mnist", "fashion-mnist", "fashion", "cnn", "mlp", "dnn", "sgd", "bgd", "gd", "adam", "adamw", "momentum",
    "nesterov", "adagrad", "rmsprop", "relu", "leaky_relu", "sigmoid", "tanh", "gelu", "xavier", "kaiming",
    "normal", "lenet", "pytorch", "linear", "conv2d", "maxpool2d", "flatten", "dropout", "softmax", "cpu",
    "gpu", "cuda", "mps", "png", "jpeg", "jpg", "csv", "json", "nats", "drop_last", "l2", "epoch", "batch",
    "size", "iteration", "logit", "mlp-3", "mlp-3-xavier", "softmax-sgd", "softmax-adam", "dnn-5-xavier",
    "dnn-5-dropout", "seed", "weight", "decay", "bias", "overfitting", "optimizer", "backpropagation",
    "cross-entropy", "hyperparameter", "parameter", "perceptron", "nn.crossentropyloss", "nn.logsoftmax",
    "nn.nllloss", "loss.backward", "autograd", "logsoftmax", "nllloss", "x", "y", "n", "and", "or", "xor", "slp",
    "nn", "log", "sum", "step", "forward", "backward", "he", "rosenbrock",
}
# The language switch names both languages in their own words, so that either reader finds it.
SWITCH_WORDS = {"English", "Language"}
_ICON = re.compile(r":material/[a-z_]+:")
_CODE = re.compile(r"`[^`]*`")
_URL = re.compile(r"https?://\S+|\]\([^)]*\)")  # a link, or a Markdown link's target
_WORD = re.compile(r"[A-Za-z][A-Za-z0-9_.\-]*[A-Za-z0-9]|[A-Za-z]")
_SCIENTIFIC = re.compile(r"\d(\.\d+)?e[+-]\d+")
# The course glosses a Korean term with its English one in brackets: 학습(training), **드롭아웃**(dropout).
_GLOSS = re.compile(r"([\uac00-\ud7a3][*]*)\s?\([A-Za-z][A-Za-z .\-]*\)")
_SYMBOL = re.compile(r"[A-Za-z]|.*[0-9_].*|[A-Z]?[a-z]+(?:[A-Z][a-z0-9]*)+")
# Proto fields that hold text a student reads (not ids, keys, icons or typed values).
_TEXT_FIELDS = {"body", "label", "help", "placeholder", "options", "content", "caption", "text", "delta"}


def english_words(text: str) -> list[str]:
    """Latin-letter words of `text` that are not technical tokens, after dropping icons, code, links, numbers in
    scientific notation and the course's "term (English)" glosses. A single letter (w, b, x), an identifier with
    digits or underscores (x1, y_pred2) and a CamelCase code name (CrossEntropyLoss) are symbols, not English."""
    text = _URL.sub(" ", _CODE.sub(" ", _ICON.sub(" ", text)))
    text = _GLOSS.sub(r"\1 ", _SCIENTIFIC.sub(" ", text))
    return [w for w in _WORD.findall(text)
            if w.lower().strip(".-") not in TECHNICAL_TOKENS and not _SYMBOL.fullmatch(w)]


def proto_texts(message) -> Iterator[str]:
    """Every string of a protobuf message (recursively) held in a field named in _TEXT_FIELDS."""
    for descriptor, value in message.ListFields():
        values = value if descriptor.is_repeated else [value]
        for item in values:
            if isinstance(item, str):
                if descriptor.name in _TEXT_FIELDS:
                    yield item
            elif hasattr(item, "ListFields"):
                yield from proto_texts(item)


def figure_texts(spec: str) -> Iterator[str]:
    """A plotly figure's title, axis titles, colour bar title and trace names."""
    figure = json.loads(spec)
    layout = figure.get("layout", {})
    for part in ("title", "xaxis", "yaxis"):
        title = layout.get(part, {}) if part == "title" else layout.get(part, {}).get("title", {})
        if isinstance(title, dict) and title.get("text"):
            yield title["text"]
    for trace in figure.get("data", []):
        if trace.get("name") and trace.get("showlegend", True):
            yield trace["name"]
        colorbar = trace.get("colorbar", {}).get("title", {})
        if isinstance(colorbar, dict) and colorbar.get("text"):
            yield colorbar["text"]


def page_texts(node) -> Iterator[str]:
    """Every text on the page and in the sidebar: element protos, figures, and table column titles."""
    proto = getattr(node, "proto", None)
    if getattr(node, "type", "") == "plotly_chart":
        yield from figure_texts(proto.spec)
    elif getattr(node, "type", "") == "arrow_data_frame":
        yield from (str(column) for column in node.value.columns)
    elif proto is not None and hasattr(proto, "ListFields"):
        yield from proto_texts(proto)
    for child in (getattr(node, "children", None) or {}).values():
        yield from page_texts(child)


def english_on_page(app: AppTest, allowed: set[str] = frozenset()) -> list[tuple[str, list[str]]]:
    """(text, its English words) for each text on the page that has some."""
    found = []
    for text in page_texts(app._tree):
        if text.lstrip().startswith("<"):  # st.html: a script or style the page injects, not text a student reads
            continue
        words = [w for w in english_words(text) if w not in allowed | SWITCH_WORDS]
        if words:
            found.append((text, words))
    return found


@pytest.fixture
def korean_runs(runs_root: Path, data_root: Path) -> list[int]:
    """Two real finished runs with Korean names that differ in their optimizer (so Compare shows a table)."""
    store = RunStore(runs_root)
    return [train_run(store, data_root, QUICK.replace(optimizer=optimizer), name=name)
            for optimizer, name in (("sgd", "첫 실행"), ("adam", "두 번째 실행"))]


def test_the_checker_finds_english_and_spares_technical_tokens() -> None:
    assert english_words("학습 시작") == []
    assert english_words(":material/check_circle: **MNIST** 준비됨 · Adam 학습률 0.001 · `python -m x`") == []
    assert english_words("Start training 학습") == ["Start", "training"]
    assert english_words("학습(training) = forward → backward; f(z) = w·x + b; 1.8e-15; y_pred2; "
                         "CrossEntropyLoss") == []
    assert english_words("linear layer 1개") == ["layer"]


PAGES = ["home", "train", "draw", "compare"]


@pytest.mark.parametrize("page", PAGES)
def test_each_page_in_korean_has_no_english_sentence(korean_runs: list[int], page: str) -> None:
    app = start_app(None if page == "home" else page, {"lang": "ko"})
    english = english_on_page(app, allowed={"MNIST", "Playground"})  # the app's name stays as it is
    assert not english, "English on the Korean page:\n" + "\n".join(f"{words}: {text!r}" for text, words in english)
    assert app.title, "the page has no title"


def test_lesson_pages_in_korean_have_no_english_sentence(korean_runs: list[int]) -> None:
    from app.lessons.catalog import LESSONS

    problems = []
    app = start_app(None, {"lang": "ko"})
    for path in ["app/pages/learn/index.py", *(lesson.page_file for lesson in LESSONS)]:
        app.switch_page(path).run()
        assert not app.exception, [e.value for e in app.exception]
        problems += [f"{path}: {words}: {text!r}" for text, words in english_on_page(app, {"MNIST"})]
    assert not problems, "English on the Korean lesson pages:\n" + "\n".join(problems)


def test_the_language_comes_from_the_url_and_the_sidebar_switch_changes_it(runs_root: Path) -> None:
    # AppTest formats the widgets' options in the test's own thread when it reruns: use_language tells that thread
    # the language the page was drawn in (the app's sessions read theirs from the URL and the switch).
    with use_language("ko"):
        app = start_app("train", {"lang": "ko"})
        assert [t.value for t in app.title] == ["신경망 학습하기"]
        switch = app.sidebar.button_group[0]
        assert switch.value == "ko"
        switch.set_value("en").run()
    assert [t.value for t in app.title] == ["Train a network"]
    assert app.query_params["lang"] == "en"  # kept in the URL: a reload or a shared link stays English
    app.sidebar.button_group[0].set_value("ko").run()
    assert [t.value for t in app.title] == ["신경망 학습하기"] and app.query_params["lang"] == "ko"


def test_two_sessions_keep_their_own_language(runs_root: Path) -> None:
    korean, english = start_app("compare", {"lang": "ko"}), start_app("compare", {"lang": "en"})
    with use_language("ko"):  # AppTest formats widget options in the test's thread: tell it the session's language
        korean.run()
    english.run()
    assert korean.query_params["lang"] == "ko" and english.query_params["lang"] == "en"
    assert [t.value for t in korean.title] == ["실행 비교"] and [t.value for t in english.title] == ["Compare runs"]


def test_bad_settings_are_explained_in_korean_with_the_form_labels(runs_root: Path) -> None:
    with use_language("ko"):
        app = start_app("train", {"lang": "ko"})
        app.number_input(key="train_batch_size").set_value(100_000)
        app.text_input(key="train_hidden").set_value("256, lots")
        app.number_input(key="train_epochs").set_value(0)
        button(app, "학습 시작").click().run()
    (message,) = texts(app, "error")
    assert "배치 사이즈: 100000은 쓸 수 없습니다 — 허용 범위: 1부터 55000까지 (학습 데이터 크기;" in message
    assert ("은닉층: “256, lots”는 쓸 수 없습니다 — 허용 범위: 256, 256처럼 쉼표로 구분한 정수 "
            "('lots'는") in message
    assert "에포크: 0은 쓸 수 없습니다 — 허용 범위: 1부터 200까지." in message
    assert not english_on_page(app, {"lots"}), english_on_page(app, {"lots"})  # "lots": what the student typed


def test_a_run_trains_and_finishes_in_korean(runs_root: Path) -> None:
    with use_language("ko"):
        app = start_app("train", {"lang": "ko"})
        app.number_input(key="train_train_limit").set_value(QUICK.train_limit)
        app.number_input(key="train_val_size").set_value(QUICK.val_size)
        app.text_input(key="train_hidden").set_value("32")
        app.number_input(key="train_epochs").set_value(1)
        app.text_input(key="train_name").set_value("한글 실행")
        button(app, "학습 시작").click().run()
    live = " ".join([*texts(app, "caption"), *texts(app, "info"), *(p.proto.text for p in app.get("progress"))])
    assert "한글 실행" in live or "대기" in live or "에포크" in live
    store = RunStore(runs_root)
    (record,) = store.list_runs()
    wait_until_finished(store, [record.id])
    with use_language("ko"):
        app.run()
    summary = " ".join(texts(app, "caption"))
    assert ("**완료** · MNIST · MLP 784-32-10 · relu · 초기화 기본값 · 드롭아웃 0 · adam 학습률 0.001 · "
            "배치 100 · 1 에포크") in summary
    assert {m.label for m in app.metric} >= {"테스트 정확도", "테스트 손실", "학습 시간", "장치"}
    assert not english_on_page(app), english_on_page(app)


def test_a_korean_csv_export_has_korean_headers_and_a_bom(korean_runs: list[int], downloads) -> None:
    import io

    import pandas as pd

    app = start_app("compare", {"lang": "ko"})
    (download,) = [b for b in app.get("download_button") if b.proto.id.endswith("compare_csv")]
    raw = downloads(download)
    assert raw.startswith(b"\xef\xbb\xbf")
    table = pd.read_csv(io.BytesIO(raw), encoding="utf-8-sig")
    assert {"실행", "상태", "옵티마이저", "배치 사이즈", "테스트 정확도 (%)"} <= set(table.columns)
    assert set(table["실행"]) == {"첫 실행", "두 번째 실행"} and set(table["상태"]) == {"완료"}




def failed_runs(store: RunStore, tmp_path: Path, data_root: Path, monkeypatch: pytest.MonkeyPatch) -> dict[str, int]:
    """Runs that failed for real reasons, each as a worker stores it: no dataset and no mirror to download it from,
    a damaged dataset file, a parent deleted before its continuation trained; and the failures of a killed worker,
    an error inside PyTorch and a server restart, stored as the job manager stores them."""
    import socket
    import threading

    from mnist_core.backends.execution import execute_run
    from mnist_core.backends.worker_pool import WorkerLost
    from mnist_core.runs.failures import PROCESS_ENDED, failure_of

    with socket.socket() as s:  # a port nobody listens on: the download fails at once, offline
        s.bind(("127.0.0.1", 0))
        monkeypatch.setenv("MNIST_PLAYGROUND_MIRROR", f"http://127.0.0.1:{s.getsockname()[1]}")
    damaged = tmp_path / "damaged"
    (damaged / "MNIST" / "raw").mkdir(parents=True)
    for name in DATASET_FILES:
        (damaged / "MNIST" / "raw" / name).write_bytes(b"not a gzip file")
    runs = {}
    for reason, root in (("missing", tmp_path / "empty"), ("damaged", damaged)):
        runs[reason] = store.create_run(QUICK, name=f"실패 {len(runs) + 1}")
        execute_run(store, runs[reason], QUICK, stop=threading.Event(), device="cpu", data_root=root)
    parent = store.create_run(QUICK, name="부모 실행")
    runs["orphan"] = store.create_run(QUICK, name="이어 가는 실행", parent_id=parent)
    store.delete(parent)
    execute_run(store, runs["orphan"], QUICK, stop=threading.Event(), device="cpu", data_root=data_root)
    for reason, failure in (("killed", failure_of(WorkerLost(4321, -9))),
                            ("pytorch", failure_of(RuntimeError("CUDA out of memory")))):
        runs[reason] = store.create_run(QUICK, name=f"실패 {len(runs) + 1}")
        store.fail(runs[reason], failure)
    runs["restart"] = store.create_run(QUICK, name="중단된 실행")
    store.set_status(runs["restart"], "interrupted", PROCESS_ENDED)
    return runs


DATASET_FILES = ("train-images-idx3-ubyte.gz", "train-labels-idx1-ubyte.gz", "t10k-images-idx3-ubyte.gz",
                 "t10k-labels-idx1-ubyte.gz")
EXPECTED_KOREAN = {
    "missing": "MNIST를 쓸 수 없습니다",
    "damaged": "MNIST 데이터가 손상되었습니다",
    "orphan": "이 실행이 이어 가는 실행 #",
    "killed": "프로세스(번호 4321)가 강제로 끝났습니다 (시그널 9)",
    "pytorch": "학습 중에 예상하지 못한 오류가 났습니다 (RuntimeError: CUDA out of memory)",
    "restart": "이 실행을 맡은 프로세스가 예기치 않게 끝났습니다",
}


def test_why_a_run_failed_is_said_in_korean(runs_root: Path, data_root: Path, tmp_path: Path,
                                            monkeypatch: pytest.MonkeyPatch) -> None:
    store = RunStore(runs_root)
    runs = failed_runs(store, tmp_path, data_root, monkeypatch)
    assert {reason: store.get(run_id).status for reason, run_id in runs.items()} == {
        **{reason: "failed" for reason in runs}, "restart": "interrupted"}
    for reason, run_id in runs.items():
        with use_language("ko"):
            app = start_app("train", {"lang": "ko", "train_selected_run": str(run_id)})
        assert app.selectbox(key="train_selected_run").value == run_id
        shown = " ".join([*texts(app, "error"), *texts(app, "warning")])
        assert EXPECTED_KOREAN[reason] in shown, (reason, shown)
        # What stays in English: paths and the words of PyTorch's own message, as they were written; and the
        # dataset message's "USB" and "<file>" (a file name's place in a path).
        facts = " ".join(map(str, store.get(run_id).failure.facts.values()))
        allowed = {"MNIST", "Playground", "USB", "file", *english_words(facts), *english_words(str(tmp_path))}
        assert not english_on_page(app, allowed), (reason, english_on_page(app, allowed))
