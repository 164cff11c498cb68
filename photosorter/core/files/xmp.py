"""XMP sidecar keywords: read, merge and remove, never clobbering anything else.

Categories become `dc:subject` (rdf:Bag), `lr:hierarchicalSubject` (`PhotoSorter|<cat>`)
and `digiKam:TagsList` (`PhotoSorter/<cat>`), which digiKam, darktable, Lightroom, Immich
and exiftool read. Existing sidecars are parsed with defusedxml (no DTDs, no entities);
every other property, namespace prefix and comment survives a merge.
"""

from __future__ import annotations

import re
import xml.etree.ElementTree as ET
from collections import ChainMap
from dataclasses import dataclass
from pathlib import Path

from defusedxml.common import DefusedXmlException
from defusedxml.ElementTree import DefusedXMLParser

from photosorter.core.errors import PhotoSorterError

X = "adobe:ns:meta/"
RDF = "http://www.w3.org/1999/02/22-rdf-syntax-ns#"
DC = "http://purl.org/dc/elements/1.1/"
LR = "http://ns.adobe.com/lightroom/1.0/"
DIGIKAM = "http://www.digikam.org/ns/1.0/"
XML_NS = "http://www.w3.org/XML/1998/namespace"
_PREFERRED = {X: "x", RDF: "rdf", DC: "dc", LR: "lr", DIGIKAM: "digiKam"}

ROOT_TAG = "PhotoSorter"
MAX_SIDECAR_BYTES = 16 * 1024 * 1024
_PACKET_ID = "W5M0MpCehiHzreSzNTczkc9d"
# Characters XML 1.0 forbids even as character references (C0 controls but tab, CR, LF).
_NOT_XML = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\ud800-\udfff\ufffe\uffff]")


class XmpError(PhotoSorterError):
    """A sidecar is malformed, unsafe or too large; it is left exactly as it is."""


@dataclass(frozen=True)
class Keywords:
    """Values of the three keyword properties PhotoSorter writes."""

    subject: tuple[str, ...] = ()  # dc:subject
    hierarchical: tuple[str, ...] = ()  # lr:hierarchicalSubject
    tags: tuple[str, ...] = ()  # digiKam:TagsList

    @classmethod
    def for_category(cls, category: str) -> Keywords:
        return cls((category,), (f"{ROOT_TAG}|{category}",), (f"{ROOT_TAG}/{category}",))

    def __bool__(self) -> bool:
        return bool(self.subject or self.hierarchical or self.tags)

    def to_json(self) -> dict[str, list[str]]:
        return {"subject": list(self.subject), "hierarchical": list(self.hierarchical),
                "tags": list(self.tags)}  # fmt: skip

    @classmethod
    def from_json(cls, data: dict) -> Keywords:
        return cls(*(tuple(data.get(k, ())) for k in ("subject", "hierarchical", "tags")))


# field name -> (namespace, local name, container used when creating the property)
_PROPS = {
    "subject": (DC, "subject", "Bag"),
    "hierarchical": (LR, "hierarchicalSubject", "Bag"),
    "tags": (DIGIKAM, "TagsList", "Seq"),
}


def sidecar_path(photo: Path) -> Path:
    """`photo.jpg` -> `photo.jpg.xmp` (the digiKam / darktable / Immich convention)."""
    return photo.with_name(photo.name + ".xmp")


def read_keywords(data: bytes) -> Keywords:
    """The keyword values in an XMP packet."""
    doc = _parse(data)
    return Keywords(**{f: tuple(_values(doc.root, f)) for f in _PROPS})


