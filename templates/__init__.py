"""Every text a shopper or staff member reads: message catalogues and HTML pages.

A package only so that an installed wheel carries the files; code finds them here.
"""

from pathlib import Path

TEMPLATES_DIR = Path(__file__).resolve().parent
MESSAGES_DIR = TEMPLATES_DIR / "messages"
PAGES_DIR = TEMPLATES_DIR / "pages"
WIDGET_FILE = TEMPLATES_DIR / "widget" / "widget.js"
