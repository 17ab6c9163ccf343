"""Take where a picture was taken out of it, without decoding or re-encoding it.

    without_location(data, kind) -> bytes

Phones write the place in two ways: the EXIF GPS directory (a TIFF structure, in a
JPEG's APP1 segment, a PNG's `eXIf` chunk, a WebP's `EXIF` chunk, a HEIC's Exif
item) and XMP (`exif:GPSLatitude`... in an XML packet). The EXIF GPS directory is
blanked where it lies: its entries and every value they point at are overwritten
with zeros and its entry count set to 0, so the pointer to it stays valid and
nothing else moves (the orientation, the camera and the picture itself are kept,
bit for bit). An XMP packet that mentions GPS is dropped (JPEG, PNG, WebP) or, where
dropping would move the container's offsets (HEIC), overwritten with spaces.

A picture that carries no location comes back as the very same bytes. EXIF that
cannot be read (offsets out of bounds) is blanked whole: better no metadata than
a location we failed to find. PDFs are left alone (they are documents, not photos).

No small, maintained library does this without re-encoding (piexif, the usual
answer, has had no release since 2019 and rewrites the whole EXIF block), so it is
the few byte-level rules below, each tested with hand-built files.
"""

from __future__ import annotations

import zlib

from .kinds import HEIC, JPEG, PNG, WEBP, Kind

GPS_POINTER = 0x8825
EXIF_HEADER = b"Exif\x00\x00"
XMP_HEADERS = (b"http://ns.adobe.com/xap/1.0/\x00", b"http://ns.adobe.com/xmp/extension/\x00")
TYPE_SIZES = {1: 1, 2: 1, 3: 2, 4: 4, 5: 8, 6: 1, 7: 1, 8: 2, 9: 4, 10: 8, 11: 4, 12: 8}
MAX_GPS_ENTRIES = 256
MAX_EXIF_BYTES = 65_535  # a JPEG's APP1 limit; HEIC's Exif item is read as far


class _Unreadable(Exception):
    pass


def without_location(data: bytes, kind: Kind) -> bytes:
    if kind is JPEG:
        return _jpeg(data)
    if kind is PNG:
        return _png(data)
    if kind is WEBP:
        return _webp(data)
    if kind is HEIC:
        return _heic(data)
    return data


def _mentions_gps(xmp: bytes) -> bool:
    return b"GPS" in xmp or b"gps" in xmp.lower()


# --- TIFF (the EXIF block) ---------------------------------------------------------


def blank_gps(buf: bytearray, start: int, end: int) -> bool:
    """Blank the GPS directory of the TIFF structure at buf[start:end], in place.
    True when something was blanked. Unreadable EXIF is zeroed whole."""
    try:
        return _blank_gps(buf, start, end)
    except _Unreadable:
        buf[start:end] = bytes(end - start)
        return True


def _blank_gps(buf: bytearray, start: int, end: int) -> bool:
    tiff = memoryview(buf)[start:end]
    order = bytes(tiff[:2])
    if order == b"II":
        endian = "little"
    elif order == b"MM":
        endian = "big"
    else:
        raise _Unreadable

    def u16(at: int) -> int:
        if at < 0 or at + 2 > len(tiff):
            raise _Unreadable
        return int.from_bytes(tiff[at:at + 2], endian)  # type: ignore[arg-type]

    def u32(at: int) -> int:
        if at < 0 or at + 4 > len(tiff):
            raise _Unreadable
        return int.from_bytes(tiff[at:at + 4], endian)  # type: ignore[arg-type]

    if u16(2) != 42:
        raise _Unreadable
    ifd0 = u32(4)
    gps = None
    for i in range(u16(ifd0)):
        entry = ifd0 + 2 + 12 * i
        if u16(entry) == GPS_POINTER:
            gps = u32(entry + 8)
            break
    if gps is None:
        return False
    count = u16(gps)
    if count == 0:
        return False
    if count > MAX_GPS_ENTRIES or gps + 2 + 12 * count > len(tiff):
        raise _Unreadable
    for i in range(count):
        entry = gps + 2 + 12 * i
        size = TYPE_SIZES.get(u16(entry + 2), 1) * u32(entry + 4)
        if size > 4:
            offset = u32(entry + 8)
            if offset + size > len(tiff):
                raise _Unreadable
            tiff[offset:offset + size] = bytes(size)
    tiff[gps:gps + 2 + 12 * count] = bytes(2 + 12 * count)
    return True


# --- JPEG ---------------------------------------------------------------------------


