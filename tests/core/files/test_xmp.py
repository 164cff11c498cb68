"""XMP sidecars: merge without clobbering, refuse unsafe XML, and exiftool reads them back."""

from __future__ import annotations

import shutil
import subprocess
import time
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest

from photosorter.core.files.xmp import (
    DC,
    Keywords,
    XmpError,
    merge_keywords,
    read_keywords,
    remove_keywords,
    sidecar_path,
)

USER_SIDECAR = b"""<?xml version="1.0" encoding="UTF-8"?>
<x:xmpmeta xmlns:x="adobe:ns:meta/" x:xmptk="Darktable">
 <rdf:RDF xmlns:rdf="http://www.w3.org/1999/02/22-rdf-syntax-ns#">
  <!-- written by hand -->
  <rdf:Description rdf:about=""
    xmlns:xmp="http://ns.adobe.com/xap/1.0/"
    xmlns:dc="http://purl.org/dc/elements/1.1/"
    xmlns:darktable="http://darktable.sf.net/"
    xmp:Rating="4"
    darktable:xmp_version="5">
   <dc:subject>
    <rdf:Bag>
     <rdf:li>holiday</rdf:li>
     <rdf:li>grandma</rdf:li>
    </rdf:Bag>
   </dc:subject>
   <dc:title>
    <rdf:Alt>
     <rdf:li xml:lang="x-default">At the lake</rdf:li>
    </rdf:Alt>
   </dc:title>
  </rdf:Description>
 </rdf:RDF>
</x:xmpmeta>
"""

BOMB = b"""<?xml version="1.0"?>
<!DOCTYPE lolz [
 <!ENTITY lol "lol">
 <!ENTITY lol1 "&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;">
 <!ENTITY lol2 "&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;">
 <!ENTITY lol3 "&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;">
 <!ENTITY lol4 "&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;">
 <!ENTITY lol5 "&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;">
 <!ENTITY lol6 "&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;">
 <!ENTITY lol7 "&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;">
 <!ENTITY lol8 "&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;">
 <!ENTITY lol9 "&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;">
]>
<x:xmpmeta xmlns:x="adobe:ns:meta/"><rdf:RDF
 xmlns:rdf="http://www.w3.org/1999/02/22-rdf-syntax-ns#"><rdf:Description
 xmlns:dc="http://purl.org/dc/elements/1.1/"><dc:subject><rdf:Bag><rdf:li>&lol9;</rdf:li>
</rdf:Bag></dc:subject></rdf:Description></rdf:RDF></x:xmpmeta>
"""

EXTERNAL = b"""<?xml version="1.0"?>
<!DOCTYPE x [<!ENTITY secret SYSTEM "file:///etc/passwd">]>
<x:xmpmeta xmlns:x="adobe:ns:meta/"><rdf:RDF
 xmlns:rdf="http://www.w3.org/1999/02/22-rdf-syntax-ns#"><rdf:Description
 xmlns:dc="http://purl.org/dc/elements/1.1/"><dc:subject><rdf:Bag><rdf:li>&secret;</rdf:li>
</rdf:Bag></dc:subject></rdf:Description></rdf:RDF></x:xmpmeta>
"""


def test_sidecar_name_follows_the_digikam_convention() -> None:
    assert sidecar_path(Path("/p/IMG_1.JPG")) == Path("/p/IMG_1.JPG.xmp")


def test_new_sidecar_is_read_by_exiftool(tmp_path: Path, exiftool_keywords) -> None:
    data, added = merge_keywords(None, Keywords.for_category("Dogs & <cats>"))
    assert added == Keywords.for_category("Dogs & <cats>")
    path = tmp_path / "a.jpg.xmp"
    path.write_bytes(data)
    found = exiftool_keywords(path)
    assert found["subject"] == ["Dogs & <cats>"]
    assert found["hierarchical"] == ["PhotoSorter|Dogs & <cats>"]
    assert found["tags"] == ["PhotoSorter/Dogs & <cats>"]


