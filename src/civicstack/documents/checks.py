"""Checks every upload passes before it is stored (the file's bytes are never trusted).

The type is sniffed from the content and must agree with the file name's ending and the
question's policy. Images are decoded with a pixel cap and re-encoded from their pixels
alone, so no metadata (EXIF with GPS, XMP, ICC profiles, comments) and nothing appended
survives. PDFs with scripts, automatic actions, launchers or embedded files are refused,
judged on the raw bytes and on every parsed object. Zip files are opened entry by entry
and decompressed for real, so a bomb is found by what it expands to, not what it claims.
"""

from __future__ import annotations

import io
import re
import unicodedata
import warnings
import zipfile
import zlib
from dataclasses import dataclass
from pathlib import PurePosixPath
from typing import Any

import puremagic
from django.template.defaultfilters import filesizeformat
from django.utils.translation import gettext_lazy as _
from PIL import Image, ImageOps
from pypdf import PdfReader
from pypdf.generic import (
    ArrayObject,
    DictionaryObject,
    IndirectObject,
    NameObject,
    StreamObject,
)

from civicstack.documents.constants import (
    ARCHIVE_MAX_ENTRIES,
    ARCHIVE_MAX_EXPANDED_BYTES,
    ARCHIVE_MAX_NAME_LENGTH,
    ARCHIVE_MAX_RATIO,
    ARCHIVE_NESTED_EXTENSIONS,
    ARCHIVE_RATIO_FLOOR_BYTES,
    FILENAME_MAX_LENGTH,
    IMAGE_JPEG_QUALITY,
    IMAGE_KINDS,
    IMAGE_MAX_PIXELS,
    KIND_CONTENT_TYPES,
    KIND_EXTENSIONS,
    KIND_JPEG,
    KIND_LABELS,
    KIND_PDF,
    KIND_PNG,
    KIND_WEBP,
    KIND_ZIP,
    PDF_MAX_DECOMPRESSED_BYTES,
    PDF_MAX_OBJECTS,
    UploadPolicy,
)
from civicstack.documents.errors import (
    ArchiveNotAllowed,
    ArchiveUnsafe,
    FileActiveContent,
    FileEmpty,
    FileEncrypted,
    FileExtensionMismatch,
    FileHiddenContent,
    FileRefused,
    FileTooLarge,
    FileTypeNotAllowed,
    FileUnreadable,
    ImageTooLarge,
)

_READ_CHUNK = 64 * 1024


@dataclass(frozen=True)
class CheckedFile:
    """A file that passed every check: ``content`` is what gets stored."""

    content: bytes
    kind: str
    content_type: str
    filename: str


# --- File names -----------------------------------------------------------------------

# Control and format characters (including right-to-left overrides that make
# "photo\u202egpj.exe" look like "photo.exe.jpg"), surrogates, private-use and unassigned.
_UNSAFE_CATEGORIES = frozenset({"Cc", "Cf", "Cs", "Co", "Cn", "Zl", "Zp"})


def filename_clean(name: str) -> str:
    """Return ``name`` fit for display: no folders, no control characters, not too long.

    It is only ever shown to people; files are stored under a name made from the
    document's id.
    """
    text = unicodedata.normalize("NFC", name or "")
    # Browsers on Windows have sent full paths ("C:\\Users\\...\\scan.pdf").
    text = re.split(r"[\\/]", text)[-1]
    text = "".join(ch for ch in text if unicodedata.category(ch) not in _UNSAFE_CATEGORIES)
    text = " ".join(text.split()).strip(" .")
    if not text:
        return "document"
    if len(text) > FILENAME_MAX_LENGTH:
        suffix = PurePosixPath(text).suffix
        if len(suffix) > 16:
            suffix = ""
        text = text[: FILENAME_MAX_LENGTH - len(suffix)].rstrip(" .") + suffix
    return text


def filename_extension(name: str) -> str:
    """Return the file name's ending in lower case, with the dot (empty if none)."""
    return PurePosixPath(name).suffix.lower()


# --- Types ----------------------------------------------------------------------------

_MIME_KINDS = {
    "application/pdf": KIND_PDF,
    "image/jpeg": KIND_JPEG,
    "image/png": KIND_PNG,
    "image/webp": KIND_WEBP,
    "application/zip": KIND_ZIP,
}


def _header_kind(content: bytes) -> str | None:
    # The leading bytes every reader of the kind requires; puremagic alone also accepts
    # signatures at other offsets, which is how polyglots slip through.
    if content.startswith(b"%PDF-"):
        return KIND_PDF
    if content.startswith(b"\xff\xd8\xff"):
        return KIND_JPEG
    if content.startswith(b"\x89PNG\r\n\x1a\n"):
        return KIND_PNG
    if content[:4] == b"RIFF" and content[8:12] == b"WEBP":
        return KIND_WEBP
    if content.startswith(b"PK\x03\x04"):
        return KIND_ZIP
    return None


