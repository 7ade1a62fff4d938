"""The transparency report in a real browser: the screen checks, and the printout without the
console's chrome."""

from __future__ import annotations

from pathlib import Path

import pytest
from playwright.sync_api import Page, expect
from sqlalchemy.orm import Session

from tests.analytics.transparency.conftest import Reported
from tests.analytics.transparency.conftest import closed as closed
from tests.analytics.transparency.conftest import reported as reported
from tests.web.e2e import assert_screen, login

pytestmark = pytest.mark.browser


def test_leadership_reads_and_prints_the_report(
    page: Page,
    db: Session,
    reported: Reported,
) -> None:
    db.commit()
    login(page, reported.closed.head.email, "/reports/transparency?start=2026-11-01&end=2026-11-30")
    expect(page.get_by_role("heading", name="Transparency report")).to_be_visible()
    expect(page.get_by_role("heading", name="2. Notices from users (Art. 16)")).to_be_visible()
    assert_screen(page, "transparency-report")
    page.emulate_media(media="print")
    expect(page.locator("header.top")).to_be_hidden()
    expect(page.get_by_role("button", name="Show")).to_be_hidden()
    expect(page.get_by_text("Period: 2026-11-01 to 2026-11-30")).to_be_visible()


# A4 at 96 dpi less Chromium's default print margins: the width the printed tables get.
PRINT_WIDTH = 718


def test_printed_values_never_wrap_inside(
    page: Page,
    db: Session,
    reported: Reported,
) -> None:
    """ "21.1%", "not recorded" and "Value" stay on one line on paper; category codes break
    only after a "_"; the PDF is rendered to PNGs for a person to look at."""
    db.commit()
    login(page, reported.closed.head.email, "/reports/transparency?start=2026-11-01&end=2026-11-30")
    page.emulate_media(media="print")
    page.set_viewport_size({"width": PRINT_WIDTH, "height": 1000})
    broken = page.evaluate(
        """() => {
          const lines = (el) => {
            const range = document.createRange();
            range.selectNodeContents(el);
            return new Set([...range.getClientRects()].map((r) => Math.round(r.top))).size;
          };
          const out = [];
          document.querySelectorAll(".tr-value, .tr-section thead th").forEach((el) => {
            if (lines(el) > 1) out.push(el.textContent);
          });
          // A breakdown may take several lines, but each line ends at "_", "," or a space.
          document.querySelectorAll(".tr-breakdown").forEach((el) => {
            const range = document.createRange();
            const text = el.textContent;
            let top = null;
            for (let i = 0; i < text.length; i++) {
              let node = el.firstChild, at = i;
              const walker = document.createTreeWalker(el, NodeFilter.SHOW_TEXT);
              while ((node = walker.nextNode())) {
                if (at < node.length) break;
                at -= node.length;
              }
              range.setStart(node, at);
              range.setEnd(node, at + 1);
              const rect = range.getClientRects()[0];
              if (!rect) continue;
              if (top !== null && Math.round(rect.top) > top && !/[_, =]/.test(text[i - 1])) {
                out.push(text);
                break;
              }
              top = Math.round(rect.top);
            }
          });
          return out;
        }"""
    )
    assert broken == []
    pdf = page.pdf(format="A4", print_background=False)
    assert pdf.startswith(b"%PDF")
    out = Path("artifacts/screenshots")
    out.mkdir(parents=True, exist_ok=True)
    (out / "transparency-print.pdf").write_bytes(pdf)
    try:
        import pypdfium2  # type: ignore[import-not-found]
    except ImportError:  # pragma: no cover - the PDF is still saved
        return
    document = pypdfium2.PdfDocument(pdf)
    for i in range(len(document)):
        image = document[i].render(scale=1.5).to_pil()
        image.save(out / f"transparency-print-p{i + 1}.png")
