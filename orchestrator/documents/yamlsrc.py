"""YAML read as a node tree, so every value keeps the line it came from and its raw text.

Raw text matters: YAML 1.1 turns `yes` into a boolean and `012` into 10; the service model,
not the YAML parser, decides what a value means.
"""

from __future__ import annotations

import os
import stat

from pathlib import Path

import yaml

from orchestrator.errors import FullbarsError, Problem

try:
    _Base = yaml.CSafeLoader
except AttributeError:  # pragma: no cover - libyaml missing
    _Base = yaml.SafeLoader


class _Loader(_Base):
    """Composes without resolving each scalar's implicit type (a regex match per value, in Python:
    a quarter of composing 100,000 intents), since values are read as their raw text. A plain
    empty scalar still resolves to null: it is how an empty document (a trailing `---`) is known."""

    def resolve(self, kind, value, implicit):
        if kind is yaml.ScalarNode:
            return _NULL if value == "" and implicit[0] else _STR
        return _SEQ if kind is yaml.SequenceNode else _MAP


_NULL, _STR = "tag:yaml.org,2002:null", yaml.resolver.BaseResolver.DEFAULT_SCALAR_TAG
_SEQ, _MAP = yaml.resolver.BaseResolver.DEFAULT_SEQUENCE_TAG, yaml.resolver.BaseResolver.DEFAULT_MAPPING_TAG


MAX_BYTES = 256 << 20  # read at most this much: a device file (/dev/zero) must not fill the memory


def _opened(path: Path | str):
    """The file opened to read. A named pipe is opened without waiting for a writer: one writing
    already (a shell's process substitution) is read to its end, none is an empty file (an open
    that waits for one would hang the command)."""
    if stat.S_ISFIFO(os.stat(path).st_mode):
        fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK)
        os.set_blocking(fd, True)
        return os.fdopen(fd, "rb")
    return open(path, "rb")


# What a file holds, as its errors say it: (the file, what to write in it). Intents may be
# given as many files (a folder's *.yaml); the others are one file each.
WHAT = {"intent": ("an intent file", "write an intent with apiVersion, kind, metadata and spec"),
        "network": ("a network description", "write one Network document (apiVersion, kind: Network, metadata, "
                    "spec), as examples/network.yaml is"),
        "catalogue": ("a catalogue", "write one Catalogue document (apiVersion, kind: Catalogue, metadata, spec)")}


def read_text(path: Path | str, what: str = "intent") -> str:
    """A file's text, or a Problem saying why it cannot be read (missing, a folder, too big, not
    UTF-8). what: a key of WHAT, the file's use."""
    name = str(path)
    if Path(path).is_dir():
        raise FullbarsError(f"a directory, not {WHAT[what][0]}", file=name,
                            fix=f"name the YAML files in it, for example {name.rstrip('/')}/*.yaml" if what == "intent"
                            else f"name the YAML file of {WHAT[what][0]}, not a folder")
    try:
        with _opened(path) as f:
            data = f.read(MAX_BYTES + 1)
    except FileNotFoundError:
        raise FullbarsError("no such file", file=name, fix="check the path") from None
    except OSError as exc:
        raise FullbarsError(f"cannot read the file: {exc.strerror or exc}", file=name,
                            fix="check the path and its permissions") from None
    if len(data) > MAX_BYTES:
        raise FullbarsError(f"larger than {MAX_BYTES >> 20} MiB", file=name,
                            fix="split the intents into several files")
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise FullbarsError(f"not UTF-8 text ({exc.reason} at byte {exc.start})", file=name,
                            line=data.count(b"\n", 0, exc.start) + 1, fix="save the file as UTF-8") from None


def _empty(node: yaml.Node) -> bool:
    """A document with nothing in it, as a trailing `---` makes."""
    return isinstance(node, yaml.ScalarNode) and node.tag == "tag:yaml.org,2002:null" and node.value == ""


def read_documents(path: Path | str, text: str | None = None, what: str = "intent") -> list[yaml.Node]:
    """Compose every document in a file; syntax errors become a Problem with file and line."""
    name = str(path)
    if text is None:
        text = read_text(path, what)
    try:
        docs = [d for d in yaml.compose_all(text, Loader=_Loader) if d is not None and not _empty(d)]
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        if mark and _tab_at(text, mark):
            raise FullbarsError(f"a tab character (column {mark.column + 1}): YAML indents with spaces only",
                                file=name, line=mark.line + 1, fix="replace the tab with spaces") from None
        raise FullbarsError(
            f"malformed YAML: {exc.problem or exc.context}",
            file=name, line=(mark.line + 1) if mark else None,
            fix="correct the YAML syntax (indentation, a missing ':' or an unclosed quote)",
        ) from None
    except yaml.reader.ReaderError as exc:  # a character YAML does not allow anywhere (NUL, other controls)
        line = text.count("\n", 0, exc.position) + 1 if isinstance(exc.position, int) else None
        raise FullbarsError(
            f"the character #x{exc.character:04x} is not allowed in YAML ({exc.reason})"
            if isinstance(exc.character, int) else f"unreadable YAML ({exc.reason})",
            file=name, line=line, fix="remove it; write control characters in a quoted string as an escape (\\t)",
        ) from None
    except yaml.YAMLError as exc:
        raise FullbarsError(f"unreadable YAML: {str(exc).splitlines()[0][:200]}", file=name,
                            fix="correct the YAML syntax") from None
    except RecursionError:
        raise FullbarsError("YAML nested too deeply", file=name, fix="flatten the document") from None
    if not docs:
        raise FullbarsError("the file holds no YAML document", file=name, fix=WHAT[what][1])
    return docs


def _tab_at(text: str, mark) -> bool:
    lines = text.splitlines()
    return mark.line < len(lines) and lines[mark.line][mark.column:mark.column + 1] == "\t"


def line_of(node: yaml.Node) -> int:
    return node.start_mark.line + 1


def mapping_items(node: yaml.MappingNode, file: str, path: str) -> list[tuple[str, yaml.Node, int]]:
    """(key, value node, key line); refuses duplicate and non-scalar keys."""
    seen: dict[str, int] = {}
    out = []
    for knode, vnode in node.value:
        if not isinstance(knode, yaml.ScalarNode):
            raise FullbarsError(Problem("a key must be a plain word", file=file, line=line_of(knode),
                                        path=path or "/", fix="use `name: value` pairs"))
        key = knode.value
        if key in seen:
            raise FullbarsError(Problem(f"duplicate key {key!r} (first on line {seen[key]})", file=file,
                                        line=line_of(knode), path=f"{path}.{key}".lstrip("."),
                                        fix="keep one of the two entries"))
        seen[key] = line_of(knode)
        out.append((key, vnode, line_of(knode)))
    return out


def to_python(node: yaml.Node):
    """Plain Python for parts that no YANG model types (the envelope's metadata)."""
    return yaml.constructor.SafeConstructor().construct_document(node)
