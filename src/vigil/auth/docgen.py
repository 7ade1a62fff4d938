"""Keeps the role-by-permission table in ``docs/access.md`` in step with ``ROLE_PERMISSIONS``.

``python -m vigil.auth.docgen docs/access.md`` rewrites the table between the markers;
``tests/auth/test_access_doc.py`` fails when the file is out of date.
"""

from __future__ import annotations

import sys
from pathlib import Path

from vigil.auth.permissions import API_KEY_SCOPES, ROLE_PERMISSIONS, Permission, Role

BEGIN = "<!-- begin: role-permission matrix (python -m vigil.auth.docgen docs/access.md) -->"
END = "<!-- end: role-permission matrix -->"


def matrix_markdown() -> str:
    roles = list(Role)
    header = "| permission | " + " | ".join(r.value for r in roles) + " | API key |"
    rule = "|---|" + "---|" * (len(roles) + 1)
    lines = [header, rule]
    for permission in Permission:
        cells = ["✓" if permission in ROLE_PERMISSIONS[r] else "" for r in roles]
        cells.append("✓" if permission in API_KEY_SCOPES else "")
        lines.append(f"| `{permission.value}` | " + " | ".join(cells) + " |")
    return "\n".join(lines)


def render(document: str) -> str:
    """``document`` with the text between the markers replaced by the current table."""
    start = document.index(BEGIN) + len(BEGIN)
    end = document.index(END)
    return document[:start] + "\n" + matrix_markdown() + "\n" + document[end:]


def main(argv: list[str]) -> int:
    path = Path(argv[1] if len(argv) > 1 else "docs/access.md")
    text = path.read_text()
    new = render(text)
    if new != text:
        path.write_text(new)
        print(f"updated {path}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv))
