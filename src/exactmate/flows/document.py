"""A flow file as YAML: read with safe loading, keeping the line of every value so that each problem
can say where it is.

Only YAML's plain data comes through (mappings with text keys, lists, text, numbers, booleans, null):
safe loading refuses tags that build Python objects, and a duplicate key is refused here rather than
silently keeping the last one.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import yaml

Path = tuple[str | int, ...]
"""Where a value sits in the document: keys and list positions from the top."""


@dataclass(frozen=True)
class Document:
    """The parsed flow file: its data, and the line (1-based) of each value by its path."""

    data: Any
    lines: dict[Path, int] = field(default_factory=dict)

    def line(self, path: Path) -> int | None:
        """The line of ``path``, or of the nearest value above it that has one."""
        while path:
            if path in self.lines:
                return self.lines[path]
            path = path[:-1]
        return self.lines.get(())


_PLAIN_COLLECTIONS = frozenset({"tag:yaml.org,2002:map", "tag:yaml.org,2002:seq"})


class DocumentError(Exception):
    """The text is not a YAML document of plain data; ``line`` says where (None: unknown)."""

    def __init__(self, message: str, line: int | None) -> None:
        super().__init__(message)
        self.message = message
        self.line = line


def parse(text: str) -> Document:
    """The document in ``text``; ``DocumentError`` for broken YAML, tabs, tags or duplicate keys."""
    try:
        node = yaml.compose(text, Loader=yaml.SafeLoader)
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        line = mark.line + 1 if mark is not None else None
        what = exc.problem or "not valid YAML"
        if "'\\t'" in str(exc) or "tab" in what:
            what = "a tab character: YAML indents with spaces only, never tabs"
        raise DocumentError(f"YAML: {what}", line) from None
    except yaml.YAMLError as exc:
        raise DocumentError(f"YAML: {exc}", None) from None
    if node is None:
        return Document(None, {(): 1})
    lines: dict[Path, int] = {}
    return Document(_value(node, (), lines), lines)


def _value(node: yaml.Node, path: Path, lines: dict[Path, int]) -> Any:
    lines.setdefault(path, node.start_mark.line + 1)  # a mapping's values keep their key's line
    if isinstance(node, yaml.CollectionNode) and node.tag not in _PLAIN_COLLECTIONS:
        raise DocumentError(
            f"YAML: the tag {node.tag!r} is not allowed in a flow file", node.start_mark.line + 1
        )
    if isinstance(node, yaml.MappingNode):
        out: dict[str, Any] = {}
        for key_node, value_node in node.value:
            if not isinstance(key_node, yaml.ScalarNode):
                raise DocumentError("a key must be plain text", key_node.start_mark.line + 1)
            key = str(_scalar(key_node))
            if key in out:
                raise DocumentError(f"the key {key!r} appears twice", key_node.start_mark.line + 1)
            lines[(*path, key)] = key_node.start_mark.line + 1
            out[key] = _value(value_node, (*path, key), lines)
        return out
    if isinstance(node, yaml.SequenceNode):
        return [_value(item, (*path, index), lines) for index, item in enumerate(node.value)]
    return _scalar(node)


def _scalar(node: yaml.Node) -> Any:
    """A scalar by YAML's safe rules (text, int, float, bool, null, dates as text)."""
    if node.tag == "tag:yaml.org,2002:timestamp":
        return str(node.value)  # a date stays as written: the actions read dates themselves
    try:
        return yaml.constructor.SafeConstructor().construct_object(node, deep=True)
    except yaml.YAMLError as exc:
        problem = getattr(exc, "problem", None) or str(exc)
        raise DocumentError(f"YAML: {problem}", node.start_mark.line + 1) from None