def stale_categories(data: bytes, keep: str) -> Keywords:
    """Keywords of the categories PhotoSorter tagged before, other than `keep`.

    A category is PhotoSorter's when its `PhotoSorter|<category>` hierarchical entry is
    there; its flat keyword and digiKam tag go with it. The user's own keywords never do.
    """
    found = read_keywords(data)
    prefix = f"{ROOT_TAG}|"
    old = [h[len(prefix) :] for h in found.hierarchical if h.startswith(prefix)]
    old = [c for c in old if c != keep and "|" not in c]
    if not old:
        return Keywords()
    mine = [Keywords.for_category(c) for c in old]
    return Keywords(
        tuple(k.subject[0] for k in mine if k.subject[0] in found.subject),
        tuple(k.hierarchical[0] for k in mine),
        tuple(k.tags[0] for k in mine if k.tags[0] in found.tags),
    )


def merge_keywords(data: bytes | None, add: Keywords) -> tuple[bytes, Keywords]:
    """Add keywords to a packet (None: a new one); returns new bytes and what was new."""
    doc = _parse(data) if data is not None else _new_document()
    added: dict[str, tuple[str, ...]] = {}
    for field in _PROPS:
        present = set(_values(doc.root, field))
        new = tuple(dict.fromkeys(v for v in getattr(add, field) if v not in present))
        if new:
            container = _container(doc.root, field, create=True)
            for value in new:
                li = ET.SubElement(container, f"{{{RDF}}}li")
                li.text = value
            _tidy(doc.root, container)
        added[field] = new
    return doc.serialize(), Keywords(**added)


def remove_keywords(data: bytes, remove: Keywords) -> tuple[bytes, Keywords]:
    """Remove exactly these values; returns new bytes and what was actually removed."""
    doc = _parse(data)
    removed: dict[str, tuple[str, ...]] = {}
    for field, (ns, local, _kind) in _PROPS.items():
        gone: list[str] = []
        drop = set(getattr(remove, field))
        for desc in _descriptions(doc.root):
            for prop in desc.findall(f"{{{ns}}}{local}"):
                for container in list(prop):
                    for li in container.findall(f"{{{RDF}}}li"):
                        if (li.text or "") in drop:
                            gone.append(li.text or "")
                            container.remove(li)
                    if not container.findall(f"{{{RDF}}}li"):
                        prop.remove(container)
                if not len(prop) and not (prop.text or "").strip():
                    desc.remove(prop)
        removed[field] = tuple(dict.fromkeys(gone))
    return doc.serialize(), Keywords(**removed)


# -- parsing ---------------------------------------------------------------------------
class _Builder(ET.TreeBuilder):
    """Keeps comments and processing instructions, and where each namespace was declared."""

    def __init__(self) -> None:
        super().__init__(insert_comments=True, insert_pis=True)
        self.declared: dict[ET.Element, dict[str, str]] = {}  # element -> {prefix: uri}
        self._pending: dict[str, str] = {}

    def start_ns(self, prefix: str, uri: str) -> None:
        self._pending[prefix] = uri

    def start(self, tag: str, attrs: dict[str, str]) -> ET.Element:
        elem = super().start(tag, attrs)
        if self._pending:
            self.declared[elem], self._pending = self._pending, {}
        return elem


@dataclass
class _Document:
    root: ET.Element
    declared: dict[ET.Element, dict[str, str]]  # namespace declarations, where the file has them
    fresh: bool = False

    def serialize(self) -> bytes:
        """The packet, each namespace declared where the file declared it; one PhotoSorter
        added is declared on its rdf:Description, under a prefix free there."""
        if self.fresh:
            ET.indent(self.root, space=" ")
        decls = {elem: dict(found) for elem, found in self.declared.items()}
        spelled = {u: p for found in reversed(decls.values()) for p, u in found.items() if p}
        _declare_missing(self.root, decls, ChainMap(), None, spelled)
        body: list[str] = []
        _write(self.root, decls, ChainMap(), body)
        head = f'<?xpacket begin="\ufeff" id="{_PACKET_ID}"?>\n'
        return (head + "".join(body) + '\n<?xpacket end="w"?>\n').encode("utf-8")


