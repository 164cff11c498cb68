"""XMP sidecar keywords: read, merge and remove, never clobbering anything else.

Categories become `dc:subject` (rdf:Bag), `lr:hierarchicalSubject` (`PhotoSorter|<cat>`)
and `digiKam:TagsList` (`PhotoSorter/<cat>`), which digiKam, darktable, Lightroom, Immich
and exiftool read. Existing sidecars are parsed with defusedxml (no DTDs, no entities);
every other property, namespace prefix and comment survives a merge.
"""

from __future__ import annotations

import xml.etree.ElementTree as ET
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
    """Keeps comments and processing instructions, and records namespace prefixes."""

    def __init__(self) -> None:
        super().__init__(insert_comments=True, insert_pis=True)
        self.prefixes: dict[str, str] = {}

    def start_ns(self, prefix: str, uri: str) -> None:
        self.prefixes.setdefault(uri, prefix)


@dataclass
class _Document:
    root: ET.Element
    prefixes: dict[str, str]  # uri -> prefix, as the file spelled them
    fresh: bool = False

    def serialize(self) -> bytes:
        if self.fresh:
            ET.indent(self.root, space=" ")
        prefixes = dict(self.prefixes)
        used = _namespaces(self.root)
        taken = set(prefixes.values())
        for uri in used:
            if uri not in prefixes:
                prefix = _PREFERRED.get(uri) or "ns"
                base, n = prefix, 1
                while prefix in taken:
                    prefix, n = f"{base}{n}", n + 1
                prefixes[uri] = prefix
                taken.add(prefix)
        decls = "".join(
            f' xmlns{":" + prefixes[u] if prefixes[u] else ""}="{_esc_attr(u)}"'
            for u in sorted(used, key=lambda u: (u != X, u != RDF, prefixes[u]))
        )
        body: list[str] = []
        _write(self.root, prefixes, body, decls)
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
    return _Document(root, builder.prefixes)


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


def _namespaces(root: ET.Element) -> list[str]:
    used: dict[str, None] = {}
    for elem in root.iter():
        if isinstance(elem.tag, str) and elem.tag.startswith("{"):
            used[elem.tag[1:].split("}")[0]] = None
        for key in elem.attrib:
            if key.startswith("{") and not key.startswith(f"{{{XML_NS}}}"):
                used[key[1:].split("}")[0]] = None
    return list(used)


def _qname(name: str, prefixes: dict[str, str]) -> str:
    if not name.startswith("{"):
        return name
    uri, local = name[1:].split("}", 1)
    if uri == XML_NS:
        return f"xml:{local}"
    prefix = prefixes[uri]
    return f"{prefix}:{local}" if prefix else local


def _write(elem: ET.Element, prefixes: dict[str, str], out: list[str], decls: str = "") -> None:
    if elem.tag is ET.Comment:
        out.append(f"<!--{elem.text or ''}-->")
    elif elem.tag is ET.ProcessingInstruction:
        out.append(f"<?{elem.text or ''}?>")
    else:
        tag = _qname(elem.tag, prefixes)
        attrs = "".join(f' {_qname(k, prefixes)}="{_esc_attr(v)}"' for k, v in elem.attrib.items())
        if len(elem) or elem.text:
            out.append(f"<{tag}{decls}{attrs}>{_esc_text(elem.text or '')}")
            for child in elem:
                _write(child, prefixes, out)
            out.append(f"</{tag}>")
        else:
            out.append(f"<{tag}{decls}{attrs}/>")
    if elem.tail:
        out.append(_esc_text(elem.tail))


def _esc_text(text: str) -> str:
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def _esc_attr(text: str) -> str:
    return (
        _esc_text(text)
        .replace('"', "&quot;")
        .replace("\n", "&#10;")
        .replace("\r", "&#13;")
        .replace("\t", "&#9;")
    )
