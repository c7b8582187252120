"""The class set (#20) in a real Chromium, on a server in teacher mode: two students collect digits on Draw (genuine
MNIST test digits traced with the mouse), see the set, measure a run on it against the same computation done here,
fine-tune with their own drawings held out (a run trained by the server's worker processes, its score after shown
when it ends), delete their own; a Korean student's page and refusal; the teacher deletes anyone's, closes collection
and downloads the set as MNIST's own IDX files."""

from __future__ import annotations

import io
import time
import zipfile
from collections.abc import Iterator

import numpy as np
import pytest
from playwright.sync_api import expect

from mnist_core.class_set.idx_files import IMAGES_FILE, LABELS_FILE, read_idx
from mnist_core.class_set.meeting import meet_run
from mnist_core.class_set.samples import ClassSet
from mnist_core.config import PRESETS
from mnist_core.data import load_dataset
from mnist_core.runs.permissions import Actor
from mnist_core.runs.store import RunStore
from mnist_core.training import train

from browser_support import (
    AppServer,
    digit_strokes,
    draw_strokes,
    main,
    mnist_test_digit,
    nav_to,
    open_page,
    own_app_server,
    screenshot,
    sidebar,
    wait_for_idle,
    wait_until,
)
from conftest import raw_test_set

pytestmark = pytest.mark.browser
TEACHER_KEY = "class-set teacher key 5521"
# A small CNN: its one more epoch in a worker takes seconds, so the page shows it training before it shows the result.
PARENT = PRESETS["lenet"].replace(epochs=1, train_limit=3000, val_size=500)
LAST_YEAR = Actor("s-lastyear0000000000000000", "gone")  # an identity this server never knew: anonymous


@pytest.fixture(scope="module")
def app_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[AppServer]:
    yield from own_app_server(tmp_path_factory, "class_set_app", {"MNIST_PLAYGROUND_TEACHER_KEY": TEACHER_KEY})


def collect(page, digit: int, nth: int = 0, shot: str | None = None) -> None:
    """Trace a real MNIST test digit on Draw, wait for the answer, and add it to the class set as `digit`."""
    box = main(page).locator(".st-key-class_set_collect")
    draw_strokes(page, page.locator("canvas.upper-canvas"), digit_strokes(mnist_test_digit(digit, nth)))
    expect(box.get_by_role("button", name=str(digit), exact=True)).to_be_visible()
    # Each stroke's mouse-up starts a rerun, and the canvas sends its last picture a moment later: the buttons
    # must belong to the whole drawing, so wait until the page has been idle twice, a second apart.
    wait_for_idle(page)
    time.sleep(1)
    wait_for_idle(page)
    box.get_by_role("button", name=str(digit), exact=True).click()
    expect(box.get_by_text(f"Added to the class set as {digit}.")).to_be_visible()
    if shot:
        wait_for_idle(page)
        screenshot(page, "class-set", shot)
    main(page).locator(".st-key-draw_clear").get_by_role("button", name="Clear").click()
    expect(box).to_have_count(0)  # nothing drawn: nothing to add
    wait_for_idle(page)


def owner_of_newest(store: RunStore) -> str:
    return store.connection().execute("SELECT owner_id FROM class_samples ORDER BY id DESC LIMIT 1").fetchone()[0]


