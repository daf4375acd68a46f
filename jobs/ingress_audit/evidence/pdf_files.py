"""The files attached to a PDF: the EmbeddedFiles name tree and the catalog's /AF (PDF/A-3) array.

A file may be listed in both places (PDF/A-3 wants it so), even twice in one; what matters is
that every listing of a name has the same bytes. Two different files under one name would let a
viewer show one and a checker read the other, so they are returned as they are and `verify` fails.
"""

from __future__ import annotations

from pyhanko.pdf_utils import generic
from pyhanko.pdf_utils.reader import PdfFileReader

_MAX_DEPTH = 32  # a name tree deeper than this is malformed (or built to make us loop)


def attached_files(reader: PdfFileReader) -> dict[str, list[bytes]]:
    """File name -> the distinct contents attached under that name (normally one)."""
    found: dict[str, list[bytes]] = {}
    root = reader.root
    names = _get(root, "/Names")
    tree = _get(names, "/EmbeddedFiles") if names is not None else None
    specs = list(_name_tree_values(tree, 0, set())) if tree is not None else []
    af = _get(root, "/AF")
    if isinstance(af, generic.ArrayObject):
        specs.extend(item.get_object() for item in af)
    for spec in specs:
        name, data = _file_spec(spec)
        if name is None or data is None:
            continue
        contents = found.setdefault(name, [])
        if data not in contents:
            contents.append(data)
    return found


def _name_tree_values(node, depth: int, seen: set):
    node = node.get_object() if node is not None else None
    if not isinstance(node, generic.DictionaryObject) or depth > _MAX_DEPTH or id(node) in seen:
        return
    seen.add(id(node))
    pairs = _get(node, "/Names")
    if isinstance(pairs, generic.ArrayObject):
        for value in list(pairs)[1::2]:
            yield value.get_object()
    kids = _get(node, "/Kids")
    if isinstance(kids, generic.ArrayObject):
        for kid in kids:
            yield from _name_tree_values(kid, depth + 1, seen)


def _file_spec(spec) -> tuple[str | None, bytes | None]:
    if not isinstance(spec, generic.DictionaryObject):
        return None, None
    name = _get(spec, "/UF") or _get(spec, "/F")
    ef = _get(spec, "/EF")
    if not isinstance(ef, generic.DictionaryObject):
        return None, None
    stream = _get(ef, "/UF") or _get(ef, "/F")
    if not isinstance(stream, generic.StreamObject) or not isinstance(name, (generic.TextStringObject, generic.ByteStringObject, str)):
        return None, None
    text = name.original_bytes.decode("latin-1") if isinstance(name, generic.ByteStringObject) else str(name)
    return text, stream.data


def _get(obj, key: str):
    if not isinstance(obj, generic.DictionaryObject) or key not in obj:
        return None
    value = obj.raw_get(key)
    return value.get_object() if isinstance(value, generic.IndirectObject) else value
