"""The page's own CSS (app/page_style.py): texts put into CSS cannot break out of their string or the style."""

from __future__ import annotations

from app.i18n import use_language
from app.page_style import css_string, page_css, uploader_css


def test_a_text_in_css_stays_a_string() -> None:
    assert css_string('a "quoted" \\ text') == '"a \\"quoted\\" \\\\ text"'
    assert "<" not in css_string("</style><script>alert(1)</script>")
    assert css_string("파일 하나에 최대 5MB") == '"파일 하나에 최대 5MB"'


def test_device_rules_hide_the_other_devices_wording_and_the_phone_toolbar() -> None:
    css = page_css()
    assert "@media (pointer: coarse) { [class*=\"st-key-mouse_\"]" in css
    assert "@media not (pointer: coarse) { [class*=\"st-key-touch_\"]" in css
    assert ".modebar-container { display: none !important; }" in css
    with use_language("ko"):
        uploader = uploader_css("upload_draw", css_string("사진 올리기"), css_string("끌어다 놓기"), css_string("5MB"))
    assert uploader.count(".st-key-upload_draw ") == 5 and 'content: "사진 올리기"' in uploader
