"""``Content-Disposition`` for downloads whose file name carries sender-chosen text.

An attachment's extension is chosen by whoever sent it in WeCom. Put into the header as is,
a quote starts a second ``filename`` parameter and a CR or LF makes the HTTP server refuse
the whole response (the evidence could not be downloaded at all). So the extension is cut
to letters and digits (any script) and ``MAX_EXTENSION_CHARS``, and the name goes out twice
(RFC 6266): ``filename*`` with the UTF-8 name percent-encoded (RFC 8187) and ``filename``,
a quoted ASCII fallback for clients that do not read ``filename*``.
"""

from __future__ import annotations

from typing import Literal
from urllib.parse import quote

MAX_EXTENSION_CHARS = 16
FALLBACK_EXTENSION = "bin"
# RFC 8187 attr-char besides letters and digits: what may stay unencoded in filename*.
_ATTR_CHARS = "!#$&+-.^_`|~"


def safe_extension(extension: str | None) -> str:
    """``extension`` reduced to letters and digits (any script), at most
    ``MAX_EXTENSION_CHARS``; ``FALLBACK_EXTENSION`` when nothing is left."""
    kept = "".join(char for char in extension or "" if char.isalnum())[:MAX_EXTENSION_CHARS]
    return kept or FALLBACK_EXTENSION


def content_disposition(
    stem: str, extension: str | None, *, kind: Literal["attachment", "inline"] = "attachment"
) -> str:
    """The header value for ``stem.extension``. ``stem`` is ours (ASCII letters, digits, '-')."""
    suffix = safe_extension(extension)
    ascii_suffix = suffix if suffix.isascii() else FALLBACK_EXTENSION
    return f"{kind}; filename=\"{stem}.{ascii_suffix}\"; filename*=UTF-8''{quote(f'{stem}.{suffix}', safe=_ATTR_CHARS)}"
