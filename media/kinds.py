"""Which files are accepted, told from their first bytes, never from a name or a
header the sender chose (a "photo.jpg" that is an HTML page is refused).

    sniff(data) -> Kind | None

JPEG, PNG, WebP, HEIC/HEIF and PDF: what phones send as photos and what shops send
as invoices. Every `Kind` has a content type that no browser runs as a page.
"""

from __future__ import annotations

from dataclasses import dataclass

HEIC_BRANDS = frozenset({b"heic", b"heix", b"heim", b"heis", b"hevc", b"hevx"})
HEIF_BRANDS = frozenset({b"mif1", b"msf1"})  # generic HEIF: HEIC when a heic brand follows


@dataclass(frozen=True, slots=True)
class Kind:
    content_type: str
    extension: str
    is_image: bool
    shown_inline: bool  # browsers draw it as an <img> (HEIC they do not)


JPEG = Kind("image/jpeg", "jpg", is_image=True, shown_inline=True)
PNG = Kind("image/png", "png", is_image=True, shown_inline=True)
WEBP = Kind("image/webp", "webp", is_image=True, shown_inline=True)
HEIC = Kind("image/heic", "heic", is_image=True, shown_inline=False)
PDF = Kind("application/pdf", "pdf", is_image=False, shown_inline=False)

KINDS = {kind.content_type: kind for kind in (JPEG, PNG, WEBP, HEIC, PDF)}


def sniff(data: bytes) -> Kind | None:
    """The kind the bytes are, or None for anything else (HTML, SVG, GIF, archives)."""
    if data.startswith(b"\xff\xd8\xff"):
        return JPEG
    if data.startswith(b"\x89PNG\r\n\x1a\n"):
        return PNG
    if len(data) >= 12 and data[:4] == b"RIFF" and data[8:12] == b"WEBP":
        return WEBP
    if data.startswith(b"%PDF-"):
        return PDF
    if _is_heic(data):
        return HEIC
    return None


def _is_heic(data: bytes) -> bool:
    """An ISO-BMFF `ftyp` box first, with a HEIC brand (major or compatible)."""
    if len(data) < 16 or data[4:8] != b"ftyp":
        return False
    size = int.from_bytes(data[:4], "big")
    if size < 16 or size > min(len(data), 4096) or size % 4:
        return False
    major = data[8:12]
    compatible = {data[i:i + 4] for i in range(16, size, 4)}
    if major in HEIC_BRANDS:
        return True
    return major in HEIF_BRANDS and bool(compatible & HEIC_BRANDS)
