"""Hostile files, built by the tests themselves (no binary files are committed)."""

from __future__ import annotations

import io
import struct
import zipfile
import zlib

from pypdf import PdfWriter
from pypdf.generic import DictionaryObject, NameObject, TextStringObject

from civicstack.documents.testing import EICAR, jpeg_bytes, pdf_bytes, png_bytes, zip_bytes

SVG_WITH_SCRIPT = (
    b'<?xml version="1.0" encoding="UTF-8"?>\n'
    b'<svg xmlns="http://www.w3.org/2000/svg" width="10" height="10">'
    b"<script>fetch('/account/').then(r => r.text()).then(t => alert(t))</script>"
    b'<rect width="10" height="10"/></svg>\n'
)


def pdf_classic(objects: list[bytes], *, root: int = 1) -> bytes:
    """Return a PDF with a classic cross-reference table; objects are numbered from 1."""
    out = bytearray(b"%PDF-1.7\n%\xe2\xe3\xcf\xd3\n")
    offsets = []
    for number, body in enumerate(objects, start=1):
        offsets.append(len(out))
        out += f"{number} 0 obj\n".encode() + body + b"\nendobj\n"
    xref = len(out)
    out += f"xref\n0 {len(objects) + 1}\n0000000000 65535 f \n".encode()
    for offset in offsets:
        out += f"{offset:010d} 00000 n \n".encode()
    out += (
        f"trailer\n<< /Size {len(objects) + 1} /Root {root} 0 R >>\nstartxref\n{xref}\n%%EOF\n"
    ).encode()
    return bytes(out)


def pdf_object_stream(objects: list[bytes], *, root: int = 1) -> bytes:
    """Return a PDF whose objects all sit in one compressed object stream (PDF 1.5+).

    Only the object stream and the cross-reference stream are plain; every dictionary,
    including the catalogue, is inside Flate-compressed data.
    """
    index = []
    bodies = b""
    for number, body in enumerate(objects, start=1):
        index.append(f"{number} {len(bodies)}")
        bodies += body + b"\n"
    header = (" ".join(index) + "\n").encode()
    compressed = zlib.compress(header + bodies)
    stream_number = len(objects) + 1
    xref_number = stream_number + 1
    out = bytearray(b"%PDF-1.7\n%\xe2\xe3\xcf\xd3\n")
    stream_offset = len(out)
    out += (
        f"{stream_number} 0 obj\n<< /Type /ObjStm /N {len(objects)} /First {len(header)} "
        f"/Filter /FlateDecode /Length {len(compressed)} >>\nstream\n"
    ).encode()
    out += compressed + b"\nendstream\nendobj\n"
    xref_offset = len(out)
    rows = [struct.pack(">BIH", 0, 0, 0xFFFF)]
    rows += [struct.pack(">BIH", 2, stream_number, i) for i in range(len(objects))]
    rows.append(struct.pack(">BIH", 1, stream_offset, 0))
    rows.append(struct.pack(">BIH", 1, xref_offset, 0))
    data = b"".join(rows)
    out += (
        f"{xref_number} 0 obj\n<< /Type /XRef /Size {xref_number + 1} /W [1 4 2] "
        f"/Root {root} 0 R /Length {len(data)} >>\nstream\n"
    ).encode()
    out += data + b"\nendstream\nendobj\n"
    out += f"startxref\n{xref_offset}\n%%EOF\n".encode()
    return bytes(out)


_PAGES = b"<< /Type /Pages /Kids [3 0 R] /Count 1 >>"
_PAGE = b"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 595 842] >>"


def pdf_plain_objects(catalog_extra: bytes = b"", *extra: bytes) -> list[bytes]:
    """Return catalogue, pages and page objects (plus ``extra`` objects from number 4)."""
    return [b"<< /Type /Catalog /Pages 2 0 R " + catalog_extra + b">>", _PAGES, _PAGE, *extra]


def pdf_with_javascript() -> bytes:
    """A PDF with document-level JavaScript in its names tree."""
    return pdf_classic(
        pdf_plain_objects(
            b"/Names << /JavaScript 4 0 R >> ",
            b"<< /Names [(hello) 5 0 R] >>",
            b"<< /S /JavaScript /JS (app.alert\\('hello'\\);) >>",
        )
    )


def pdf_with_hex_escaped_javascript() -> bytes:
    """An open action running JavaScript, every name hidden with #xx escapes."""
    return pdf_classic(
        pdf_plain_objects(
            b"/Op#65nAction 4 0 R ",
            b"<< /#53 /J#61vaScript /J#53 (app.alert\\(1\\)) >>",
        )
    )


