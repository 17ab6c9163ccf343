"""What is accepted, and what staff get: location gone, everything else the same."""

from __future__ import annotations

import struct
import zlib

import pytest

from media.kinds import HEIC, JPEG, PDF, PNG, WEBP, sniff
from media.location import without_location
from tests.media_files import (
    HTML_AS_JPEG,
    LATITUDE,
    LONGITUDE,
    ORIENTATION_ENTRY,
    PHOTO_JPEG,
    PHOTO_WEBP,
    XMP_WITH_GPS,
    exif_tiff,
    jpeg_with,
    png,
    png_chunk,
    webp_with,
)
from tests.media_files import (
    PDF as PDF_BYTES,
)


def heic(extra: bytes = b"", brand: bytes = b"heic") -> bytes:
    ftyp = b"ftyp" + brand + b"\x00\x00\x00\x00" + b"mif1" + brand
    return struct.pack(">I", len(ftyp) + 4) + ftyp + b"\x00\x00\x00\x08free" + extra


@pytest.mark.parametrize(("data", "kind"), [
    (PHOTO_JPEG, JPEG), (png(), PNG), (PHOTO_WEBP, WEBP), (PDF_BYTES, PDF), (heic(), HEIC),
    (heic(brand=b"heix"), HEIC),
])
def test_the_kinds_we_take_are_told_from_their_bytes(data: bytes, kind: object) -> None:
    assert sniff(data) is kind


@pytest.mark.parametrize("data", [
    HTML_AS_JPEG, b"<svg xmlns='http://www.w3.org/2000/svg'/>", b"GIF89a\x01\x00\x01\x00",
    b"PK\x03\x04zip", b"", b"\xff\xd8", heic(brand=b"avif"), b"RIFF\x00\x00\x00\x00WAVEfmt ",
])
def test_anything_else_is_refused_whatever_it_is_called(data: bytes) -> None:
    assert sniff(data) is None


@pytest.mark.parametrize(("data", "kind"), [
    (PHOTO_JPEG, JPEG), (jpeg_with(exif_tiff(gps=False)), JPEG), (png(), PNG),
    (PHOTO_WEBP, WEBP), (webp_with(exif_tiff(gps=False)), WEBP), (PDF_BYTES, PDF),
    (heic(b"Exif\x00\x00" + exif_tiff(gps=False)), HEIC),
])
def test_a_picture_without_a_location_reaches_staff_byte_for_byte(
    data: bytes, kind: object
) -> None:
    assert without_location(data, kind) == data  # type: ignore[arg-type]


def _gps_gone(data: bytes) -> None:
    assert LATITUDE not in data and LONGITUDE not in data
    assert b"GPSLatitude" not in data


def test_jpeg_gps_is_blanked_in_place_and_the_rest_kept() -> None:
    sent = jpeg_with(exif_tiff())
    kept = without_location(sent, JPEG)
    _gps_gone(kept)
    assert len(kept) == len(sent)  # nothing moved
    assert ORIENTATION_ENTRY in kept  # the photo still knows which way is up
    assert kept.endswith(PHOTO_JPEG[2:])  # the picture itself, bit for bit
    differing = [i for i, (a, b) in enumerate(zip(sent, kept, strict=True)) if a != b]
    assert differing and min(differing) > sent.index(b"Exif")


def test_jpeg_xmp_naming_a_place_is_dropped_and_other_segments_kept() -> None:
    kept = without_location(jpeg_with(exif_tiff(), XMP_WITH_GPS), JPEG)
    _gps_gone(kept)
    assert b"http://ns.adobe.com/xap/1.0/" not in kept
    assert kept.endswith(PHOTO_JPEG[2:]) and b"ICC_PROFILE" in kept


def test_unreadable_exif_is_blanked_whole() -> None:
    broken = bytearray(exif_tiff())
    broken[4:8] = struct.pack("<I", 9999)  # IFD0 beyond the block
    kept = without_location(jpeg_with(bytes(broken)), JPEG)
    _gps_gone(kept)
    assert kept.endswith(PHOTO_JPEG[2:])


def test_png_exif_chunk_is_blanked_with_a_fresh_crc_and_xmp_dropped() -> None:
    xmp = png_chunk(b"iTXt", b"XML:com.adobe.xmp\x00\x00\x00\x00\x00" + XMP_WITH_GPS)
    sent = png(extra=png_chunk(b"eXIf", exif_tiff()) + xmp)
    kept = without_location(sent, PNG)
    _gps_gone(kept)
    assert b"XML:com.adobe.xmp" not in kept
    at = kept.index(b"eXIf") - 4
    length = struct.unpack(">I", kept[at:at + 4])[0]
    body = kept[at + 4:at + 8 + length]
    assert kept[at + 8 + length:at + 12 + length] == struct.pack(">I", zlib.crc32(body))
    assert kept.endswith(png()[png().index(b"IDAT") - 4:])


def test_webp_exif_is_blanked_and_xmp_dropped_with_size_and_flags_fixed() -> None:
    sent = webp_with(exif_tiff(), XMP_WITH_GPS)
    kept = without_location(sent, WEBP)
    _gps_gone(kept)
    assert b"XMP " not in kept
    assert struct.unpack("<I", kept[4:8])[0] == len(kept) - 8
    assert kept[20] & 0x04 == 0 and kept[20] & 0x08  # XMP flag off, EXIF flag on


def test_heic_gps_is_blanked_without_moving_a_byte() -> None:
    sent = heic(b"\x00\x00\x00\x06Exif\x00\x00" + exif_tiff() + XMP_WITH_GPS + b"mdat")
    kept = without_location(sent, HEIC)
    _gps_gone(kept)
    assert len(kept) == len(sent) and kept.endswith(b"mdat")
