"""Files for the media tests, made here byte by byte (no imaging library): a real
JPEG and WebP (drawn by Chromium once, in tests/payloads/media/), PNGs built with
zlib, and EXIF blocks with a GPS position to put into them."""

from __future__ import annotations

import struct
import zlib
from pathlib import Path

MEDIA = Path(__file__).parent / "payloads" / "media"
PHOTO_JPEG = (MEDIA / "photo.jpg").read_bytes()  # 48x32, JFIF + ICC, no EXIF
PHOTO_WEBP = (MEDIA / "photo.webp").read_bytes()  # 48x32, VP8X + ICC
LATITUDE = struct.pack("<6I", 28, 1, 36, 1, 5000, 100)  # 28° 36' 50" (New Delhi)
LONGITUDE = struct.pack("<6I", 77, 1, 12, 1, 3000, 100)
ORIENTATION_ENTRY = struct.pack("<HHII", 0x0112, 3, 1, 6)  # rotated: must survive


def exif_tiff(*, gps: bool = True) -> bytes:
    """A little-endian TIFF block: IFD0 with the orientation and (if `gps`) a GPS
    directory holding a latitude and a longitude."""
    if not gps:
        return b"II*\x00" + struct.pack("<I", 8) + struct.pack("<H", 1) + ORIENTATION_ENTRY \
            + struct.pack("<I", 0)
    ifd0 = 8
    gps_ifd = ifd0 + 2 + 2 * 12 + 4
    data = gps_ifd + 2 + 4 * 12 + 4
    block = b"II*\x00" + struct.pack("<I", ifd0)
    block += struct.pack("<H", 2) + ORIENTATION_ENTRY
    block += struct.pack("<HHII", 0x8825, 4, 1, gps_ifd) + struct.pack("<I", 0)
    block += struct.pack("<H", 4)
    block += struct.pack("<HHI", 1, 2, 2) + b"N\x00\x00\x00"
    block += struct.pack("<HHII", 2, 5, 3, data)
    block += struct.pack("<HHI", 3, 2, 2) + b"E\x00\x00\x00"
    block += struct.pack("<HHII", 4, 5, 3, data + 24)
    block += struct.pack("<I", 0)
    return block + LATITUDE + LONGITUDE


XMP_WITH_GPS = (b'<x:xmpmeta xmlns:x="adobe:ns:meta/"><rdf:RDF><rdf:Description '
                b'exif:GPSLatitude="28,36.83N" exif:GPSLongitude="77,12.5E"/></rdf:RDF>'
                b"</x:xmpmeta>")


def jpeg_with(tiff: bytes | None = None, xmp: bytes | None = None,
              base: bytes = PHOTO_JPEG) -> bytes:
    """`base` with an Exif APP1 (and an XMP APP1) segment after its SOI marker."""
    segments = b""
    if tiff is not None:
        body = b"Exif\x00\x00" + tiff
        segments += b"\xff\xe1" + struct.pack(">H", len(body) + 2) + body
    if xmp is not None:
        body = b"http://ns.adobe.com/xap/1.0/\x00" + xmp
        segments += b"\xff\xe1" + struct.pack(">H", len(body) + 2) + body
    return base[:2] + segments + base[2:]


def png_chunk(kind: bytes, data: bytes) -> bytes:
    return struct.pack(">I", len(data)) + kind + data + struct.pack(
        ">I", zlib.crc32(kind + data))


def png(width: int = 4, height: int = 3, *, extra: bytes = b"") -> bytes:
    """A real RGB PNG, with `extra` chunks before its image data."""
    header = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    rows = b"".join(b"\x00" + b"\x20\x80\xd0" * width for _ in range(height))
    return (b"\x89PNG\r\n\x1a\n" + png_chunk(b"IHDR", header) + extra
            + png_chunk(b"IDAT", zlib.compress(rows)) + png_chunk(b"IEND", b""))


def webp_with(tiff: bytes | None = None, xmp: bytes | None = None,
              base: bytes = PHOTO_WEBP) -> bytes:
    """`base` (VP8X) with EXIF / XMP chunks appended and its flags and size set."""
    body = bytearray(base[12:])
    for fourcc, data, flag in ((b"EXIF", tiff, 0x08), (b"XMP ", xmp, 0x04)):
        if data is None:
            continue
        body += fourcc + struct.pack("<I", len(data)) + data + (b"\x00" if len(data) % 2 else b"")
        body[8] |= flag  # the VP8X flags byte (the first of its payload)
    return b"RIFF" + struct.pack("<I", len(body) + 4) + b"WEBP" + bytes(body)


HTML_AS_JPEG = b"<!DOCTYPE html><html><body><script>alert(1)</script></body></html>"
PDF = b"%PDF-1.4\n1 0 obj<<>>endobj\ntrailer<<>>\n%%EOF\n"
