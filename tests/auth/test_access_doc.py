from pathlib import Path

from vigil.auth import docgen

DOC = Path(__file__).resolve().parents[2] / "docs" / "access.md"


def test_access_doc_matrix_matches_the_code() -> None:
    text = DOC.read_text()
    assert docgen.render(text) == text, (
        "docs/access.md is out of date: run `python -m vigil.auth.docgen docs/access.md`"
    )
