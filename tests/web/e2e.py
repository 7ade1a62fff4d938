"""Helpers for the console's end-to-end browser tests (``tests/web/test_e2e_*.py``).

A screen is "good" when, in Debian's Chromium:

- axe-core (bundled in ``axe-playwright-python``, injected from disk: nothing is downloaded)
  finds no violation of impact *serious* or *critical*;
- it fits 1280x800, 1366x768 and 1440x900 without a horizontal scrollbar, on the page or
  inside any of its boxes;
- tabbing through it, every focused control shows a visible focus ring;
- it asked for nothing from any host but Vigil's, and logged no console error.

``check_screen`` runs all of that and saves a full-page screenshot to
``artifacts/screenshots/<name>.png`` (repo-relative, gitignored), then fails once with every
problem found, each naming the element, so the page's owner can fix it.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from axe_playwright_python.sync_playwright import Axe
from playwright.sync_api import Page, expect

from tests.factories import DEFAULT_PASSWORD

ROOT = Path(__file__).resolve().parents[2]
SCREENSHOTS = ROOT / "artifacts" / "screenshots"

# 1280x800 is the console's reference size; 1366x768 and 1440x900 are common 13-inch laptops.
VIEWPORTS: tuple[tuple[int, int], ...] = ((1280, 800), (1366, 768), (1440, 900))
DEFAULT_VIEWPORT = {"width": 1280, "height": 800}

BLOCKING_IMPACTS = frozenset({"serious", "critical"})

_axe = Axe()


# --- logging in and out ---------------------------------------------------------------------


def login(page: Page, email: str, start: str = "/") -> None:
    """Log in through the form (opening ``start`` logged out leads to it, and back to
    ``start`` after) and wait until the console's header is there."""
    page.goto(start)
    expect(page).to_have_url(re.compile(r"/login\?next="))
    page.get_by_label("Email").fill(email)
    page.get_by_label("Password").fill(DEFAULT_PASSWORD)
    page.get_by_role("button", name="Log in").click()
    expect(page.get_by_role("button", name="Log out")).to_be_visible()
    settle(page)


def logout(page: Page) -> None:
    # Let the page's fragments arrive first: one still loading when the session ends would
    # be answered 401 and logged as an error.
    settle(page)
    page.get_by_role("button", name="Log out").click()
    expect(page.get_by_label("Email")).to_be_visible()


def settle(page: Page) -> None:
    """Wait until the page and its htmx fragments (``hx-trigger="load"``) have arrived, so a
    check sees the page a reviewer sees."""
    page.wait_for_load_state("domcontentloaded")
    page.wait_for_load_state("networkidle")


# --- accessibility --------------------------------------------------------------------------


@dataclass
class Problem:
    """One thing wrong with a screen, phrased for the owner of its template."""

    screen: str
    check: str
    detail: str

    def __str__(self) -> str:
        return f"[{self.screen}] {self.check}: {self.detail}"


def axe_problems(page: Page, screen: str) -> list[Problem]:
    """axe-core violations of impact serious or critical, one per rule, with up to five
    offending elements (CSS selector and the start of their markup)."""
    results = _axe.run(page, options={"resultTypes": ["violations"]})
    _tidy(page)
    out = []
    for v in results.response["violations"]:
        if v.get("impact") not in BLOCKING_IMPACTS:
            continue
        nodes = v.get("nodes", [])
        where = "; ".join(
            f"{' '.join(str(t) for t in n.get('target', []))} → {_short(n.get('html', ''))}"
            for n in nodes[:5]
        )
        more = f" (+{len(nodes) - 5} more)" if len(nodes) > 5 else ""
        out.append(
            Problem(
                screen,
                f"axe {v['id']} ({v['impact']})",
                f"{v.get('help', '')}: {where}{more}",
            )
        )
    return out


def _tidy(page: Page) -> None:
    """Take away the empty ``style=""`` that axe (measuring) and Playwright's screenshots
    (hiding the caret) leave on elements: htmx copies ``style`` onto a fragment it swaps in
    (``attributesToSettle``), which the console's CSP (style-src 'self') reports as an inline
    style, an error the page itself never makes."""
    page.evaluate(
        "() => document.querySelectorAll('[style=\"\"]').forEach((e) => e.removeAttribute('style'))"
    )


def _short(html: str, limit: int = 160) -> str:
    html = re.sub(r"\s+", " ", html).strip()
    return html if len(html) <= limit else html[: limit - 1] + "…"


# --- layout ---------------------------------------------------------------------------------