def _jpeg(data: bytes) -> bytes:
    """Walk the segments up to the image data (SOS): patch Exif APP1, drop XMP APP1
    segments that name a place."""
    buf = bytearray(data)
    drop: list[tuple[int, int]] = []
    changed = False
    i = 2
    while i + 4 <= len(buf) and buf[i] == 0xFF:
        marker = buf[i + 1]
        if marker == 0xFF:  # fill byte
            i += 1
            continue
        if marker == 0x01 or 0xD0 <= marker <= 0xD8:  # no length
            i += 2
            continue
        if marker in (0xDA, 0xD9):  # image data or the end: no metadata after this
            break
        length = int.from_bytes(buf[i + 2:i + 4], "big")
        end = i + 2 + length
        if length < 2 or end > len(buf):
            break
        if marker == 0xE1:
            payload = bytes(buf[i + 4:min(end, i + 4 + 64)])
            if payload.startswith(EXIF_HEADER):
                changed |= blank_gps(buf, i + 4 + len(EXIF_HEADER), end)
            elif payload.startswith(XMP_HEADERS) and _mentions_gps(bytes(buf[i + 4:end])):
                drop.append((i, end))
        i = end
    if not changed and not drop:
        return data
    return _without(bytes(buf), drop)


def _without(data: bytes, ranges: list[tuple[int, int]]) -> bytes:
    parts, at = [], 0
    for start, end in ranges:
        parts.append(data[at:start])
        at = end
    parts.append(data[at:])
    return b"".join(parts)


# --- PNG ----------------------------------------------------------------------------

XMP_KEYWORD = b"XML:com.adobe.xmp\x00"
RAW_PROFILES = (b"Raw profile type exif\x00", b"Raw profile type xmp\x00",
                b"Raw profile type APP1\x00")


def _png(data: bytes) -> bytes:
    buf = bytearray(data)
    drop: list[tuple[int, int]] = []
    changed = False
    i = 8
    while i + 12 <= len(buf):
        length = int.from_bytes(buf[i:i + 4], "big")
        kind = bytes(buf[i + 4:i + 8])
        body, end = i + 8, i + 12 + length
        if end > len(buf):
            break
        if kind == b"eXIf":
            if blank_gps(buf, body, body + length):
                crc = zlib.crc32(bytes(buf[i + 4:body + length]))
                buf[body + length:end] = crc.to_bytes(4, "big")
                changed = True
        elif kind == b"iTXt" and bytes(buf[body:body + len(XMP_KEYWORD)]) == XMP_KEYWORD:
            if _mentions_gps(bytes(buf[body:body + length])):
                drop.append((i, end))
        elif kind in (b"tEXt", b"zTXt", b"iTXt") and bytes(
                buf[body:body + 24]).startswith(RAW_PROFILES):
            drop.append((i, end))  # ImageMagick's hex-encoded EXIF/XMP: not read, dropped
        elif kind == b"IEND":
            break
        i = end
    if not changed and not drop:
        return data
    return _without(bytes(buf), drop)


# --- WebP ---------------------------------------------------------------------------

VP8X_XMP_FLAG = 0x04


def _webp(data: bytes) -> bytes:
    buf = bytearray(data)
    drop: list[tuple[int, int]] = []
    changed = False
    vp8x = None
    i = 12
    while i + 8 <= len(buf):
        fourcc = bytes(buf[i:i + 4])
        size = int.from_bytes(buf[i + 4:i + 8], "little")
        body, end = i + 8, i + 8 + size + (size & 1)
        if body + size > len(buf):
            break
        if fourcc == b"VP8X":
            vp8x = body
        elif fourcc == b"EXIF":
            start = body + (len(EXIF_HEADER) if buf[body:body + 6] == EXIF_HEADER else 0)
            changed |= blank_gps(buf, start, body + size)
        elif fourcc == b"XMP " and _mentions_gps(bytes(buf[body:body + size])):
            drop.append((i, min(end, len(buf))))
        i = end
    if not changed and not drop:
        return data
    if drop:
        removed = sum(end - start for start, end in drop)
        riff = int.from_bytes(buf[4:8], "little") - removed
        buf[4:8] = riff.to_bytes(4, "little")
        if vp8x is not None:
            buf[vp8x] &= ~VP8X_XMP_FLAG & 0xFF
    return _without(bytes(buf), drop)


# --- HEIC ---------------------------------------------------------------------------


def _heic(data: bytes) -> bytes:
    """HEIC keeps offsets to its items (`iloc`), so nothing may move: the Exif item's
    GPS directory is blanked and a GPS-naming XMP packet is overwritten with spaces,
    both in place."""
    buf = bytearray(data)
    changed = False
    at = buf.find(EXIF_HEADER)
    while at != -1:
        tiff = at + len(EXIF_HEADER)
        if bytes(buf[tiff:tiff + 4]) in (b"II*\x00", b"MM\x00*"):
            changed |= blank_gps(buf, tiff, min(len(buf), tiff + MAX_EXIF_BYTES))
        at = buf.find(EXIF_HEADER, tiff)
    at = buf.find(b"<x:xmpmeta")
    while at != -1:
        end = buf.find(b"</x:xmpmeta>", at)
        if end == -1:
            break
        end += len(b"</x:xmpmeta>")
        if _mentions_gps(bytes(buf[at:end])):
            buf[at:end] = b" " * (end - at)
            changed = True
        at = buf.find(b"<x:xmpmeta", end)
    return bytes(buf) if changed else data
