"""The translation layer and its catalogs: every text the app marks for translation has a Korean translation with
the same placeholders; core data the app shows (presets, Fashion-MNIST classes) too; plurals, numbers, the language
choice and its fallbacks."""

from __future__ import annotations

import string
from pathlib import Path

import pytest
from babel.messages.catalog import Catalog
from babel.messages.extract import extract_from_dir, extract_from_file
from babel.messages.pofile import read_po

from app import i18n
from app.i18n import _, ngettext, number, percent, use_language

PROJECT_DIR = Path(__file__).resolve().parents[2]
# The keywords of babel.cfg's extraction command: _(), N_() and ngettext(singular, plural, n).
KEYWORDS = {"_": None, "N_": None, "ngettext": (1, 2)}


def extracted_messages() -> dict[str | tuple[str, str], str]:
    """Every msgid in app/ and streamlit_app.py (Babel's own extractor) -> where it first occurs."""
    found: dict[str | tuple[str, str], str] = {}
    for filename, lineno, message, _comments, _context in extract_from_dir(
            str(PROJECT_DIR / "app"), method_map=[("**.py", "python")], keywords=KEYWORDS):
        found.setdefault(message, f"app/{filename}:{lineno}")
    for lineno, message, _comments, _context in extract_from_file(
            "python", str(PROJECT_DIR / "streamlit_app.py"), keywords=KEYWORDS):
        found.setdefault(message, f"streamlit_app.py:{lineno}")
    return found


def korean_catalogs() -> dict[str, Catalog]:
    """Every Korean .po file the app loads, by file name."""
    catalogs = {}
    for path in i18n.catalog_files("ko"):
        with path.open("rb") as po_file:
            catalogs[path.name] = read_po(po_file, locale="ko")
    return catalogs


def placeholders(text: str) -> set[str]:
    """The named fields of a str.format text ("{epochs} of {n}" -> {"epochs", "n"}); ValueError if malformed."""
    return {name for _literal, name, _spec, _conversion in string.Formatter().parse(text) if name is not None}


def translation_problem(msgid: str | tuple[str, str], msgstr: str | tuple[str, ...] | None) -> str | None:
    """What is wrong with one translation, or None: missing, empty, or placeholders not those of the English."""
    english = msgid if isinstance(msgid, tuple) else (msgid,)
    forms = [s for s in (msgstr if isinstance(msgstr, (tuple, list)) else (msgstr,)) if s]
    if not forms:
        return "no Korean translation"
    try:
        wanted = set().union(*(placeholders(e) for e in english))
        for form in forms:
            if placeholders(form) != wanted:
                return f"placeholders {sorted(placeholders(form))} instead of {sorted(wanted)}"
    except ValueError as exc:
        return f"malformed placeholder ({exc})"
    return None


def merged_korean() -> dict[str | tuple[str, str], str | tuple[str, ...]]:
    """msgid -> translation over all Korean catalogs (a translated entry wins over an empty one)."""
    merged: dict = {}
    for catalog in korean_catalogs().values():
        for message in catalog:
            if not message.id:
                continue
            key = tuple(message.id) if isinstance(message.id, (tuple, list)) else message.id
            if message.string and not (isinstance(message.string, (tuple, list)) and not any(message.string)):
                merged[key] = message.string
            else:
                merged.setdefault(key, message.string)
    return merged


def test_every_message_in_the_source_has_a_korean_translation_with_the_same_placeholders() -> None:
    messages = extracted_messages()
    assert len(messages) > 200, "the extraction found too little: is app/ still where the pages are?"
    translated = merged_korean()
    problems = [f"{where}: {msgid!r}: {problem}" for msgid, where in messages.items()
                if (problem := translation_problem(msgid, translated.get(msgid)))]
    assert not problems, f"{len(problems)} untranslated or broken messages:\n" + "\n".join(problems)


def test_every_korean_translation_keeps_the_placeholders_of_its_english_text() -> None:
    """Also entries no longer in the source: a broken one must not sit in a catalog waiting to be used again."""
    problems = []
    for name, catalog in korean_catalogs().items():
        for message in catalog:
            if message.id and message.string and (problem := translation_problem(message.id, message.string)):
                problems.append(f"{name}: {message.id!r}: {problem}")
    assert not problems, "\n".join(problems)


def test_the_checker_catches_missing_and_broken_translations() -> None:
    assert translation_problem("{epochs} epochs", None) == "no Korean translation"
    assert translation_problem("{epochs} epochs", "") == "no Korean translation"
    assert "instead of ['epochs']" in translation_problem("{epochs} epochs", "{epoch} 에포크")
    assert "malformed" in translation_problem("{epochs} epochs", "{epochs 에포크")
    assert translation_problem(("{n} epoch", "{n} epochs"), ("{n} 에포크",)) is None
    assert translation_problem(("{n} epoch", "{n} epochs"), ("에포크",)) is not None


def test_core_data_the_app_shows_is_in_the_catalog() -> None:
    """mnist_core keeps English data (preset descriptions, Fashion-MNIST class names); the app shows them via _()."""
    from mnist_core.config import PRESET_DESCRIPTIONS
    from mnist_core.data import DATASET_INFO

    translated = merged_korean()
    shown = [*PRESET_DESCRIPTIONS.values(), *DATASET_INFO["fashion"].class_names]
    problems = [f"{text!r}: {problem}" for text in shown
                if (problem := translation_problem(text, translated.get(text)))]
    assert not problems, "\n".join(problems)


def test_catalog_files_are_read_and_merged_into_one_translation() -> None:
    names = {path.name for path in i18n.catalog_files("ko")}
    assert "messages.po" in names
    with use_language("ko"):
        assert _("Start training") == "학습 시작"
        assert _("T-shirt/top") == "티셔츠/탑"
    assert _("Start training") == "Start training"  # outside a browser session and outside use_language: English