# What overflows the page's width, which boxes scroll sideways inside themselves, and which
# text was squeezed into a sliver (a grid or flex column left it no room: one letter a line).
_OVERFLOW_JS = """
() => {
  const doc = document.documentElement;
  const width = doc.clientWidth;
  const name = (el) => {
    let s = el.tagName.toLowerCase();
    if (el.id) s += '#' + el.id;
    const cls = (typeof el.className === 'string' ? el.className : '').trim();
    if (cls) s += '.' + cls.split(/\\s+/).slice(0, 3).join('.');
    return s;
  };
  const path = (el) => {
    const parts = [];
    for (let e = el; e && e !== document.body && parts.length < 4; e = e.parentElement) {
      parts.unshift(name(e));
    }
    return parts.join(' > ');
  };
  const visible = (el) => {
    const st = getComputedStyle(el);
    if (st.visibility === 'hidden' || st.display === 'none') return false;
    const r = el.getBoundingClientRect();
    return r.width > 0 && r.height > 0;
  };
  const found = [];
  for (const el of document.body.querySelectorAll('*')) {
    const st = getComputedStyle(el);
    if (st.visibility === 'hidden' || st.display === 'none') continue;
    const r = el.getBoundingClientRect();
    if (r.width < 40 && r.height > 300 && Array.from(el.childNodes).some(
        (n) => n.nodeType === 3 && n.textContent.trim().length > 20)) {
      found.push({kind: 'squeezed', path: path(el),
                  detail: Math.round(r.width) + 'px wide, ' + Math.round(r.height) + 'px tall'});
    }
    if (!visible(el)) continue;
    if (r.right > width + 1) {
      // Only the innermost offenders: an element whose children all fit is the culprit.
      const kids = Array.from(el.children).filter(
        (k) => visible(k) && k.getBoundingClientRect().right > width + 1);
      if (kids.length === 0) {
        found.push({kind: 'wide', path: path(el),
                    detail: 'right edge at ' + Math.round(r.right) + 'px'});
      }
    }
    if (['auto', 'scroll'].includes(st.overflowX) && el.scrollWidth > el.clientWidth + 1) {
      found.push({kind: 'scroller', path: path(el),
                  detail: el.scrollWidth + 'px of content in ' + el.clientWidth + 'px'});
    }
  }
  return {page: doc.scrollWidth > doc.clientWidth, scrollWidth: doc.scrollWidth, found: found};
}
"""

_LAYOUT_CHECKS = {
    "page": "horizontal scrollbar on the page",
    "wide": "sticks out past the right edge",
    "scroller": "box scrolls sideways",
    "squeezed": "text squeezed into a sliver",
}


def layout_problems(page: Page, screen: str) -> list[Problem]:
    """No horizontal scrollbar at each of ``VIEWPORTS``: not on the page, not in a box; and
    no text squeezed into a column a few pixels wide (what a grid does to a long word).
    One problem per element, naming the sizes where it happens."""
    seen: dict[tuple[str, str], tuple[list[str], str, int]] = {}

    def note(kind: str, path: str, detail: str, size: str) -> None:
        sizes, first, count = seen.get((kind, path), ([], detail, 0))
        if size not in sizes:
            sizes.append(size)
        seen[(kind, path)] = (sizes, first, count + 1)

    try:
        for width, height in VIEWPORTS:
            page.set_viewport_size({"width": width, "height": height})
            size = f"{width}x{height}"
            r: dict[str, Any] = page.evaluate(_OVERFLOW_JS)
            if r["page"]:
                note("page", "html", f"{r['scrollWidth']}px of page in {width}px", size)
            for f in r["found"]:
                if f["kind"] != "wide" or r["page"]:
                    note(f["kind"], f["path"], f["detail"], size)
    finally:
        page.set_viewport_size(DEFAULT_VIEWPORT)
    out = []
    for (kind, path), (sizes, detail, count) in seen.items():
        times = f" ({count // len(sizes)} elements)" if count // len(sizes) > 1 else ""
        out.append(
            Problem(
                screen,
                f"{_LAYOUT_CHECKS[kind]} at {', '.join(sizes)}",
                f"{path}{times}: {detail}",
            )
        )
    return out


# --- focus ----------------------------------------------------------------------------------

