"""The screen checks of ``tests/web/e2e.py`` catch what they promise (a checker that never
fails proves nothing): on a deliberately broken page each names the element at fault, and on
a clean page none complains. No server or database: the pages are set in the browser."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from playwright.sync_api import Browser, Page

from tests.web.e2e import DEFAULT_VIEWPORT, axe_problems, focus_problems, layout_problems

pytestmark = pytest.mark.browser

STYLE = """
body { margin: 0; font: 14px sans-serif; }
:focus-visible { outline: 3px solid #f0b429; }
.grid { display: grid; grid-template-columns: max-content minmax(0, 1fr); width: 300px; }
"""

BROKEN = f"""<!doctype html><html lang="en"><head><title>Broken</title><style>{STYLE}
#ringless:focus {{ outline: none; }}
</style></head><body><main>
<h1>Broken</h1>
<input id="unlabelled" type="text">
<button id="ringless" type="button">No ring</button>
<div id="too-wide" style="width: 2000px">A row that does not wrap.</div>
<div class="grid"><span>features.a_very_long_feature_name_that_takes_the_column</span>
<span id="sliver">Text that the grid squeezes into a column a few pixels wide, one letter a
line, so that the page grows many thousand pixels tall.</span></div>
</main></body></html>"""

CLEAN = f"""<!doctype html><html lang="en"><head><title>Clean</title><style>{STYLE}</style>
</head><body><main>
<h1>Clean</h1>
<label for="q">Search</label> <input id="q" type="text">
<button type="button">Go</button>
<p style="overflow-wrap: anywhere">https://example.com/a/very/long/address/that/wraps</p>
</main></body></html>"""


@pytest.fixture
def bare(browser: Browser) -> Iterator[Page]:
    context = browser.new_context(viewport=DEFAULT_VIEWPORT)  # type: ignore[arg-type]
    page = context.new_page()
    yield page
    context.close()


def test_the_checks_name_each_problem_of_a_broken_page(bare: Page) -> None:
    bare.set_content(BROKEN)

    axe = [str(p) for p in axe_problems(bare, "broken")]
    assert any("axe label (critical)" in p and "#unlabelled" in p for p in axe), axe

    layout = [str(p) for p in layout_problems(bare, "broken")]
    assert any(
        "horizontal scrollbar on the page at 1280x800, 1366x768, 1440x900" in p for p in layout
    ), layout
    assert any("sticks out past the right edge" in p and "div#too-wide" in p for p in layout)
    assert any("text squeezed into a sliver" in p and "span#sliver" in p for p in layout)
    assert bare.viewport_size == DEFAULT_VIEWPORT  # put back after trying the other sizes

    focus = [str(p) for p in focus_problems(bare, "broken")]
    assert focus == [
        "[broken] focus not visible: button#ringless “No ring” has no outline or ring when "
        "focused by Tab (:focus-visible=True)"
    ]


def test_the_checks_pass_a_clean_page(bare: Page) -> None:
    bare.set_content(CLEAN)
    assert axe_problems(bare, "clean") == []
    assert layout_problems(bare, "clean") == []
    assert focus_problems(bare, "clean") == []