def test_merge_keeps_everything_the_user_had(tmp_path: Path, exiftool_keywords) -> None:
    data, added = merge_keywords(USER_SIDECAR, Keywords.for_category("beach"))
    assert added.subject == ("beach",)
    text = data.decode()
    assert "written by hand" in text  # comments survive
    assert 'xmlns:darktable="http://darktable.sf.net/"' in text  # prefixes survive
    assert 'darktable:xmp_version="5"' in text
    path = tmp_path / "b.jpg.xmp"
    path.write_bytes(data)
    found = exiftool_keywords(path)
    assert found["subject"] == ["holiday", "grandma", "beach"]
    assert found["rating"] == ["4"]
    assert found["title"] == ["At the lake"]
    assert found["hierarchical"] == ["PhotoSorter|beach"]


def test_merge_into_exiftool_written_sidecar(tmp_path: Path, exiftool_keywords) -> None:
    """A sidecar another tool wrote (here exiftool itself) is merged, not replaced."""
    path = tmp_path / "c.jpg.xmp"
    exe = shutil.which("exiftool")
    assert exe, "install libimage-exiftool-perl"
    subprocess.run(
        [exe, "-q", "-o", str(path), "-XMP-dc:Subject=mine", "-XMP-xmp:Rating=2",
         "-XMP-lr:HierarchicalSubject=Places|Home"],
        check=True,
    )  # fmt: skip
    data, _ = merge_keywords(path.read_bytes(), Keywords.for_category("home"))
    path.write_bytes(data)
    found = exiftool_keywords(path)
    assert found["subject"] == ["mine", "home"]
    assert found["hierarchical"] == ["Places|Home", "PhotoSorter|home"]
    assert found["rating"] == ["2"]


def test_merge_is_idempotent_and_remove_takes_only_what_it_is_given() -> None:
    once, _ = merge_keywords(USER_SIDECAR, Keywords.for_category("holiday"))
    # "holiday" was the user's already: only the hierarchical forms are new
    assert read_keywords(once).subject == ("holiday", "grandma")
    twice, added = merge_keywords(once, Keywords.for_category("holiday"))
    assert not added
    assert read_keywords(twice) == read_keywords(once)
    back, removed = remove_keywords(
        twice, Keywords((), ("PhotoSorter|holiday",), ("PhotoSorter/holiday",))
    )
    assert removed.hierarchical == ("PhotoSorter|holiday",)
    kw = read_keywords(back)
    assert kw.subject == ("holiday", "grandma")
    assert kw.hierarchical == () and kw.tags == ()
    assert b"lr:hierarchicalSubject" not in back  # emptied properties go


def test_subject_written_as_attribute_or_text_is_normalised() -> None:
    attr = USER_SIDECAR.replace(b'xmp:Rating="4"', b'xmp:Rating="4" dc:creator="me"')
    odd = b"""<x:xmpmeta xmlns:x="adobe:ns:meta/"><rdf:RDF
      xmlns:rdf="http://www.w3.org/1999/02/22-rdf-syntax-ns#"><rdf:Description rdf:about=""
      xmlns:dc="http://purl.org/dc/elements/1.1/" dc:subject="single"/></rdf:RDF></x:xmpmeta>"""
    data, _ = merge_keywords(odd, Keywords.for_category("new"))
    assert read_keywords(data).subject == ("single", "new")
    data, _ = merge_keywords(attr, Keywords.for_category("new"))
    assert b'dc:creator="me"' in data


@pytest.mark.parametrize("bad", [BOMB, EXTERNAL])
def test_unsafe_xml_is_refused_quickly(bad: bytes) -> None:
    started = time.monotonic()
    with pytest.raises(XmpError, match="unsafe"):
        merge_keywords(bad, Keywords.for_category("x"))
    assert time.monotonic() - started < 1.0


@pytest.mark.parametrize(
    "bad",
    [b"<x:xmpmeta", b"not xml at all", b"<a><b></a>", b"<root>no rdf here</root>", b""],
)
def test_malformed_sidecar_raises_xmp_error(bad: bytes) -> None:
    with pytest.raises(XmpError):
        merge_keywords(bad, Keywords.for_category("x"))


