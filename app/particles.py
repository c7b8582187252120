"""Korean particles after a filled-in value: "{batch}(으)로" becomes "100으로", "{name}을(를)" "adam을".

A Korean particle depends on how the word before it ends when read aloud: after a final consonant (batchim) it is
이/을/은/과/으로, after a vowel 가/를/는/와/로 (and 로 also after ㄹ). A translator cannot know the value a placeholder
will get, so the Korean msgstr writes the pair right after the placeholder ("{n}이(가)") and `fill` picks one form
from the formatted value's last sound:

- a Hangul syllable: its batchim;
- digits as Korean reads numbers: the last digit (0 영, 1 일, 3 삼, 6 육, 7 칠, 8 팔 end in a consonant), or, when
  a whole number ends in zeros, the unit it ends with (10 십, 100 백, 1,000 천, 10,000 만, 10^8 억; 10^12 조);
  "%" is read 퍼센트;
- Latin letters: an acronym (all capitals of at most three letters, or no vowel: SGD, CNN, mlp) by its last letter's
  name (디, 엔, 피); a word (adam, LeNet, MNIST, rmsprop) as Korean writes it: m/n/ng (아담) and l (ㄹ) end in a
  consonant, so does p/t/k right after a vowel (프롭, 르넷); anything else (r, x, a vowel...) in a vowel.

Closing quotes are skipped, and so is a parenthetical at the end ("학습 #3 (SGD)" takes 을, as "학습 #3" would): in
Korean the particle follows the word before the brackets. A value whose end cannot be read (an emoji, nothing)
keeps the pair as written: "(으)로" still reads.
"""

from __future__ import annotations

import re
import string
from collections.abc import Mapping

# pair as written in a msgstr -> (form after a consonant, form after a vowel)
PAIRS = {"(으)로": ("으로", "로"), "이(가)": ("이", "가"), "가(이)": ("이", "가"), "을(를)": ("을", "를"),
         "를(을)": ("을", "를"), "은(는)": ("은", "는"), "는(은)": ("은", "는"), "와(과)": ("과", "와"),
         "과(와)": ("과", "와"), "(이)": ("이", "")}
_PAIR = re.compile("^([”’\"'»」』*_`]*)(" + "|".join(re.escape(p) for p in sorted(PAIRS, key=len, reverse=True)) + ")")
_HANGUL_FIRST, _HANGUL_LAST, _RIEUL = 0xAC00, 0xD7A3, 8
# How a final sound ends: a vowel, ㄹ, or any other batchim (a consonant).
VOWEL, RIEUL, CONSONANT = "vowel", "ㄹ", "consonant"
_DIGITS = {"0": CONSONANT, "1": RIEUL, "2": VOWEL, "3": CONSONANT, "4": VOWEL, "5": VOWEL, "6": CONSONANT,
           "7": RIEUL, "8": RIEUL, "9": VOWEL}
_TRAILING_ZEROS = {1: CONSONANT, 2: CONSONANT, 3: CONSONANT}  # 십, 백, 천; 4 to 7 zeros end in 만, 8 to 11 in 억
_LETTER_NAMES = {"l": RIEUL, "m": CONSONANT, "n": CONSONANT, "r": RIEUL}  # 엘, 엠, 엔, 알; the others end in a vowel
_CLOSING = " \t\"'”’»」』.*_`"  # quotes, and Markdown marks around a value (**배치 사이즈**)
_PARENTHETICAL = re.compile(r"\s*[(\[][^()\[\]]*[)\]]$")  # "학습 #3 (SGD)": the particle follows "학습 #3"
_VOWELS = set("aeiouy")


def _hangul_end(char: str) -> str | None:
    final = (ord(char) - _HANGUL_FIRST) % 28
    return VOWEL if final == 0 else RIEUL if final == _RIEUL else CONSONANT


def _number_end(text: str) -> str | None:
    digits = re.search(r"[\d,]*\d(\.\d+)?$", text)
    assert digits is not None
    number = digits.group(0).replace(",", "")
    if "." not in number and number.strip("0"):
        zeros = len(number) - len(number.rstrip("0"))
        if zeros:
            return _TRAILING_ZEROS.get(zeros, VOWEL if zeros >= 12 else CONSONANT)  # 조 ends in a vowel
    return _DIGITS[number[-1]]


def _latin_end(text: str) -> str | None:
    word = re.search(r"[A-Za-z]+$", text)
    assert word is not None
    letters = word.group(0)
    lower = letters.lower()
    if (letters.isupper() and len(letters) <= 3) or not _VOWELS & set(lower):
        return _LETTER_NAMES.get(lower[-1], VOWEL)  # spelled: 에스지디, 씨엔엔, 엠엘피
    if lower.endswith(("m", "n", "ng")):
        return CONSONANT
    if lower.endswith("l"):
        return RIEUL
    if lower[-1] in "ptk" and len(lower) > 1 and lower[-2] in _VOWELS:
        return CONSONANT  # 프롭, 르넷, 북
    return VOWEL


def final_sound(value: str) -> str | None:
    """How `value` ends when read aloud in Korean: VOWEL, RIEUL, CONSONANT; None when it cannot be told (an
    emoji, nothing at all)."""
    text = _PARENTHETICAL.sub("", str(value).rstrip(_CLOSING)).rstrip(_CLOSING) or str(value).rstrip(_CLOSING)
    if not text:
        return None
    last = text[-1]
    if _HANGUL_FIRST <= ord(last) <= _HANGUL_LAST:
        return _hangul_end(last)
    if last == "%":
        return VOWEL  # 퍼센트
    if last.isascii() and last.isdigit():
        return _number_end(text)
    if last.isascii() and last.isalpha():
        return _latin_end(text)
    return None


def particle(value: str, pair: str) -> str:
    """The form of `pair` ("이(가)", "(으)로", ...) that follows `value`; the pair itself when unknown."""
    after_consonant, after_vowel = PAIRS[pair]
    end = final_sound(value)
    if end is None:
        return pair
    if pair == "(으)로" and end == RIEUL:
        return after_vowel  # 서울로, 일로: ㄹ takes 로
    return after_vowel if end == VOWEL else after_consonant


def fill(template: str, values: Mapping[str, object]) -> str:
    """`template.format(**values)`, with each particle pair right after a placeholder resolved for its value.
    Raises what str.format raises (KeyError, IndexError, ValueError) on a placeholder that does not fit."""
    if "(" not in template:  # every pair has one: most messages (and all English ones) take C's str.format
        return template.format(**values)
    formatter = string.Formatter()
    parts: list[str] = []
    previous: str | None = None
    for literal, field, spec, conversion in formatter.parse(template):
        if previous is not None and (match := _PAIR.match(literal)):
            closing, pair = match.groups()
            literal = closing + particle(previous, pair) + literal[match.end():]
        parts.append(literal)
        previous = None
        if field is not None:
            value, _used = formatter.get_field(field, (), values)
            previous = formatter.format_field(formatter.convert_field(value, conversion), spec or "")
            parts.append(previous)
    return "".join(parts)