def _parse(data: bytes) -> _Document:
    if len(data) > MAX_SIDECAR_BYTES:
        raise XmpError(f"sidecar is larger than {MAX_SIDECAR_BYTES // 2**20} MiB")
    builder = _Builder()
    parser = DefusedXMLParser(target=builder, forbid_dtd=True)
    try:
        parser.feed(data)
        root = parser.close()
    except DefusedXmlException as exc:
        raise XmpError(f"unsafe XML refused ({type(exc).__name__})") from None
    except ET.ParseError as exc:
        raise XmpError(f"malformed XMP: {exc}") from None
    if root.tag != f"{{{RDF}}}RDF" and root.find(f".//{{{RDF}}}RDF") is None:
        raise XmpError("not an XMP packet (no rdf:RDF element)")
    return _Document(root, builder.declared)


def _new_document() -> _Document:
    root = ET.Element(f"{{{X}}}xmpmeta", {f"{{{X}}}xmptk": "PhotoSorter"})
    rdf = ET.SubElement(root, f"{{{RDF}}}RDF")
    ET.SubElement(rdf, f"{{{RDF}}}Description", {f"{{{RDF}}}about": ""})
    return _Document(root, {}, fresh=True)


def _rdf(root: ET.Element) -> ET.Element:
    return root if root.tag == f"{{{RDF}}}RDF" else root.find(f".//{{{RDF}}}RDF")  # type: ignore[return-value]


def _descriptions(root: ET.Element) -> list[ET.Element]:
    return _rdf(root).findall(f"{{{RDF}}}Description")


def _values(root: ET.Element, field: str) -> list[str]:
    ns, local, _kind = _PROPS[field]
    found: list[str] = []
    for desc in _descriptions(root):
        attr = desc.get(f"{{{ns}}}{local}")
        if attr is not None:
            found.append(attr)
        for prop in desc.findall(f"{{{ns}}}{local}"):
            items = prop.findall(f"./*/{{{RDF}}}li")
            if items:
                found.extend(li.text or "" for li in items)
            elif (prop.text or "").strip():
                found.append(prop.text.strip())  # type: ignore[union-attr]
    return found


def _container(root: ET.Element, field: str, *, create: bool) -> ET.Element:
    """The rdf:Bag/Seq of a property; created (in the first rdf:Description) when absent."""
    ns, local, kind = _PROPS[field]
    descs = _descriptions(root)
    for desc in descs:
        prop = desc.find(f"{{{ns}}}{local}")
        if prop is not None:
            for child in prop:
                if child.tag in (f"{{{RDF}}}Bag", f"{{{RDF}}}Seq", f"{{{RDF}}}Alt"):
                    return child
            # A plain-text value (not valid XMP, but seen): turn it into a one-item array.
            text = (prop.text or "").strip()
            prop.text = None
            container = ET.SubElement(prop, f"{{{RDF}}}{kind}")
            if text:
                ET.SubElement(container, f"{{{RDF}}}li").text = text
            return container
    if not descs:
        descs = [ET.SubElement(_rdf(root), f"{{{RDF}}}Description", {f"{{{RDF}}}about": ""})]
    desc = descs[0]
    prop = ET.SubElement(desc, f"{{{ns}}}{local}")
    container = ET.SubElement(prop, f"{{{RDF}}}{kind}")
    attr = desc.attrib.pop(f"{{{ns}}}{local}", None)  # an array written as an attribute
    if attr is not None:
        ET.SubElement(container, f"{{{RDF}}}li").text = attr
    return container


def _tidy(root: ET.Element, container: ET.Element) -> None:
    """Indent the property PhotoSorter touched, so the sidecar stays readable."""
    parents = {child: parent for parent in root.iter() for child in parent}
    prop = parents[container]
    depth, node = 0, prop
    while node in parents:
        node, depth = parents[node], depth + 1
    ET.indent(prop, space=" ", level=depth)
    desc = parents[prop]
    siblings = list(desc)
    if siblings[-1] is prop:  # appended: line it up with the properties before it
        inner = "\n" + " " * depth
        if len(siblings) > 1:
            siblings[-2].tail = inner
        else:
            desc.text = inner
        prop.tail = "\n" + " " * (depth - 1)


