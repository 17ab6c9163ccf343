"""Shoppers' photos and files: what is accepted (`kinds`), what is taken out before
staff see it (`location`), where the bytes live (`blobs`: `DATA_DIR` or S3-compatible
object storage) and what the records say about them (`store`: a row per file in SQL).

This package knows bytes, tables and object stores; nothing of channels, the
dialogue or HTTP. Channels fetch files and the app hands the bytes to `MediaStore`;
the dialogue sees attachment ids only.
"""