def test_plurals_follow_each_language() -> None:
    assert ngettext("{n} epoch", "{n} epochs", 1) == "1 epoch"
    assert ngettext("{n} epoch", "{n} epochs", 2) == "2 epochs"
    with use_language("ko"):
        assert ngettext("{n} epoch", "{n} epochs", 1) == "1 에포크"
        assert ngettext("{n} epoch", "{n} epochs", 15) == "15 에포크"


def test_the_run_summary_says_1_epoch_not_1_epochs() -> None:
    from app.run.texts import epochs_text, iteration_lines
    from mnist_core.config import TrainConfig

    assert epochs_text(1) == "1 epoch" and epochs_text(3) == "3 epochs"
    lines = iteration_lines(TrainConfig(epochs=1, val_size=0))
    assert "600 × 1 epoch = 600 iterations in total" in lines
    with use_language("ko"):
        lines = iteration_lines(TrainConfig(epochs=1, val_size=0))
        assert "600 × 1 에포크 = 모두 반복 600번" in lines
        assert "60,000 / 100 = 에포크당 반복 600번" in lines[0]


def test_numbers_and_percentages_are_formatted_per_language() -> None:
    assert number(60000) == "60,000" and number(0.5, 2) == "0.50" and percent(0.9791) == "97.9%"
    with use_language("ko"):
        assert number(60000) == "60,000" and percent(0.9791, 2) == "97.91%"


def test_a_translation_with_wrong_placeholders_shows_the_english_instead_of_failing(monkeypatch) -> None:
    import gettext

    class Broken(gettext.NullTranslations):
        def gettext(self, message: str) -> str:
            return "{missing} 에포크"

    monkeypatch.setattr(i18n, "translations", lambda language: Broken())
    with use_language("ko"):
        assert _("{epochs} epochs", epochs=3) == "3 epochs"


@pytest.mark.parametrize(("locale", "expected"), [("ko-KR", "ko"), ("ko", "ko"), ("en-US", "en"), ("en_GB", "en"),
                                                  ("fr-FR", None), (None, None), ("", None)])
def test_browser_locales_map_to_a_language(locale: str | None, expected: str | None) -> None:
    assert i18n._from_locale(locale) == expected


def test_use_language_refuses_an_unknown_language() -> None:
    with pytest.raises(ValueError, match="unknown language 'fr'"), use_language("fr"):
        pass


def test_core_errors_are_worded_by_the_app_in_english_as_the_core_says_them_and_in_korean() -> None:
    from app.errors import error_text
    from mnist_core import settings
    from mnist_core.config import TrainConfig
    from mnist_core.data import DATASET_INFO, DatasetUnavailable, _unavailable_message
    from mnist_core.runs.names import RunNameError
    from mnist_core.runs.store import RunNotFound

    info, raw, missing = DATASET_INFO["mnist"], Path("/school/data/MNIST/raw"), ["t10k-images-idx3-ubyte.gz"]
    unavailable = DatasetUnavailable(_unavailable_message(info, raw, missing, "offline"), {
        "dataset": "mnist", "missing": tuple(missing), "directory": str(raw), "mirror": settings.mirror() or "",
        "cause": "offline"})
    bad_config = TrainConfig(batch_size=0, epochs=0).problems()
    for error in (RunNameError(0, 80), RunNameError(90, 80), unavailable):  # English: what the core (the CLI) says
        assert error_text(error) == str(error)
    assert error_text(RunNotFound(3)) == "Run #3 does not exist (it may have been deleted)."
    from mnist_core.config import ConfigError

    with use_language("ko"):
        assert error_text(RunNotFound(3)) == "실행 #3이 없습니다 (지워졌을 수 있습니다)."
        assert error_text(RunNameError(90, 80)) == "실행 이름은 80자까지 쓸 수 있습니다 (지금 90자)."
        assert error_text(unavailable).startswith("MNIST를 쓸 수 없습니다: /school/data/MNIST/raw에")
        worded = error_text(ConfigError(bad_config))
        assert "에포크: 0은 쓸 수 없습니다 — 허용 범위: 1부터 200까지." in worded
        assert "배치 사이즈: 0은 쓸 수 없습니다 — 허용 범위: 1부터 55000까지 (학습 데이터 크기;" in worded


def test_problems_without_data_keep_the_cores_english_words() -> None:
    from app.config_form import problem_message
    from mnist_core.config import ConfigProblem

    assert problem_message(ConfigProblem("epochs", 0, "1 to 198")) == "Epochs: 0 is not allowed — use 1 to 198."


def test_an_edited_catalog_is_read_again_without_a_restart(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import os

    catalog = tmp_path / "ko" / "LC_MESSAGES" / "messages.po"
    catalog.parent.mkdir(parents=True)
    header = ('msgid ""\nmsgstr ""\n"Content-Type: text/plain; charset=UTF-8\\n"\n'
              '"Plural-Forms: nplurals=1; plural=0;\\n"\n\n')
    monkeypatch.setattr(i18n, "LOCALE_DIR", tmp_path)
    monkeypatch.setattr(i18n, "_checked", {})
    monkeypatch.setattr(i18n, "RECHECK_S", 0.0)
    catalog.write_text(header + 'msgid "Start training"\nmsgstr "학습 시작"\n', encoding="utf-8")
    with use_language("ko"):
        assert _("Start training") == "학습 시작"
        catalog.write_text(header + 'msgid "Start training"\nmsgstr "훈련 시작"\n', encoding="utf-8")
        stat = catalog.stat()
        os.utime(catalog, ns=(stat.st_atime_ns, stat.st_mtime_ns + 1_000_000))
        assert _("Start training") == "훈련 시작"
