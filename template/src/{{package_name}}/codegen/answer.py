# Owned by the Cellforge template: change blueprint.yml or the template, not this file.
"""The model's answer: one JSON object of whole files by path, checked before it is used.

The format, which the prompt states (`FORMAT`) and nothing else is accepted:

    {"summary": "one line", "files": [{"path": "src/pkg/cells/notes/handlers.py",
                                       "content": "...the whole file..."}]}

Whole files, not a diff: a file is what the gates judge, a diff against a tree the model
may have misread fails in ways that are hard to report, and a replay must rebuild the
same bytes. A listed file is written whole; a file not listed is left as it is. The
answer may be wrapped in one Markdown code fence (models often do); anything else around
the JSON makes it malformed.

Every path is relative to the project root, in POSIX form, and must stay inside the
cell's folder or its tests (`CellTree.in_scope`): an absolute path, `..`, a backslash, a
file the cell may not hold (its SPEC.md, its AGENTS.md, its record) or any other folder
refuses the whole answer, and nothing is written.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from pathlib import PurePosixPath
from typing import Any

from . import CellTree

FORMAT = (
    "Answer with one JSON object and nothing else, of this shape: "
    '{"summary": "<one line: what changed>", "files": [{"path": "<path from the project '
    'root>", "content": "<the whole file>"}]}. List every file you write, each whole; a '
    "file you do not list stays as it is."
)
MAX_FILES = 50
MAX_FILE_BYTES = 256 * 1024
SUFFIXES = (".py", ".md")  # code, and prompt templates (*.prompt.md)
FENCE = re.compile(r"\A\s*```[a-zA-Z]*\n(?P<body>.*)\n```\s*\Z", re.DOTALL)


class AnswerError(ValueError):
    """The answer is not the documented JSON (a repair round may mend it)."""


class OutOfScope(AnswerError):  # noqa: N818 - a refusal, not a fault
    """The answer writes, or names a path that leads, outside what it may write: the
    whole answer is refused, with no repair round."""


@dataclass(frozen=True)
class Answer:
    summary: str
    files: tuple[tuple[PurePosixPath, str], ...]  # (path, whole content), in the given order


def parse(text: str) -> Answer:
    """The answer in `text`, or `AnswerError` saying what is off (for a repair round)."""
    fenced = FENCE.match(text)
    body = fenced["body"] if fenced else text
    try:
        data = json.loads(body)
    except ValueError as error:
        raise AnswerError(f"the answer is not one JSON object ({error})") from None
    if not isinstance(data, dict):
        raise AnswerError(f"the answer is a JSON {type(data).__name__}, not an object")
    unknown = sorted(set(data) - {"summary", "files"})
    if unknown:
        raise AnswerError(f"the answer has unknown keys: {', '.join(unknown)}")
    summary = data.get("summary", "")
    if not isinstance(summary, str) or "\n" in summary.strip():
        raise AnswerError("summary must be one line of text")
    files = data.get("files")
    if not isinstance(files, list) or not files:
        raise AnswerError("files must be a list of at least one {path, content} object")
    if len(files) > MAX_FILES:
        raise AnswerError(f"the answer writes {len(files)} files, more than {MAX_FILES}")
    parsed = tuple(_file(number, item) for number, item in enumerate(files))
    paths = [path for path, _ in parsed]
    twice = sorted({str(path) for path in paths if paths.count(path) > 1})
    if twice:
        raise AnswerError(f"the answer writes {', '.join(twice)} more than once")
    return Answer(summary.strip(), parsed)


def _file(number: int, item: Any) -> tuple[PurePosixPath, str]:
    where = f"files[{number}]"
    if not isinstance(item, dict) or set(item) != {"path", "content"}:
        raise AnswerError(f"{where} must be an object with exactly path and content")
    raw, content = item["path"], item["content"]
    if not isinstance(raw, str) or not isinstance(content, str):
        raise AnswerError(f"{where}: path and content must be strings")
    path = _path(raw, where)
    if "\x00" in content:
        raise AnswerError(f"{where} ({raw}): the content holds a NUL byte")
    if len(content.encode("utf-8", "surrogatepass")) > MAX_FILE_BYTES:
        raise AnswerError(f"{where} ({raw}): larger than {MAX_FILE_BYTES // 1024} KiB")
    try:
        content.encode("utf-8")
    except UnicodeEncodeError:
        raise AnswerError(f"{where} ({raw}): the content is not valid Unicode") from None
    return path, content


def _path(raw: str, where: str) -> PurePosixPath:
    """`raw` as a clean relative POSIX path, or `AnswerError`."""
    if not raw or raw != raw.strip() or any(ch in raw for ch in "\\\x00") or raw.startswith("/"):
        raise OutOfScope(f"{where}: {raw!r} is not a relative POSIX path")
    path = PurePosixPath(raw)
    if any(part in ("", ".", "..") for part in raw.split("/")):
        raise OutOfScope(f"{where}: {raw!r} has an empty, `.` or `..` part")
    if path.suffix not in SUFFIXES:
        raise OutOfScope(f"{where}: {raw!r} is not a .py or .md file")
    return path


def out_of_scope(answer: Answer, cell: CellTree) -> list[str]:
    """The answer's paths that it may not write, one line each (none: all in scope)."""
    return [
        f"{path}: outside {cell.folder}/ and the cell's tests ({cell.test_file}, "
        f"{cell.test_folder}/), or a file the model may not write"
        for path, _ in answer.files
        if not cell.in_scope(path)
    ]