Scope = ChainMap[str, str]  # prefix -> uri in force at an element (innermost map first)


def _uris(elem: ET.Element) -> list[tuple[str, bool]]:
    """(namespace, used by an attribute) for the names of one element."""
    names = [(elem.tag, False), *((key, True) for key in elem.attrib)]
    return [(n[1:].split("}")[0], attr) for n, attr in names if n.startswith("{")]


def _prefix_for(uri: str, scope: Scope, attr: bool) -> str | None:
    """The innermost prefix bound to `uri` (an attribute needs a non-empty one)."""
    if uri == XML_NS:
        return "xml"
    for bindings in scope.maps:
        for prefix, bound in reversed(bindings.items()):
            if bound == uri and scope[prefix] == uri and (prefix or not attr):
                return prefix
    return None


def _declare_missing(
    elem: ET.Element,
    decls: dict[ET.Element, dict[str, str]],
    scope: Scope,
    home: dict[str, str] | None,
    spelled: dict[str, str],
) -> None:
    """Declare each namespace an element uses but has no prefix for: on its rdf:Description
    (or on itself outside one), under its usual prefix or a numbered one if that is taken."""
    if not isinstance(elem.tag, str):
        return  # a comment or processing instruction
    own = decls.setdefault(elem, {})
    scope = scope.new_child(own)
    is_description = elem.tag == f"{{{RDF}}}Description"
    target = own if home is None or is_description else home
    for uri, attr in _uris(elem):
        if _prefix_for(uri, scope, attr) is None:
            base = spelled.get(uri) or _PREFERRED.get(uri) or "ns"
            prefix, n = base, 1
            while prefix in scope:
                prefix, n = f"{base}{n}", n + 1
            target[prefix] = uri
    for child in elem:
        _declare_missing(child, decls, scope, own if is_description else home, spelled)


def _qname(name: str, scope: Scope, attr: bool) -> str:
    if not name.startswith("{"):
        return name
    uri, local = name[1:].split("}", 1)
    prefix = _prefix_for(uri, scope, attr)
    assert prefix is not None, f"no prefix declared for {uri}"
    return f"{prefix}:{local}" if prefix else local


def _write(
    elem: ET.Element, decls: dict[ET.Element, dict[str, str]], scope: Scope, out: list[str]
) -> None:
    if elem.tag is ET.Comment:
        out.append(f"<!--{elem.text or ''}-->")
    elif elem.tag is ET.ProcessingInstruction:
        out.append(f"<?{elem.text or ''}?>")
    else:
        own = decls.get(elem, {})
        scope = scope.new_child(own)
        tag = _qname(elem.tag, scope, attr=False)
        start = tag + "".join(
            f' xmlns{":" + p if p else ""}="{_esc_attr(u)}"' for p, u in own.items()
        )
        start += "".join(
            f' {_qname(k, scope, attr=True)}="{_esc_attr(v)}"' for k, v in elem.attrib.items()
        )
        if len(elem) or elem.text:
            out.append(f"<{start}>{_esc_text(elem.text or '')}")
            for child in elem:
                _write(child, decls, scope, out)
            out.append(f"</{tag}>")
        else:
            out.append(f"<{start}/>")
    if elem.tail:
        out.append(_esc_text(elem.tail))


def _esc_text(text: str) -> str:
    bad = _NOT_XML.search(text)
    if bad:
        code = f"U+{ord(bad.group()):04X}"
        raise XmpError(f"cannot write {text!r}: XML does not allow the character {code}")
    return (
        text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;").replace("\r", "&#13;")
    )


def _esc_attr(text: str) -> str:
    return _esc_text(text).replace('"', "&quot;").replace("\n", "&#10;").replace("\t", "&#9;")
