"""AppTest: what a run will cost, on the Train page before it starts; runs and models too big for the server
refused in words (English and Korean) before anything is stored or loaded; an uploaded photo decoded once."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from app.errors import byte_size
from app.i18n import use_language
from app.user_text import markdown_text
from mnist_core import settings
from mnist_core.config import TrainConfig, preset_config
from mnist_core.cost import run_cost
from mnist_core.image_files import MAX_BYTES
from mnist_core.runs.store import RunStore

from app_harness import canvas_rgba, metric, mnist_test_digits, png_bytes, start_app, texts

EN, KO = {"lang": "en"}, {"lang": "ko"}


@pytest.fixture
def budget(runs_root: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """2 GB of memory per run (the default depends on this machine's RAM), the default disk and web limits."""
    monkeypatch.setenv(settings.RUN_MEMORY_ENV, "2048")
    monkeypatch.delenv(settings.RUN_DISK_ENV, raising=False)
    monkeypatch.delenv(settings.WEB_MODEL_ENV, raising=False)
    return runs_root


def lenet_form(app, batch: int, channels: str):
    app.selectbox(key="train_preset").set_value("lenet").run()
    app.number_input(key="train_batch_size").set_value(batch)
    return app.text_input(key="train_conv_channels").set_value(channels).run()


def test_train_shows_what_the_run_costs_beside_the_layer_table(budget: Path) -> None:
    app = start_app("train", query=EN)  # the course's mlp-3
    shown = " ".join(texts(app, "markdown"))
    assert "Memory for one batch of 100 images: about 0.7 MB" in shown
    assert "about 443 MB of the 2.0 GB one run may use on this server" in shown
    assert "Weights file on disk: about 3.1 MB (at most 200 MB per run)" in shown
    assert "Rough training time on this server: 0:1" in shown  # 10-19 s: mlp-3 takes ~10 s here
    assert metric(app, "Parameters") == "269,322"
    assert list(app.dataframe[0].value["parameters"]) == [0, 200_960, 0, 65_792, 0, 2_570]
    assert not app.error


@pytest.mark.parametrize(("query", "refusal", "start_refusal", "label"), [
    (EN, "This run needs about {need} of memory, more than the {budget} one run may use on this server",
     "Could not start the run: ", "make **Batch size** smaller."),
    (KO, "이 실행에는 메모리가 약 {need} 필요한데, 이 서버에서 실행 하나가 쓸 수 있는 {budget}보다 많습니다",
     "실행을 시작하지 못했습니다: ", "**배치 사이즈**를 줄이세요."),
], ids=["en", "ko"])
def test_a_run_too_big_for_the_server_is_refused_naming_the_field(budget: Path, query, refusal, start_refusal,
                                                                 label) -> None:
    need = run_cost(preset_config("lenet", batch_size=55_000, conv_channels=(256, 256))).memory_bytes
    with use_language(query["lang"]):  # AppTest formats widget options in the test's thread
        app = lenet_form(start_app("train", query=query), 55_000, "256, 256")
        sizes = {"need": byte_size(need), "budget": byte_size(2048 * 2**20)}  # "123.9 GB", "2.0 GB"
    (error,) = texts(app, "error")
    assert error.startswith(refusal.format(**sizes)) and error.endswith(label), error
    with use_language(query["lang"]):
        app.button(key="train_start").click().run()
    assert texts(app, "error") == [error, start_refusal + error]  # Start refuses it in the same words
    assert RunStore(budget).list_runs() == []  # nothing stored, nothing queued


def test_wide_convolutions_are_refused_naming_the_channels_and_a_fitting_run_starts(budget: Path) -> None:
    """With the course's batch of 100 the 2,000-image evaluation batch of 256 channels is the biggest part."""
    app = lenet_form(start_app("train", query=EN), 100, "256, 256")
    (error,) = texts(app, "error")
    assert "make **Convolution channels** smaller" in error
    app.text_input(key="train_conv_channels").set_value("16, 32").run()
    assert not app.error
    app.number_input(key="train_epochs").set_value(1)
    app.number_input(key="train_train_limit").set_value(1000).run()
    app.button(key="train_start").click().run()
    (record,) = RunStore(budget).list_runs()
    assert record.config.conv_channels == (16, 32)


def store_big_run(runs_root: Path) -> int:
    """A stopped run of the largest network, as a class's runs store it; its "weights file" is not one, so
    loading it would fail with a damaged-file message: a size refusal shows the file was never read."""
    store = RunStore(runs_root)
    run_id = store.create_run(TrainConfig(hidden=(4096,) * 8, epochs=1), name="huge")
    store.weights_path(run_id).parent.mkdir(parents=True, exist_ok=True)
    store.weights_path(run_id).write_bytes(b"not read")
    store.set_status(run_id, "stopped")
    return run_id


@pytest.mark.parametrize(("query", "words"), [
    (EN, "This model cannot be used: it is too big for this server to load: reading a drawing with it needs about "
         "2.7 GB of memory, more than the 300 MB allowed for one model."),
    (KO, "이 모델은 쓸 수 없습니다: 이 서버가 불러오기에는 너무 큽니다: 이 모델로 그림 하나를 읽으려면 메모리가 약 "
         "2.7기가바이트 필요한데, 모델 하나에 허용되는 300메가바이트보다 많습니다."),
], ids=["en", "ko"])
def test_draw_refuses_a_model_too_big_for_the_web_server_without_loading_it(budget: Path, query, words) -> None:
    run_id = store_big_run(budget)
    app = start_app("draw", query=query)
    app.selectbox(key="draw_model").set_value(run_id).run()
    assert not app.exception
    (error,) = texts(app, "error")
    assert error.startswith(words), error
    assert not [m for m in app.metric if m.label == "Prediction"]


def decodes() -> int:
    """Uploads decoded so far. Imported once the app runs: the canvas component registers only inside Streamlit."""
    from app.draw import pad

    return pad.decodes


def photo(label_index: int) -> tuple[bytes, int]:
    images, labels = mnist_test_digits(label_index + 1)
    paper = 235 - (canvas_rgba(images[label_index])[..., :3].astype(np.int16) * 200 // 255)  # ink on paper
    return png_bytes(paper.astype(np.uint8)), int(labels[label_index])


def test_an_uploaded_photo_is_decoded_once_however_often_the_page_reruns(runs_root: Path) -> None:
    app = start_app("draw")
    first, first_label = photo(0)
    before = decodes()
    app.file_uploader(key="upload_draw").set_value(("one.png", first, "image/png")).run()
    assert metric(app, "Prediction") == str(first_label)
    app.run()
    app.slider(key="draw_stroke").set_value(30).run()  # any widget reruns the whole page
    app.run()
    assert metric(app, "Prediction") == str(first_label)
    assert decodes() - before == 1
    second, second_label = photo(1)
    app.file_uploader(key="upload_draw").set_value(("two.png", second, "image/png")).run()
    app.run()
    assert metric(app, "Prediction") == str(second_label) and decodes() - before == 2


def test_a_bad_upload_is_worded_on_every_rerun_and_read_once(runs_root: Path) -> None:
    app = start_app("draw")
    before = decodes()
    app.file_uploader(key="upload_draw").set_value(("notes.png", b"not an image", "image/png")).run()
    app.run()
    assert texts(app, "error") == [f"Could not read the uploaded file: {markdown_text('notes.png')} is not an image. "
                                   "Upload a photo of a digit saved as PNG or JPEG."]
    assert decodes() - before == 1


def test_an_upload_over_the_size_limit_is_refused_in_words(runs_root: Path) -> None:
    app = start_app("draw")
    assert app.file_uploader(key="upload_draw").proto.max_upload_size_mb == MAX_BYTES // 2**20
    app.file_uploader(key="upload_draw").set_value(("big.png", bytes(6 * 2**20), "image/png")).run()
    assert texts(app, "error") == [f"Could not read the uploaded file: {markdown_text('big.png')} is 6.0 MB, more "
                                   "than the 5.0 MB a photo may have. Upload a smaller photo."]