def test_two_students_and_the_teacher_collect_see_measure_fine_tune_and_export(new_page, app_server) -> None:
    store = RunStore(app_server.runs_dir)
    parent = store.create_run(PARENT, name="small lenet", status="running")
    store.finish(parent, train(PARENT, data=load_dataset("mnist", app_server.data_dir), device="cpu"))
    class_set = ClassSet(store)
    images, labels = raw_test_set()
    for digit in range(10):  # last year's class: three of each digit
        for image in images[labels == digit][50:53]:
            class_set.add(LAST_YEAR, digit, image)

    ann, ben = new_page(), new_page()
    open_page(ann, "/draw?lang=en", "Draw a digit")
    collect(ann, 3)
    collect(ann, 7, shot="draw-collect")
    ann_id = owner_of_newest(store)
    for digit in (0, 1, 2):  # three more of Ann's, so the fine-tuned network has five of hers to be tested on
        class_set.add(Actor(ann_id, "Ann"), digit, images[labels == digit][60])
    open_page(ben, "/draw?lang=en", "Draw a digit")
    collect(ben, 1, nth=2)
    ben_id = owner_of_newest(store)
    assert ben_id != ann_id and class_set.per_digit(ann_id)[3] == 1 and class_set.count() == 36

    # Ben sees his drawing among his own and deletes it; Ann's are not his to delete.
    nav_to(ben, "Class set", "The class's handwriting")
    main(ben).locator(".st-key-class_set_digit_mine").get_by_text("1", exact=True).click()
    wait_for_idle(ben)
    main(ben).locator('[class*="st-key-class_set_delete_mine_"] button').click()
    wait_until(lambda: class_set.count(ben_id) == 0, 30, "Ben's delete did not delete his drawing")

    # Ann measures the run on the class set: the page's figures are those computed here.
    nav_to(ann, "Class set", "The class's handwriting")
    expected = meet_run(store, parent)
    metric = main(ann).locator('[data-testid="stMetric"]').filter(has_text="Accuracy on the class's handwriting")
    expect(metric).to_contain_text(f"{expected.accuracy:.1%}")
    expect(metric).to_contain_text(f"{expected.count} drawings")
    expect(main(ann).get_by_text("test data resembles real use")).to_be_visible()
    screenshot(ann, "class-set", "see", show=main(ann).get_by_role("heading", name="See it"))
    screenshot(ann, "class-set", "meet", show=main(ann).get_by_role("heading", name="Meet it"))

    # The button only asks: the run trains in a worker process (shown live here), and the score after comes when it
    # ends, measured by that worker; "before" is shown at once.
    main(ann).get_by_role("button", name="Continue training with the class set").click()
    before = main(ann).locator('[data-testid="stMetric"]').filter(has_text="Your handwriting, before")
    expect(before).to_be_visible()
    child = store.list_runs(limit=1)[0]
    assert child.parent_id == parent and child.owner_id == ann_id
    expect(before).to_contain_text(f"{meet_run(store, parent, owner_id=ann_id, per_digit=0).accuracy:.1%}")
    expect(main(ann).locator(f".st-key-stop_{child.id}").get_by_role("button", name="Stop")).to_be_visible()
    screenshot(ann, "class-set", "fine-tuning", show=main(ann).get_by_role("heading", name="Continue training with "
                                                                                         "the class set"))
    after = main(ann).locator('[data-testid="stMetric"]').filter(has_text="Your handwriting, after")
    expect(after).to_be_visible(timeout=180_000)
    assert store.get(child.id).status == "completed"
    assert class_set.fine_tune_of(child.id) == (parent, ann_id, 30)  # last year's 30; none of Ann's own
    tested = meet_run(store, child.id, owner_id=ann_id, per_digit=0)
    expect(after).to_contain_text(f"{tested.accuracy:.1%}")
    expect(main(ann).get_by_text(f"Run {child.id} trained on 30 drawings of the others' and was tested on your "
                                 f"{tested.count}.")).to_be_visible()
    screenshot(ann, "class-set", "fine-tuned", show=main(ann).get_by_role("heading", name="Continue training with "
                                                                                        "the class set"))

    # A Korean browser (a new student, with no drawings yet): the page in Korean, and the refusal in Korean too.
    korean = new_page(locale="ko-KR")
    open_page(korean, "/class-set", "우리 반 손글씨")
    main(korean).get_by_role("button", name="우리 반 데이터로 이어서 학습하기").click()
    expect(main(korean).get_by_text("먼저 내 그림을 적어도 5개 더 넣으세요")).to_be_visible()
    wait_for_idle(korean)
    screenshot(korean, "class-set", "ko", show=main(korean).get_by_role("heading", name="우리 반 손글씨"))
    screenshot(korean, "class-set", "ko-refused", show=main(korean).get_by_role("heading", name="우리 반 데이터로 "
                                                                                                 "이어서 학습하기"))

    # The teacher unlocks teacher mode, deletes an anonymous drawing, closes collection and downloads the set.
    teacher = new_page()
    open_page(teacher, "/class-set?lang=en", "The class's handwriting")
    sidebar(teacher).get_by_text("Teacher", exact=True).click()
    sidebar(teacher).get_by_label("Teacher key", exact=True).fill(TEACHER_KEY)
    sidebar(teacher).get_by_label("Teacher key", exact=True).press("Enter")
    tools = main(teacher).get_by_role("heading", name="Teacher")
    expect(tools).to_be_visible()
    wait_for_idle(teacher)
    everyone = main(teacher).get_by_role("tab", name="Everyone's drawings")
    everyone.click()
    before = class_set.count()
    main(teacher).locator('[class*="st-key-class_set_delete_all_"] button').first.click()
    wait_until(lambda: class_set.count() == before - 1, 30, "the teacher could not delete a student's drawing")
    wait_for_idle(teacher)
    main(teacher).get_by_text("Close collection (no new drawings)").click()
    wait_until(class_set.frozen, 30, "the teacher's switch did not close collection")
    with teacher.expect_download() as download:
        main(teacher).get_by_role("button", name="Download the class set (MNIST IDX files, zip)").click()
    archive = zipfile.ZipFile(io.BytesIO(open(download.value.path(), "rb").read()))
    folder = app_server.runs_dir.parent / "download"
    archive.extractall(folder)
    assert sorted(archive.namelist()) == sorted([IMAGES_FILE, LABELS_FILE])
    got_images, got_labels = read_idx(folder, 1000)
    want_images, want_labels = class_set.arrays()
    assert np.array_equal(got_images, want_images) and np.array_equal(got_labels, want_labels)
    screenshot(teacher, "class-set", "teacher", show=tools)

    # Collection is closed: Ann's next drawing gets no buttons, only the reason.
    nav_to(ann, "Draw", "Draw a digit")
    draw_strokes(ann, ann.locator("canvas.upper-canvas"), digit_strokes(mnist_test_digit(5)))
    expect(main(ann).locator(".st-key-class_set_collect").get_by_text("closed the class set")).to_be_visible()
