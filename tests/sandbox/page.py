"""Reading the hosted checkout page the way a browser test would: by element id."""

from dataclasses import dataclass, field
from html.parser import HTMLParser

_VOID = frozenset({"input", "meta", "br", "hr", "img", "link", "source", "wbr"})


@dataclass
class Element:
    tag: str
    attrs: dict[str, str | None]
    text: str = ""
    children: list[str] = field(default_factory=list)

    @property
    def value(self) -> str | None:
        return self.attrs.get("value")


class _ById(HTMLParser):
    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.found: dict[str, Element] = {}
        self._open: list[tuple[str, Element | None]] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.handle_data(" ")  # cells and blocks read apart, as in a browser's innerText
        attributes = dict(attrs)
        element = Element(tag, attributes) if attributes.get("id") else None
        if element is not None:
            self.found[str(attributes["id"])] = element
            for _, parent in self._open:
                if parent is not None:
                    parent.children.append(str(attributes["id"]))
        if tag not in _VOID:
            self._open.append((tag, element))

    def handle_endtag(self, tag: str) -> None:
        self.handle_data(" ")
        while self._open:
            open_tag, _ = self._open.pop()
            if open_tag == tag:
                break

    def handle_data(self, data: str) -> None:
        for _, element in self._open:
            if element is not None:
                element.text += data


def by_id(html: str) -> dict[str, Element]:
    """Every element that has an id, with its attributes and its text content."""
    parser = _ById()
    parser.feed(html)
    parser.close()
    for element in parser.found.values():
        element.text = " ".join(element.text.split())
    return parser.found
