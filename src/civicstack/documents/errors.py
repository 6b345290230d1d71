"""Why a file was refused, in words a person can act on.

Every refusal is a ``ValidationFailed`` (the person can fix it by choosing another file);
a scanner outage is ``TemporarilyUnavailable`` (nothing was stored, try again later).
Other apps catch these through ``documents.services``, which re-exports them.
"""

from __future__ import annotations

from django.utils.translation import gettext_lazy as _

from civicstack.core.errors import (
    CivicstackError,
    PayloadTooLarge,
    TemporarilyUnavailable,
    ValidationFailed,
)


class FileRefused(ValidationFailed):
    """A file that cannot be accepted."""

    code = "file_refused"
    default_message = _("The selected file cannot be accepted. Choose a different file.")


class FileEmpty(FileRefused):
    """The file has no content."""

    code = "file_empty"
    default_message = _("The selected file is empty. Choose a file with something in it.")


class FileTooLarge(FileRefused):
    """The file is bigger than the question allows."""

    code = "file_too_large"
    default_message = _("The selected file is too large. Choose a smaller file.")


class FileTypeNotAllowed(FileRefused):
    """The content is not one of the kinds the question accepts."""

    code = "file_type_not_allowed"
    default_message = _("The selected file is not a type you can upload here.")


class FileExtensionMismatch(FileRefused):
    """The file name's ending does not match what the file really is."""

    code = "file_extension_mismatch"
    default_message = _(
        "The selected file's name does not match its contents. Check you chose the right "
        "file, or save it again in one of the formats listed."
    )


class FileUnreadable(FileRefused):
    """The file is damaged or not what it claims to be."""

    code = "file_unreadable"
    default_message = _(
        "The selected file could not be read. It may be damaged. Save it again and upload "
        "the new copy."
    )


class FileHiddenContent(FileRefused):
    """The file carries a second file inside it (a polyglot)."""

    code = "file_hidden_content"
    default_message = _(
        "The selected file contains another file hidden inside it, so it cannot be "
        "accepted. Save it again from the program that made it and upload the new copy."
    )


class FileActiveContent(FileRefused):
    """A PDF with scripts, automatic actions, launchers or embedded files."""

    code = "file_active_content"
    default_message = _(
        "The selected PDF contains scripts, actions or attached files, so it cannot be "
        "accepted. Print it to a new PDF, or scan the paper copy, and upload that."
    )


class FileEncrypted(FileRefused):
    """A password-protected file, which cannot be checked."""

    code = "file_encrypted"
    default_message = _(
        "The selected file is protected by a password. Remove the password and upload it again."
    )


class ImageTooLarge(FileRefused):
    """An image with too many pixels (a decompression bomb, or a huge scan)."""

    code = "image_too_large"
    default_message = _(
        "The selected image is too big (it has too many pixels). Make it smaller and "
        "upload it again."
    )


class ArchiveNotAllowed(FileRefused):
    """A zip file where the question does not accept archives."""

    code = "archive_not_allowed"
    default_message = _("You cannot upload zip files here. Upload each file on its own.")


class ArchiveUnsafe(FileRefused):
    """A zip file that is too big when unpacked, nested, encrypted or has unsafe names."""

    code = "archive_unsafe"
    default_message = _(
        "The selected zip file cannot be accepted because it is too large when unzipped, "
        "contains other zip files, is password-protected or has unsafe file names. Upload "
        "the files inside it on their own."
    )


class TooManyFiles(FileRefused):
    """The holder already has as many files as the question allows."""

    code = "too_many_files"
    default_message = _("You have uploaded the most files allowed. Remove one to add another.")


class VirusFound(FileRefused):
    """The malware scanner recognised the file."""

    code = "virus_found"
    default_message = _(
        "The selected file contains a virus, so it cannot be accepted. Check your device "
        "for viruses and upload a clean copy."
    )


class ScannerUnavailable(TemporarilyUnavailable):
    """The malware scanner could not be reached or failed: nothing was stored."""

    code = "scanner_unavailable"
    default_message = _(
        "The service that checks files for viruses is not working. Try again later. Your "
        "other answers have been saved."
    )


class UploadTooLarge(PayloadTooLarge):
    """The request or one of its files is over the site-wide cap; refused while reading."""

    code = "upload_too_large"
    default_message = _(
        "The file you chose is too large. Choose a smaller file and try again. Your other "
        "answers have not been sent."
    )


class DocumentDamaged(CivicstackError):
    """The stored file does not decrypt: it was altered or its key is missing."""

    status = 500
    code = "document_damaged"
    default_message = _(
        "This file cannot be opened because it has been damaged. Contact the service "
        "that asked for it."
    )