def kind_sniff(content: bytes) -> str | None:
    """Return the kind the content really is (pdf, jpeg, ...), or None if not a known one.

    puremagic's most confident match must name the same kind as the file's header; an
    SVG, HTML page or program is never one of the known kinds, whatever its name says.
    """
    try:
        matches = puremagic.magic_string(content)
    except (puremagic.PureError, ValueError):
        return None
    if not matches:
        return None
    best = max(matches, key=lambda match: match.confidence)
    kind = _MIME_KINDS.get(best.mime_type)
    if kind is None and bytes(best.byte_match).startswith(b"PK\x03\x04"):
        # Office documents and other zip-based formats are zips underneath.
        kind = KIND_ZIP
    if kind is None or _header_kind(content) != kind:
        return None
    return kind


def _kinds_text(kinds: frozenset[str]) -> str:
    return ", ".join(KIND_LABELS[kind] for kind in sorted(kinds, key=KIND_LABELS.__getitem__))


# --- Polyglots ------------------------------------------------------------------------

# Signatures of archives that readers find anywhere in a file (zip readers look for the
# end-of-central-directory record from the end): a picture or PDF with one of these is
# also an archive, whatever it looks like.
_EMBEDDED_ARCHIVE_SIGNATURES = (
    b"PK\x05\x06",  # zip end of central directory
    b"PK\x03\x04",  # zip local file header
    b"PK\x06\x06",  # zip64 end of central directory
    b"Rar!\x1a\x07",
    b"7z\xbc\xaf\x27\x1c",
)


def _embedded_archive_refuse(content: bytes) -> None:
    if any(signature in content for signature in _EMBEDDED_ARCHIVE_SIGNATURES):
        raise FileHiddenContent()


# --- Images ---------------------------------------------------------------------------

_PIL_FORMATS = {KIND_JPEG: "JPEG", KIND_PNG: "PNG", KIND_WEBP: "WEBP"}


def _pixels_for(image: Image.Image, kind: str) -> Image.Image:
    has_alpha = image.mode in {"RGBA", "LA", "PA", "RGBa", "La"} or (
        image.mode == "P" and "transparency" in image.info
    )
    if kind == KIND_JPEG:
        return image if image.mode in {"RGB", "L"} else image.convert("RGB")
    if kind == KIND_PNG and image.mode in {"RGB", "RGBA", "L", "LA"}:
        return image
    if kind == KIND_WEBP and image.mode in {"RGB", "RGBA"}:
        return image
    return image.convert("RGBA" if has_alpha else "RGB")


def image_clean(content: bytes, kind: str) -> bytes:
    """Return the image re-encoded from its pixels alone (no metadata, nothing appended).

    The pixel count is checked from the header before any pixel is decoded; the EXIF
    orientation is applied first, so removing EXIF does not turn photos on their side.
    """
    pil_format = _PIL_FORMATS[kind]
    with warnings.catch_warnings():
        warnings.simplefilter("error", Image.DecompressionBombWarning)
        try:
            with Image.open(io.BytesIO(content), formats=[pil_format]) as image:
                width, height = image.size
                if width <= 0 or height <= 0:
                    raise FileUnreadable()
                if width * height > IMAGE_MAX_PIXELS:
                    raise ImageTooLarge()
                image.load()
                upright = ImageOps.exif_transpose(image) or image
                pixels = _pixels_for(upright, kind)
                # A new image from raw pixels carries no info dictionary at all, so no
                # EXIF, XMP, ICC profile, text chunk or comment can be written back.
                clean = Image.frombytes(pixels.mode, pixels.size, pixels.tobytes())
        except FileRefused:
            raise
        except (Image.DecompressionBombError, Image.DecompressionBombWarning) as exc:
            raise ImageTooLarge() from exc
        except Exception as exc:
            # Pillow reports damaged input with many exception types (OSError,
            # SyntaxError, ValueError, struct.error, EOFError...): all mean unreadable.
            raise FileUnreadable() from exc
    output = io.BytesIO()
    if kind == KIND_JPEG:
        clean.save(output, "JPEG", quality=IMAGE_JPEG_QUALITY, optimize=True)
    elif kind == KIND_PNG:
        clean.save(output, "PNG", optimize=True)
    else:
        clean.save(output, "WEBP", quality=IMAGE_JPEG_QUALITY)
    return output.getvalue()


# --- PDFs -----------------------------------------------------------------------------