# Whether the focused element shows a ring: an outline or a box-shadow that is not "none".
_FOCUS_JS = """
() => {
  const el = document.activeElement;
  if (!el || el === document.body) return null;
  const st = getComputedStyle(el);
  const outline = st.outlineStyle !== 'none' && parseFloat(st.outlineWidth) >= 2;
  const shadow = st.boxShadow && st.boxShadow !== 'none';
  let s = el.tagName.toLowerCase();
  if (el.id) s += '#' + el.id;
  const label = (el.getAttribute('aria-label') || el.textContent || el.name || '')
    .trim().replace(/\\s+/g, ' ').slice(0, 40);
  const index = Array.prototype.indexOf.call(document.querySelectorAll('*'), el);
  return {name: s, label: label, index: index, visible: outline || shadow,
          focusVisible: el.matches(':focus-visible')};
}
"""


def focus_problems(page: Page, screen: str, *, tabs: int = 25) -> list[Problem]:
    """Tab from the top of the page through up to ``tabs`` stops; each must show its focus.
    Starts from the body so the page's own autofocus does not count."""
    out: list[Problem] = []
    seen: set[int] = set()
    page.evaluate("() => { if (document.activeElement) document.activeElement.blur(); }")
    url = page.url
    for _ in range(tabs):
        page.keyboard.press("Tab")
        if page.url != url:  # a key handler navigated; stop rather than judge another page
            break
        state = page.evaluate(_FOCUS_JS)
        if state is None:
            continue
        key = state["index"]
        if key in seen:  # back round to the start: every stop was seen
            break
        seen.add(key)
        if not state["visible"]:
            out.append(
                Problem(
                    screen,
                    "focus not visible",
                    f"{state['name']} “{state['label']}” has no outline or ring when focused "
                    f"by Tab (:focus-visible={state['focusVisible']})",
                )
            )
    page.evaluate("() => { if (document.activeElement) document.activeElement.blur(); }")
    return out


# --- screenshots and the whole check --------------------------------------------------------


# A screenshot shows the whole page down to this height (a page taller than that is a layout
# problem that ``layout_problems`` reports; photographing 50,000 px takes seconds).
SCREENSHOT_MAX_HEIGHT = 4000


def screenshot(page: Page, name: str) -> Path:
    """Save the page, top to bottom (up to ``SCREENSHOT_MAX_HEIGHT``), to
    ``artifacts/screenshots/<name>.png``."""
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    path = SCREENSHOTS / f"{name}.png"
    width, height = page.evaluate(
        "() => [document.documentElement.clientWidth, document.documentElement.scrollHeight]"
    )
    clip = {"x": 0, "y": 0, "width": width, "height": min(height, SCREENSHOT_MAX_HEIGHT)}
    page.screenshot(path=str(path), full_page=True, clip=clip)  # type: ignore[arg-type]
    _tidy(page)
    return path


@dataclass
class Report:
    problems: list[Problem] = field(default_factory=list)

    def add(self, found: list[Problem]) -> None:
        self.problems.extend(found)

    def __bool__(self) -> bool:
        return bool(self.problems)

    def __str__(self) -> str:
        return "\n".join(f"  - {p}" for p in self.problems)


def check_screen(page: Page, name: str, *, focus: bool = True, shot: bool = True) -> Report:
    """Run every check on the screen as it is now and save its screenshot. Returns the report
    (empty when the screen is good); ``assert_screen`` fails on a non-empty one."""
    settle(page)
    report = Report()
    if shot:
        screenshot(page, name)
    report.add(axe_problems(page, name))
    report.add(layout_problems(page, name))
    if focus:
        report.add(focus_problems(page, name))
    # The page fixture's lists grow for the page's whole life: judge what is new since the
    # last screen checked.
    outside, errors = _since_last_check(page)
    report.add([Problem(name, "request to another host", u) for u in outside[:5]])
    report.add([Problem(name, "console error or warning", _short(e)) for e in errors[:5]])
    return report


def _since_last_check(page: Page) -> tuple[list[str], list[str]]:
    outside: list[str] = page.outside_requests  # type: ignore[attr-defined]
    errors: list[str] = page.problems  # type: ignore[attr-defined]
    seen_outside, seen_errors = getattr(page, "e2e_seen", (0, 0))
    page.e2e_seen = (len(outside), len(errors))  # type: ignore[attr-defined]
    return outside[seen_outside:], errors[seen_errors:]


def assert_screen(page: Page, name: str, **options: bool) -> None:
    report = check_screen(page, name, **options)
    assert not report, f"the {name} screen has problems:\n{report}"


def assert_clean(page: Page) -> None:
    """Nothing fetched from another host and nothing logged as an error or warning."""
    outside = list(page.outside_requests)  # type: ignore[attr-defined]
    logged = list(page.problems)  # type: ignore[attr-defined]
    assert outside == [], f"requests to other hosts: {outside}"
    assert logged == [], f"console errors or warnings: {logged}"