def test_rdf_without_xmpmeta_wrapper_and_unknown_namespaces() -> None:
    bare = b"""<rdf:RDF xmlns:rdf="http://www.w3.org/1999/02/22-rdf-syntax-ns#"
      xmlns:foo="urn:foo"><rdf:Description rdf:about=""><foo:bar>1</foo:bar>
      </rdf:Description></rdf:RDF>"""
    data, _ = merge_keywords(bare, Keywords.for_category("cat"))
    assert b"<foo:bar>1</foo:bar>" in data
    assert read_keywords(data).tags == ("PhotoSorter/cat",)


# One prefix bound to two URIs in sibling descriptions, the default namespace twice, and
# `lr` bound to another URI where PhotoSorter adds its lr:hierarchicalSubject.
CLASHING_SIDECAR = b"""<x:xmpmeta xmlns:x="adobe:ns:meta/">
 <rdf:RDF xmlns:rdf="http://www.w3.org/1999/02/22-rdf-syntax-ns#">
  <rdf:Description rdf:about="" xmlns:xmp="http://ns.adobe.com/xap/1.0/" xmlns:lr="urn:other">
   <xmp:Rating>4</xmp:Rating>
   <lr:mine>kept</lr:mine>
  </rdf:Description>
  <rdf:Description rdf:about="" xmlns:xmp="http://ns.adobe.com/xap/1.0/mm/">
   <xmp:DocumentID>doc-1</xmp:DocumentID>
  </rdf:Description>
  <rdf:Description rdf:about="" xmlns="http://purl.org/dc/elements/1.1/">
   <source>camera</source>
  </rdf:Description>
  <rdf:Description rdf:about="" xmlns="http://ns.adobe.com/photoshop/1.0/">
   <City>Paris</City>
  </rdf:Description>
 </rdf:RDF>
</x:xmpmeta>
"""


def exiftool_xmp(path: Path) -> dict[str, object]:
    """Every XMP property exiftool reads, keyed `XMP-<namespace group>:<name>`."""
    import json

    exe = shutil.which("exiftool")
    assert exe, "install libimage-exiftool-perl"
    out = subprocess.run(
        [exe, "-j", "-G1", "-a", "-XMP:all", str(path)], capture_output=True, text=True, check=True
    ).stdout
    found = json.loads(out)[0]
    found.pop("SourceFile")
    return found


def test_merge_keeps_namespaces_where_they_were_declared(tmp_path: Path) -> None:
    before, after = tmp_path / "before.xmp", tmp_path / "after.xmp"
    before.write_bytes(CLASHING_SIDECAR)
    data, _ = merge_keywords(CLASHING_SIDECAR, Keywords.for_category("beach"))
    after.write_bytes(data)
    ET.fromstring(data)  # well-formed: no attribute (xmlns:xmp, xmlns) twice on one element
    found = exiftool_xmp(after)
    assert found["XMP-xmp:Rating"] == 4  # not read as xmpMM:Rating
    assert found["XMP-xmpMM:DocumentID"] == "doc-1"
    assert found["XMP-dc:Subject"] == "beach"
    assert found["XMP-lr:HierarchicalSubject"] == "PhotoSorter|beach"
    assert {k: v for k, v in found.items() if k in exiftool_xmp(before)} == exiftool_xmp(before)
    kept = [b"<xmp:Rating>4</xmp:Rating>", b"<lr:mine>kept</lr:mine>", b"<City>Paris</City>"]
    assert all(text in data for text in kept)  # every other property byte for byte
    back, removed = remove_keywords(data, Keywords.for_category("beach"))  # what undo does
    assert removed == Keywords.for_category("beach")
    assert ET.fromstring(back).find(f".//{{{DC}}}source").text == "camera"
    assert ET.fromstring(back).find(".//{http://ns.adobe.com/photoshop/1.0/}City") is not None


@pytest.mark.parametrize("name", ["bell\x07", "nul\x00here", "esc\x1b[31m"])
def test_never_writes_a_character_xml_forbids(name: str) -> None:
    with pytest.raises(XmpError, match="XML does not allow"):
        merge_keywords(USER_SIDECAR, Keywords.for_category(name))
    with pytest.raises(XmpError, match="XML does not allow"):
        merge_keywords(None, Keywords.for_category(name))


def test_carriage_return_in_a_value_survives() -> None:
    data, _ = merge_keywords(None, Keywords.for_category("two\r\nlines"))
    assert read_keywords(data).subject == ("two\r\nlines",)
