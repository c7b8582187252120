"""Every text of the /learn lessons has a Korean translation in lessons.po, with the same placeholders."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from babel.messages.extract import extract_from_file
from babel.messages.pofile import read_po

PROJECT = Path(__file__).resolve().parents[2]
LESSON_FILES = sorted((PROJECT / "app" / "pages" / "learn").glob("*.py")) + sorted(
    (PROJECT / "app" / "lessons").glob("[!_]*.py"))
HOME_TEXTS = (("**Learn**: every idea of the course as something to play with, from the mock exam of 100 questions "
              "(batch size) to the course's own results table."), "Open the lessons")  # the Home page's Learn card
LESSONS_PO = PROJECT / "app" / "locale" / "ko" / "LC_MESSAGES" / "lessons.po"
COURSE_TABLE_PO = LESSONS_PO.with_name("course_table.po")
PLACEHOLDER = re.compile(r"\{(\w+)\}")


def lesson_messages() -> list[str | tuple[str, str]]:
    found = []
    for path in LESSON_FILES:
        for _line, message, _comments, _context in extract_from_file(
                "python", str(path), keywords={"_": None, "N_": None, "ngettext": (1, 2)}):
            if message not in found:
                found.append(message)
    return found + list(HOME_TEXTS)


@pytest.fixture(scope="module")
def catalog():
    # The course table's lesson keeps its texts in a domain of its own; the app loads every domain as one catalog.
    with LESSONS_PO.open("rb") as f:
        merged = read_po(f, locale="ko")
    with COURSE_TABLE_PO.open("rb") as f:
        for message in read_po(f, locale="ko"):
            if message.id:
                merged[message.id] = message
    return merged


def test_the_lesson_pages_exist_and_have_texts() -> None:
    assert len(LESSON_FILES) == 14  # the index, nine lessons and four helpers
    assert len(lesson_messages()) > 200


def test_every_lesson_text_is_translated_with_the_same_placeholders(catalog) -> None:
    missing, wrong = [], []
    for message in lesson_messages():
        entry = catalog.get(message if isinstance(message, str) else message[0])
        if entry is None or not entry.string or entry.fuzzy:
            missing.append(message)
            continue
        source = message if isinstance(message, str) else message[1]
        translated = entry.string if isinstance(entry.string, str) else entry.string[0]
        if set(PLACEHOLDER.findall(source)) != set(PLACEHOLDER.findall(translated)):
            wrong.append((source, translated))
    assert not missing, f"{len(missing)} lesson texts have no Korean translation: {missing[:5]}"
    assert not wrong, f"placeholders differ: {wrong[:3]}"


def test_the_korean_uses_the_courses_words(catalog) -> None:
    korean = " ".join(m.string for m in catalog if isinstance(m.string, str))
    for term in ("배치 사이즈", "에포크", "반복", "가중치", "편향", "활성화 함수", "학습률", "옵티마이저", "드롭아웃",
                 "과적합", "퍼셉트론", "역전파", "교차 엔트로피", "소프트맥스", "모의고사"):
        assert term in korean, term
