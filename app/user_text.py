"""User text is text: run names, student names and uploaded file names, shown literally wherever they appear.

A name typed by one student is drawn on every classmate's screen, so nothing in it may act as markup there. Each
place a name goes has its own markup, and one function here for it:

- `markdown_text`: anything Streamlit renders as Markdown (st.markdown, st.caption, st.progress text, st.success,
  st.error, st.toast, st.metric / expander / button / tab labels, radio and segmented-control options). Not for
  st.selectbox / st.multiselect options or text_input placeholders: those are plain text, a backslash would show.
- `plot_text`: plotly strings (trace names, legend entries, hover text, tick labels, titles).
- `csv_bytes` (cell by cell `csv_cell`): the CSV downloads, opened in a spreadsheet.

st.dataframe draws its cells as plain text: names go into tables as they are.
"""

from __future__ import annotations

import html
import re
import string

import pandas as pd

# CommonMark lets a backslash escape any ASCII punctuation, and an escaped character is never markup: not
# Markdown (links, images, emphasis, code, headings, lists), not KaTeX (`$`), not Streamlit's directives
# (`:red[...]`, `:material/icon:`, `:smile:`), not raw HTML (Streamlit shows `<` as text, escaped or not).
_MARKDOWN_PUNCTUATION = frozenset(string.punctuation)
# Streamlit's GFM turns http://, www. and e-mail addresses into links after escapes are resolved, so a backslash
# cannot stop them: an invisible word joiner after ":" and "@" and before the dot of "www." breaks the pattern.
WORD_JOINER = "\u2060"
_AUTOLINK_WWW = re.compile(r"(?i)www(?=\\\.)")
# Markdown gives line breaks and leading indentation a meaning (paragraphs, code blocks); a browser shows any run
# of whitespace as one space anyway, so one space is what the reader sees either way.
_WHITESPACE = re.compile(r"[ \t\r\n\v\f\u0085\u2028\u2029]+")
# A spreadsheet runs a cell starting with one of these as a formula (OWASP's list for CSV injection).
_FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")


def markdown_text(text: str) -> str:
    """`text` as Markdown source that Streamlit shows literally, character for character."""
    flat = _WHITESPACE.sub(" ", str(text))
    escaped = "".join("\\" + c if c in _MARKDOWN_PUNCTUATION else c for c in flat)
    escaped = escaped.replace("\\:", "\\:" + WORD_JOINER).replace("\\@", "\\@" + WORD_JOINER)
    return _AUTOLINK_WWW.sub(lambda www: www.group() + WORD_JOINER, escaped)


def plot_text(text: str) -> str:
    """`text` for a plotly string: plotly draws a subset of HTML (<a>, <b>, <br>, <span style>...) and decodes
    entities, so `<`, `>` and `&` become entities and are drawn as themselves."""
    return html.escape(str(text), quote=False)


def csv_cell(value: object) -> object:
    """A CSV cell a spreadsheet shows as text: a text starting like a formula gets a leading `'` (OWASP's advice).
    Numbers, negative ones included, stay numbers."""
    if isinstance(value, str) and value.startswith(_FORMULA_STARTS):
        return "'" + value
    return value


def csv_bytes(table: pd.DataFrame) -> bytes:
    """A table as a CSV download: every cell through `csv_cell`, in UTF-8 with a byte order mark, so that Excel
    reads Korean names instead of mojibake."""
    return table.map(csv_cell).to_csv(index=False).encode("utf-8-sig")
