"""Read any supported file, or a folder of them, by file extension.

=============  =========================================  ==============================
extension      format                                     returns
=============  =========================================  ==============================
``.conllu``    CoNLL-U (Universal Dependencies)           :class:`SentenceList`
``.iob2``      IOB2 / BIO column file (``.bio``, ``.ner``)  :class:`SentenceList`
``.jsonl``     jiant edge-probing records (``.json``)      :class:`EdgeRecordList`
``.txt``       plain text, one sentence per line          :class:`SentenceList`
=============  =========================================  ==============================
"""

from __future__ import annotations

from pathlib import Path

from probekit.errors import DataFormatError

SENTENCE_SUFFIXES = (".conllu", ".iob2", ".bio", ".ner", ".txt")
RECORD_SUFFIXES = (".jsonl", ".json")
SUFFIXES = SENTENCE_SUFFIXES + RECORD_SUFFIXES


def read_file(path: str | Path):
    """Read one file with the reader its extension names (see the module table)."""
    from probekit.data.conllu import read_conllu
    from probekit.data.iob2 import read_iob2
    from probekit.data.jiant import read_jsonl
    from probekit.data.text import read_text

    path = Path(path)
    suffix = path.suffix.lower()
    readers = {".conllu": read_conllu, ".iob2": read_iob2, ".bio": read_iob2, ".ner": read_iob2,
               ".txt": read_text, ".jsonl": read_jsonl, ".json": read_jsonl}
    if suffix not in readers:
        raise DataFormatError(f"unknown file type {suffix or '(no extension)'!r}", path=path,
                              expected=f"one of {', '.join(SUFFIXES)}", fix="rename the file or convert it")
    return readers[suffix](path)


def data_files(path: str | Path) -> list[Path]:
    """``[path]`` for a file, else the supported files in the folder (recursive, sorted).

    A folder holding any annotated file (``.conllu``, ``.iob2``, ``.jsonl`` ...) is read for
    those only; its ``.txt`` files are taken to be documentation such as ``LICENSE.txt``.
    """
    path = Path(path)
    if path.is_file():
        return [path]
    if not path.is_dir():
        raise DataFormatError("no such file or folder", path=path, fix="check the path")
    files = sorted(p for p in path.rglob("*") if p.is_file() and p.suffix.lower() in SUFFIXES)
    annotated = [f for f in files if f.suffix.lower() != ".txt"]
    if annotated:  # beside annotated files, .txt files are documentation (LICENSE.txt), not corpus
        files = annotated
    if not files:
        raise DataFormatError("folder holds no supported data files", path=path, expected=f"files ending {', '.join(SUFFIXES)}")
    return files


def read_corpus(path: str | Path):
    """Read a file, or every supported file of one kind in a folder, concatenated.

    Returns
    -------
    SentenceList or EdgeRecordList
        ``.stats["files"]`` maps each file to its reader's counts.
    """
    files = data_files(path)
    kinds = {f.suffix.lower() in RECORD_SUFFIXES for f in files}
    if len(kinds) > 1:
        raise DataFormatError("folder mixes sentence files and jiant JSONL records", path=path,
                              fix="point at one of them, or keep them in separate folders")
    parts = [read_file(f) for f in files]
    if len(parts) == 1:
        parts[0].stats = {**parts[0].stats, "files": {str(files[0]): dict(parts[0].stats)}}
        return parts[0]
    merged = type(parts[0])()
    for part in parts:
        merged.extend(part)
    merged.stats = {"files": {str(f): dict(p.stats) for f, p in zip(files, parts)}}
    return merged


__all__ = ["read_file", "read_corpus", "data_files", "SUFFIXES"]