# Names that make a PDF do something when opened or clicked, run scripts, start programs
# or carry other files. Compared after decoding "#xx" escapes (/J#61vaScript).
_PDF_FORBIDDEN_NAMES = frozenset(
    {
        "JS",
        "JavaScript",
        "OpenAction",
        "AA",
        "Launch",
        "EmbeddedFile",
        "EmbeddedFiles",
        "RichMedia",
        "XFA",
    }
)
_PDF_FORBIDDEN_PREFIXES = ("RichMedia",)
# Long names are rare enough to look for everywhere, even inside compressed data; short
# ones (/JS, /AA) would match random compressed bytes now and then, so in the raw file
# they are looked for outside stream data only (parsed objects cover the rest).
_PDF_SHORT_NAMES = frozenset({"JS", "AA"})
_PDF_NAME = re.compile(rb"/((?:[^\x00\t\n\x0c\r ()<>\[\]{}/%#]|#[0-9A-Fa-f]{2})+)")
_PDF_ESCAPE = re.compile(rb"#([0-9A-Fa-f]{2})")
_PDF_STREAM_BODY = re.compile(rb"stream(?:\r\n|\n|\r).*?endstream", re.DOTALL)


def _pdf_name_forbidden(name: str) -> bool:
    return name in _PDF_FORBIDDEN_NAMES or name.startswith(_PDF_FORBIDDEN_PREFIXES)


def _pdf_names(data: bytes) -> set[str]:
    names = set()
    for match in _PDF_NAME.finditer(data):
        raw = _PDF_ESCAPE.sub(lambda m: bytes([int(m.group(1), 16)]), match.group(1))
        names.add(raw.decode("latin-1"))
    return names


def _pdf_raw_check(content: bytes) -> None:
    everywhere = {name for name in _pdf_names(content) if name not in _PDF_SHORT_NAMES}
    outside_streams = _pdf_names(_PDF_STREAM_BODY.sub(b"stream endstream", content))
    if any(_pdf_name_forbidden(name) for name in everywhere | outside_streams):
        raise FileActiveContent()


def _pdf_object_check(value: Any) -> None:
    # Walks direct objects only: every indirect object is visited from the xref anyway,
    # and not following references keeps cycles from looping.
    stack = [value]
    while stack:
        item = stack.pop()
        if isinstance(item, IndirectObject):
            continue
        if isinstance(item, DictionaryObject):
            for key, child in item.items():
                if _pdf_name_forbidden(str(key).lstrip("/")):
                    raise FileActiveContent()
                stack.append(child)
        elif isinstance(item, ArrayObject):
            stack.extend(item)
        elif isinstance(item, NameObject) and _pdf_name_forbidden(str(item).lstrip("/")):
            raise FileActiveContent()


def _pdf_parsed_check(content: bytes) -> None:
    reader = PdfReader(io.BytesIO(content), strict=False)
    if reader.is_encrypted:
        raise FileEncrypted()
    references = {
        (number, generation) for generation, table in reader.xref.items() for number in table
    }
    references.update((number, 0) for number in reader.xref_objStm)
    if len(references) > PDF_MAX_OBJECTS:
        raise FileUnreadable()
    _pdf_object_check(reader.trailer)
    decompressed = 0
    for number, generation in sorted(references):
        obj = reader.get_object(IndirectObject(number, generation, reader))
        _pdf_object_check(obj)
        if isinstance(obj, StreamObject) and obj.get("/Type") == "/ObjStm":
            # Object streams hold compressed dictionaries; their text is checked too,
            # in case an object inside is missing from the cross-reference table.
            data = obj.get_data()
            decompressed += len(data)
            if decompressed > PDF_MAX_DECOMPRESSED_BYTES:
                raise FileUnreadable()
            if any(_pdf_name_forbidden(name) for name in _pdf_names(data)):
                raise FileActiveContent()
    if len(reader.pages) < 1:
        raise FileUnreadable()


def pdf_check(content: bytes) -> None:
    """Refuse a PDF with active content, a password, or that cannot be parsed."""
    _pdf_raw_check(content)
    try:
        _pdf_parsed_check(content)
    except FileRefused:
        raise
    except Exception as exc:
        # pypdf raises PdfReadError, ValueError, KeyError, RecursionError... on damaged
        # or deliberately confusing files: a PDF we cannot read fully is not accepted.
        raise FileUnreadable() from exc


# --- Archives -------------------------------------------------------------------------

_NESTED_ARCHIVE_MAGIC = (
    b"PK\x03\x04",
    b"PK\x05\x06",
    b"Rar!\x1a\x07",
    b"7z\xbc\xaf\x27\x1c",
    b"\x1f\x8b",  # gzip
    b"BZh",
    b"\xfd7zXZ\x00",
    b"\x28\xb5\x2f\xfd",  # zstd
    b"MSCF",  # cab
)
_SYMLINK = 0o120000


