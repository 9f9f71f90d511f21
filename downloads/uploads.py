"""Where an upload waits while its request is read: a full disk there is a form error, not a 500.

Django spools uploads past FILE_UPLOAD_MAX_MEMORY_SIZE to a file in FILE_UPLOAD_TEMP_DIR while the
request body is parsed, which happens before any view runs (the CSRF check reads the form). A
write that fails there (the disk or the quota is full) escaped as an OSError: a 500 for the admin
who uploaded, and a spooled half-file left until the request ended. Here the spooled file is
removed, the rest of that file's part is read and dropped (the form's other fields still
arrive), and the admin's form says why
(`StoredFileAdmin.get_form` shows `request.storage_write_error` on the file field).
"""

from typing import Any

from django.core.files import uploadhandler

from downloads.faults import storage_write_message


class TemporaryFileUploadHandler(uploadhandler.TemporaryFileUploadHandler):
    def new_file(self, *args: Any, **kwargs: Any) -> None:
        try:
            super().new_file(*args, **kwargs)
        except OSError as error:
            self._refuse(error)

    def receive_data_chunk(self, raw_data: bytes, start: int) -> None:
        try:
            self.file.write(raw_data)
        except OSError as error:
            self._refuse(error)

    def _refuse(self, error: OSError) -> None:
        self.upload_interrupted()
        if self.request is not None:
            self.request.storage_write_error = storage_write_message(error)  # type: ignore[attr-defined]
        # Skip this file, not the request: the fields after it (the grants' management form)
        # must still arrive for the form to be shown again with its error.
        raise uploadhandler.SkipFile
