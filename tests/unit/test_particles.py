"""Korean particles after a filled-in value (app.particles), checked against how a Korean reads each value aloud."""

from __future__ import annotations

import pytest

from app.i18n import _, translations, use_language
from app.particles import fill, particle


@pytest.mark.parametrize(("value", "pair", "expected"), [
    # Hangul: the last syllable's batchim; ㄹ takes 로
    ("학생", "이(가)", "이"), ("모델", "이(가)", "이"), ("에포크", "이(가)", "가"), ("학습", "을(를)", "을"),
    ("배치", "을(를)", "를"), ("서울", "(으)로", "로"), ("학습", "(으)로", "으로"), ("에포크", "(으)로", "로"),
    ("신경망", "와(과)", "과"), ("소프트맥스", "와(과)", "와"), ("학생 1535", "은(는)", "는"), ("모델", "(이)", "이"),
    # Latin names as read in Korean: 아담을, 에스지디를, 씨엔엔이, 엠엘피를, 엠니스트를, 르넷이, 알엠에스프롭으로
    ("adam", "을(를)", "을"), ("Adam", "(으)로", "으로"), ("SGD", "을(를)", "를"), ("sgd", "(으)로", "로"),
    ("CNN", "이(가)", "이"), ("mlp", "을(를)", "를"), ("MNIST", "을(를)", "를"), ("LeNet", "이(가)", "이"),
    ("rmsprop", "(으)로", "으로"), ("softmax", "은(는)", "는"), ("ReLU", "와(과)", "와"), ("tanh", "을(를)", "를"),
    ("MLP", "(으)로", "로"), ("model", "(으)로", "로"), ("URL", "(으)로", "로"),
    # numbers read aloud: 백으로, 육만이, 십이가, 삼을, 일로, 칠로, 영이, 오를, 십으로, 천이, 억이, 사 점 오는
    ("100", "(으)로", "으로"), ("60,000", "이(가)", "이"), ("12", "이(가)", "가"), ("3", "을(를)", "을"),
    ("1", "(으)로", "로"), ("7", "(으)로", "로"), ("0", "이(가)", "이"), ("5", "을(를)", "를"),
    ("10", "(으)로", "으로"),
    ("1,000", "이(가)", "이"), ("300000000", "이(가)", "이"), ("4.5", "은(는)", "는"), ("0.10", "은(는)", "은"),
    ("mlp-3", "을(를)", "을"), ("#12", "이(가)", "가"), ("64", "와(과)", "와"),
    # percent: 퍼센트
    ("96.5%", "이(가)", "가"), ("97%", "(으)로", "로"),
    # closing quotes and a closing parenthetical are skipped (the particle follows the word before it); an
    # unreadable end keeps the pair
    ("학습 #3 (SGD)", "을(를)", "을"), ("모델 (v1)", "이(가)", "이"), ("“모델”", "이(가)", "이"),
    ("🙂", "이(가)", "이(가)"), ("", "을(를)", "을(를)"),
])
def test_the_particle_fits_the_values_last_sound(value: str, pair: str, expected: str) -> None:
    assert particle(value, pair) == expected


def test_fill_resolves_pairs_right_after_placeholders_only() -> None:
    assert fill("{batch}(으)로 {size}이(가) 나누어떨어집니다", {"batch": 100, "size": "60,000"}) == \
        "100으로 60,000이 나누어떨어집니다"
    assert fill("옵티마이저 {optimizer}을(를) 써서", {"optimizer": "adam"}) == "옵티마이저 adam을 써서"
    assert fill("옵티마이저 {optimizer}을(를) 써서", {"optimizer": "sgd"}) == "옵티마이저 sgd를 써서"
    assert fill("“{name}”을(를) 지웠어요", {"name": "첫 실행"}) == "“첫 실행”을 지웠어요"
    assert fill("{n:,}이(가)", {"n": 60000}) == "60,000이"
    assert fill("이(가) {n}", {"n": 3}) == "이(가) 3"  # not after a placeholder: left as written
    with pytest.raises(KeyError):
        fill("{missing}이(가)", {})


def test_every_korean_message_gets_its_particles_through_the_translation_layer() -> None:
    catalog = translations("ko")
    batch = "{batch} divides {size} exactly: {full} full batches, no short one."
    if catalog.gettext(batch) == batch:
        pytest.skip("the lessons catalog no longer has this message")
    with use_language("ko"):
        text = _(batch, batch=100, size="60,000", full=600)
    assert text.startswith("100으로 60,000이 나누어떨어집니다"), text


def test_a_default_student_name_is_shown_in_the_readers_language() -> None:
    from app.identity import default_name, shown_owner_name

    owner = "o-1a2b3c4d5e6f"
    with use_language("ko"):
        stored_in_korean = default_name(owner)
    with use_language("en"):
        english = default_name(owner)
        assert stored_in_korean.startswith("학생 ") and english.startswith("Student ")
        assert stored_in_korean.split()[-1] == english.split()[-1]
        assert shown_owner_name(owner, stored_in_korean) == english  # stored by a Korean page, read by a teacher
        assert shown_owner_name(owner, "김민지") == "김민지"  # a typed name stays as typed
        assert shown_owner_name(owner, "학생 1000") == "학생 1000" or default_name(owner) == "Student 1000"
        assert shown_owner_name("command-line", "the command line") == "the command line"
        assert shown_owner_name(None, None) is None
