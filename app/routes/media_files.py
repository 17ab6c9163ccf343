"""How a kept file is answered, wherever it is served from: its own content type
(only the kinds `media.kinds` accepts, none of which a browser runs), `nosniff`, a
`Content-Disposition` with a name we made, and a sandboxing CSP, so a file can never
become a page of ours."""

from __future__ import annotations

from starlette.responses import Response

from media.store import Attachment


def file_response(attachment: Attachment, data: bytes, *, private: bool = True,
                  download: bool = False) -> Response:
    inline = attachment.kind.shown_inline and not download
    disposition = "inline" if inline else "attachment"
    return Response(data, media_type=attachment.content_type, headers={
        "Content-Disposition": f'{disposition}; filename="{attachment.download_name}"',
        "X-Content-Type-Options": "nosniff",
        "Content-Security-Policy": "default-src 'none'; sandbox",
        "Cache-Control": "private, max-age=3600" if private else "public, max-age=86400",
        "Cross-Origin-Resource-Policy": "same-origin" if private else "cross-origin",
    })