def _archive_name_unsafe(name: str) -> bool:
    if not name or len(name) > ARCHIVE_MAX_NAME_LENGTH:
        return True
    if any(unicodedata.category(ch) in _UNSAFE_CATEGORIES for ch in name):
        return True
    normalised = name.replace("\\", "/")
    if normalised.startswith("/") or re.match(r"^[A-Za-z]:", normalised):
        return True
    return ".." in normalised.split("/")


def _archive_nested(name: str, head: bytes) -> bool:
    if filename_extension(name.rstrip("/")) in ARCHIVE_NESTED_EXTENSIONS:
        return True
    return head.startswith(_NESTED_ARCHIVE_MAGIC) or head[257:262] == b"ustar"


def _archive_entries_check(archive: zipfile.ZipFile, size: int) -> None:
    entries = archive.infolist()
    if not entries:
        raise FileEmpty()
    if len(entries) > ARCHIVE_MAX_ENTRIES:
        raise ArchiveUnsafe()
    seen: set[str] = set()
    expanded = 0
    for entry in entries:
        # orig_filename keeps what the archive says; zipfile cuts names at a NUL byte.
        name = entry.orig_filename
        folded = name.replace("\\", "/").casefold()
        if _archive_name_unsafe(name) or folded in seen:
            raise ArchiveUnsafe()
        seen.add(folded)
        if entry.flag_bits & 0x1:
            raise ArchiveUnsafe()
        if (entry.external_attr >> 16) & 0o170000 == _SYMLINK:
            raise ArchiveUnsafe()
        if entry.is_dir():
            continue
        entry_bytes = 0
        head = b""
        with archive.open(entry) as stream:
            while chunk := stream.read(_READ_CHUNK):
                if not head:
                    head = chunk[:512]
                entry_bytes += len(chunk)
                expanded += len(chunk)
                if expanded > ARCHIVE_MAX_EXPANDED_BYTES:
                    raise ArchiveUnsafe()
                if (
                    entry_bytes > ARCHIVE_RATIO_FLOOR_BYTES
                    and entry_bytes > ARCHIVE_MAX_RATIO * max(entry.compress_size, 1)
                ):
                    raise ArchiveUnsafe()
        if _archive_nested(name, head):
            raise ArchiveUnsafe()
    if expanded > ARCHIVE_RATIO_FLOOR_BYTES and expanded > ARCHIVE_MAX_RATIO * size:
        raise ArchiveUnsafe()


def archive_check(content: bytes) -> None:
    """Refuse a zip that is a bomb, nested, encrypted, or has unsafe entry names.

    Sizes are counted by decompressing each entry in chunks, never from the headers.
    """
    try:
        with zipfile.ZipFile(io.BytesIO(content)) as archive:
            _archive_entries_check(archive, len(content))
    except FileRefused:
        raise
    except (
        zipfile.BadZipFile,
        zipfile.LargeZipFile,
        zlib.error,
        EOFError,
        OSError,
        RuntimeError,
        NotImplementedError,
        ValueError,
        KeyError,
    ) as exc:
        raise FileUnreadable() from exc


# --- All together ---------------------------------------------------------------------


def file_too_large(max_bytes: int) -> FileTooLarge:
    """Return the refusal for a file larger than ``max_bytes``, naming the limit."""
    return FileTooLarge(
        _("The selected file must be %(size)s or smaller.") % {"size": filesizeformat(max_bytes)}
    )


def upload_check(*, content: bytes, filename: str, policy: UploadPolicy) -> CheckedFile:
    """Return the file as it will be stored, or raise the FileRefused that says why."""
    if not content:
        raise FileEmpty()
    if len(content) > policy.max_bytes:
        raise file_too_large(policy.max_bytes)
    display_name = filename_clean(filename)
    kind = kind_sniff(content)
    if kind == KIND_ZIP:
        if not policy.allow_archives:
            raise ArchiveNotAllowed()
    elif kind is None or kind not in policy.kinds:
        raise FileTypeNotAllowed(
            _("The selected file must be one of these types: %(kinds)s.")
            % {"kinds": _kinds_text(policy.kinds)}
        )
    if filename_extension(display_name) not in KIND_EXTENSIONS[kind]:
        raise FileExtensionMismatch()
    stored = content
    if kind in IMAGE_KINDS:
        _embedded_archive_refuse(content)
        stored = image_clean(content, kind)
    elif kind == KIND_PDF:
        _embedded_archive_refuse(content)
        pdf_check(content)
    else:
        archive_check(content)
    return CheckedFile(
        content=stored,
        kind=kind,
        content_type=KIND_CONTENT_TYPES[kind],
        filename=display_name,
    )
