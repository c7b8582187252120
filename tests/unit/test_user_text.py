"""app.user_text: a name of every dangerous kind comes out of each function as text, never as markup or a formula.

Markdown: CommonMark reads a backslash before ASCII punctuation as that character, literally, so the checks are
"every ASCII punctuation character is escaped" and "reading the escapes back gives the typed text"; GFM's link
patterns (http://, www., e-mail), which act after escapes are read, are checked on the text read back. The real
check, Streamlit's renderer in Chromium, is tests/browser/test_browser_hostile_names.py.
"""

from __future__ import annotations

import csv
import html
import io
import re
import string

import numpy as np
import pandas as pd
import pytest

from app.user_text import WORD_JOINER, csv_bytes, csv_cell, markdown_text, plot_text

HOSTILE = {
    "link": "[prize](http://example.invalid)",
    "image": "![x](http://127.0.0.1:9/y.png)",
    "html image": "<img src=http://127.0.0.1:9/x.png>",
    "html link": '<a href="http://example.invalid" target=_blank style="font-size:60px">big</a>',
    "display math": r"$$\int_0^1 x^2 dx$$",
    "inline math": "costs $5 and $6",
    "colour directive": ":red[red] :blue-background[blue]",
    "material icon": ":material/home: home",
    "emoji shortcode": ":smile: :tada:",
    "emphasis": "**bold** __bold__ *it* _it_ ~~gone~~",
    "code": "`code` ``more``",
    "heading": "# Big heading",
    "list": "1. first - second + third",
    "quote": "> quoted",
    "entity": "&amp; &lt;b&gt; &#60;",
    "backslash": "a \\ b \\* c \\",
    "autolink": "<https://auto.invalid> http://bare.invalid www.bare.invalid WWW.Upper.invalid me@mail.invalid",
    "table": "| a | b |",
    "braces": "{curly} ^caret^ %percent% 'quote' \"double\"",
    "korean": "한국어 [링크](http://example.invalid) **굵게**",
}
# GFM's literal autolinks (mdast-util-gfm-autolink-literal), applied to text after escapes are read.
GFM_AUTOLINK = re.compile(r"(?i)(https?://|www\.)|[-.\w+]+@[-\w]+(\.[-\w]+)+")
ASCII_PUNCTUATION = set(string.punctuation)


def read_escapes(markdown: str) -> str:
    """The text CommonMark reads from `markdown` made of plain characters and backslash escapes only."""
    text, i = [], 0
    while i < len(markdown):
        if markdown[i] == "\\" and i + 1 < len(markdown) and markdown[i + 1] in ASCII_PUNCTUATION:
            text.append(markdown[i + 1])
            i += 2
        else:
            text.append(markdown[i])
            i += 1
    return "".join(text)


def unescaped_punctuation(markdown: str) -> list[str]:
    """ASCII punctuation characters of `markdown` that no backslash escapes: each one could be markup."""
    found, i = [], 0
    while i < len(markdown):
        if markdown[i] == "\\" and i + 1 < len(markdown) and markdown[i + 1] in ASCII_PUNCTUATION:
            i += 2
            continue
        if markdown[i] in ASCII_PUNCTUATION:
            found.append(markdown[i])
        i += 1
    return found


@pytest.mark.parametrize("text", HOSTILE.values(), ids=HOSTILE.keys())
def test_markdown_text_escapes_every_character_markup_could_use(text: str) -> None:
    escaped = markdown_text(text)
    assert unescaped_punctuation(escaped) == []
    assert read_escapes(escaped).replace(WORD_JOINER, "") == text  # read back: exactly what was typed
    assert not GFM_AUTOLINK.search(read_escapes(escaped)), read_escapes(escaped)


def test_markdown_text_breaks_every_literal_autolink_but_keeps_the_letters() -> None:
    typed = HOSTILE["autolink"]
    assert GFM_AUTOLINK.search(read_escapes(typed))  # the pattern does find them unescaped: the check can fail
    shown = read_escapes(markdown_text(typed))
    assert shown.count(WORD_JOINER) == 5  # after "https:" and "http:", after "www" and "WWW", after "@"
    assert shown.replace(WORD_JOINER, "") == typed


def test_markdown_text_puts_everything_on_one_line() -> None:
    # A line break would let a name start a block of its own: a heading, a list, an indented code block.
    escaped = markdown_text("first\n\n    indented code\r\n# heading\tand\u2028more")
    assert escaped == "first indented code \\# heading and more"


def test_plain_text_is_left_as_it_is() -> None:
    assert markdown_text("ann run 3 김민지") == "ann run 3 김민지"
    assert plot_text("ann run 3 김민지") == "ann run 3 김민지"


@pytest.mark.parametrize("text", HOSTILE.values(), ids=HOSTILE.keys())
def test_plot_text_leaves_no_tag_and_decodes_to_the_typed_text(text: str) -> None:
    escaped = plot_text(text)
    assert "<" not in escaped and ">" not in escaped  # plotly's pseudo-HTML needs a "<" to start a tag
    assert html.unescape(escaped) == text  # plotly decodes entities once: it draws what was typed


def test_plot_text_keeps_a_typed_entity_as_typed() -> None:
    assert plot_text("&lt;b&gt; & <b>") == "&amp;lt;b&amp;gt; &amp; &lt;b&gt;"


@pytest.mark.parametrize("text", ["=1+1", "+A", "-B", "@C", "\tD", "\rE", "=HYPERLINK(\"http://x.invalid\")"])
def test_csv_cell_makes_a_formula_text(text: str) -> None:
    assert csv_cell(text) == "'" + text


@pytest.mark.parametrize("value", [-1, -2.5, np.float64(-0.25), np.int64(-7), 0, 3.5, None, "ann run", "5-3",
                                   "a=b", "", "'quoted"])
def test_csv_cell_leaves_numbers_and_harmless_text_alone(value: object) -> None:
    assert csv_cell(value) is value


def test_csv_bytes_neutralises_text_and_keeps_numbers_numbers() -> None:
    table = pd.DataFrame({"run": ["=1+1", "+A", "-B", "@C", "plain"], "change": [-1.5, -2.0, 0.0, 3.25, -4.0],
                          "id": [1, 2, 3, 4, 5]})
    data = csv_bytes(table)
    assert data.startswith(b"\xef\xbb\xbf")  # UTF-8 BOM: Excel reads Korean names right
    rows = list(csv.reader(io.StringIO(data.decode("utf-8-sig"))))
    assert rows[0] == ["run", "change", "id"]
    assert [r[0] for r in rows[1:]] == ["'=1+1", "'+A", "'-B", "'@C", "plain"]
    assert [r[1] for r in rows[1:]] == ["-1.5", "-2.0", "0.0", "3.25", "-4.0"]  # as numbers, no quote mark
    read = pd.read_csv(io.BytesIO(data), encoding="utf-8-sig")
    assert read["change"].dtype.kind == "f" and read["id"].dtype.kind == "i"