def pdf_with_javascript_in_object_stream() -> bytes:
    """JavaScript as the open action, inside a compressed object stream only."""
    return pdf_object_stream(
        pdf_plain_objects(b"/OpenAction 4 0 R ", b"<< /S /JavaScript /JS (app.alert(1)) >>")
    )


def pdf_with_open_action() -> bytes:
    """An open action (go to a page) on opening, made by pypdf."""
    writer = PdfWriter()
    writer.add_blank_page(width=595, height=842)
    writer._root_object[NameObject("/OpenAction")] = DictionaryObject(
        {NameObject("/S"): NameObject("/URI"), NameObject("/URI"): TextStringObject("x:")}
    )
    output = io.BytesIO()
    writer.write(output)
    return output.getvalue()


def pdf_with_launch() -> bytes:
    """A link annotation that launches a program."""
    return pdf_classic(
        [
            b"<< /Type /Catalog /Pages 2 0 R >>",
            _PAGES,
            b"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 595 842] /Annots [4 0 R] >>",
            b"<< /Type /Annot /Subtype /Link /Rect [0 0 100 100] "
            b"/A << /S /Launch /F (cmd.exe) >> >>",
        ]
    )


def pdf_with_embedded_file() -> bytes:
    """A PDF carrying an attachment, made by pypdf."""
    writer = PdfWriter()
    writer.add_blank_page(width=595, height=842)
    writer.add_attachment("invoice.exe", b"MZ not really a program")
    output = io.BytesIO()
    writer.write(output)
    return output.getvalue()


def pdf_clean_object_stream() -> bytes:
    """A harmless PDF built the same way as the object-stream attack (the control)."""
    return pdf_object_stream(pdf_plain_objects())


def polyglot_jpeg_zip() -> bytes:
    """A JPEG with a zip appended: a picture to viewers, an archive to unzip."""
    return jpeg_bytes() + zip_bytes({"payload.html": b"<script>alert(1)</script>"})


def polyglot_pdf_zip() -> bytes:
    """A PDF with a zip appended."""
    return pdf_bytes() + zip_bytes({"payload.js": b"alert(1)"})


def nested_zip() -> bytes:
    """A zip holding another zip."""
    return zip_bytes({"inner.zip": zip_bytes({"readme.txt": b"hello"})})


def nested_zip_renamed() -> bytes:
    """A zip holding another zip under an innocent name."""
    return zip_bytes({"notes.txt": zip_bytes({"readme.txt": b"hello"})})


def zip_bomb() -> bytes:
    """A small zip that expands to 64 MB of zeros (ratio about 1000:1)."""
    return zip_bytes({"zeros.bin": bytes(64 * 1024 * 1024)})


def zip_with_lying_header() -> bytes:
    """A bomb whose headers claim a tiny uncompressed size."""
    output = io.BytesIO()
    with zipfile.ZipFile(output, "w", compression=zipfile.ZIP_DEFLATED) as archive:
        archive.writestr("small.txt", bytes(16 * 1024 * 1024))
    data = bytearray(output.getvalue())
    # Rewrite the uncompressed size in the local header and the central directory to 10.
    local = data.find(b"PK\x03\x04")
    struct.pack_into("<I", data, local + 22, 10)
    central = data.find(b"PK\x01\x02")
    struct.pack_into("<I", data, central + 24, 10)
    return bytes(data)


def zip_with_entry(name: str, content: bytes = b"hello") -> bytes:
    """A zip with one entry named exactly ``name``."""
    output = io.BytesIO()
    with zipfile.ZipFile(output, "w") as archive:
        archive.writestr(zipfile.ZipInfo(name), content)
    data = output.getvalue()
    with zipfile.ZipFile(io.BytesIO(data)) as check:
        assert check.infolist()[0].orig_filename == name
    return data


def zip_encrypted() -> bytes:
    """A zip whose entry is flagged as encrypted (bit 0 of the general purpose flags)."""
    data = bytearray(zip_bytes({"secret.txt": b"not really encrypted"}))
    local = data.find(b"PK\x03\x04")
    data[local + 6] |= 0x1
    central = data.find(b"PK\x01\x02")
    data[central + 8] |= 0x1
    return bytes(data)


def zip_too_many_entries(count: int) -> bytes:
    """A zip with ``count`` tiny entries."""
    return zip_bytes({f"file-{n}.txt": b"x" for n in range(count)})


def eicar_zipped() -> bytes:
    """The EICAR test file inside a zip."""
    return zip_bytes({"readme.txt": EICAR})


def eicar_in_pdf() -> bytes:
    """A PDF with the EICAR string in a comment (found by the test signature anywhere)."""
    return pdf_bytes() + b"%" + EICAR + b"\n"


def png_named_pdf() -> bytes:
    """A PNG (to be uploaded under a .pdf name)."""
    return png_bytes()
