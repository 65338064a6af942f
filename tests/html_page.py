"""What a browser would build from a page, for tests that look for injected markup."""

from __future__ import annotations

from collections import Counter
from html.parser import HTMLParser


class Page(HTMLParser):
    """Elements in order with their attributes, event handlers, and script bodies."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.elements: list[tuple[str, dict[str, str | None]]] = []
        self.handlers: list[tuple[str, str, str]] = []
        self.scripts: list[str] = []
        self._in_script = False

    @property
    def counts(self) -> Counter[str]:
        """How many elements of each tag."""
        return Counter(tag for tag, _ in self.elements)

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.elements.append((tag, dict(attrs)))
        for name, value in attrs:
            if name.startswith("on") or "javascript:" in (value or "").lower():
                self.handlers.append((tag, name, value or ""))
        if tag == "script":
            self._in_script = True
            self.scripts.append("")

    def handle_endtag(self, tag: str) -> None:
        if tag == "script":
            self._in_script = False

    def handle_data(self, data: str) -> None:
        if self._in_script:
            self.scripts[-1] += data


def parse(html: str) -> Page:
    """The page as parsed."""
    page = Page()
    page.feed(html)
    page.close()
    return page
