"""Plain-text corpora for language-model training: a file or a folder of ``.txt`` files.

``iter_text`` streams: it holds one line (``unit="line"``) or one paragraph
(``unit="paragraph"``, blank-line separated) in memory at a time, so a multi-GB corpus costs
nothing to open. Blank lines are separators, not sentences; they are counted in ``stats``.
"""

from __future__ import annotations

from pathlib import Path
from typing import Iterable, Iterator, Literal

from probekit.data.lines import iter_lines
from probekit.data.records import Sentence, SentenceList, group_documents
from probekit.errors import ConfigError, DataFormatError
from probekit.io import atomic_write_text

Unit = Literal["line", "paragraph"]


def text_files(path: str | Path) -> list[Path]:
    """``[path]`` for a file, else the folder's ``*.txt`` files (recursive, sorted)."""
    path = Path(path)
    if path.is_dir():
        files = sorted(p for p in path.rglob("*.txt") if p.is_file())
        if not files:
            raise DataFormatError("folder has no .txt files", path=path, fix="point at a .txt file or a folder of them")
        return files
    if not path.exists():
        raise DataFormatError("file not found", path=path, fix="check the path")
    return [path]


def iter_text(path: str | Path, *, unit: Unit = "line", stats: dict | None = None) -> Iterator[str]:
    """Stream the non-empty lines (or paragraphs) of a text file or a folder of ``.txt`` files.

    Parameters
    ----------
    path : str or Path
        A text file or a folder (searched recursively for ``*.txt``, in sorted order).
    unit : {"line", "paragraph"}
        ``"line"``: one sentence or document per line. ``"paragraph"``: consecutive non-blank
        lines joined by a space, paragraphs separated by blank lines.
    stats : dict, optional
        Filled with ``files``, ``units`` and ``blank_lines`` as the stream is consumed.

    Yields
    ------
    str
        Stripped text units, never empty.
    """
    if unit not in ("line", "paragraph"):
        raise ConfigError(f"unit={unit!r} is not supported; use 'line' or 'paragraph'")
    stats = {} if stats is None else stats
    stats.update(files=0, units=0, blank_lines=0)
    for file in text_files(path):
        stats["files"] += 1
        paragraph: list[str] = []
        for _, line in iter_lines(file):
            line = line.strip()
            if not line:
                stats["blank_lines"] += 1
                if paragraph:
                    stats["units"] += 1
                    yield " ".join(paragraph)
                    paragraph = []
                continue
            if unit == "line":
                stats["units"] += 1
                yield line
            else:
                paragraph.append(line)
        if paragraph:
            stats["units"] += 1
            yield " ".join(paragraph)


def read_text(path: str | Path, *, unit: Unit = "line", lang: str = "en") -> SentenceList:
    """Whitespace-tokenised :class:`Sentence` records of a text corpus (one per unit).

    Ids are ``<file stem>-<n>`` and each file is one document. Meant for statistics and small
    corpora; for training use :func:`iter_text`, which streams.
    """
    stats: dict = {}
    out = SentenceList(stats=stats)
    for file in text_files(path):
        for n, unit_text in enumerate(iter_text(file, unit=unit), 1):
            out.append(Sentence(id=f"{file.stem}-{n}", tokens=unit_text.split(), doc_id=str(file),
                                text=unit_text, lang=lang))
    stats.update(sentences=len(out), tokens=sum(len(s) for s in out), files=len(text_files(path)))
    if not out:
        raise DataFormatError("no text found (only blank lines)", path=path, expected="non-blank lines of text")
    return out


def write_text(
    sentences: Iterable[Sentence | str], path: str | Path, *, per: Literal["sentence", "document"] = "sentence"
) -> Path:
    """Write one sentence (or one document) per line, atomically.

    A :class:`Sentence` is written as its words joined by single spaces (the tokenisation the
    probes see); strings are written as they are. ``per="document"`` joins the sentences of
    each document (consecutive equal ``doc_id``) on one line.
    """
    items = list(sentences)
    if per not in ("sentence", "document"):
        raise ConfigError(f"per={per!r} is not supported; use 'sentence' or 'document'")

    def line_of(item: Sentence | str) -> str:
        text = item if isinstance(item, str) else " ".join(item.tokens)
        return " ".join(text.split())  # a newline inside would split the unit on reading

    if per == "document":
        if any(isinstance(i, str) for i in items):
            raise ConfigError("per='document' needs Sentence records (with doc_id), not strings")
        lines = [" ".join(line_of(s) for s in doc.sentences) for doc in group_documents(items)]
    else:
        lines = [line_of(i) for i in items]
    return atomic_write_text(path, "".join(line + "\n" for line in lines if line))
