"""Image files and bytes: what a file or a payload is, written safely, with its parameters inside.

Owns: ``bytes`` (signatures, strict base64), ``containers`` (JPEG/PNG/GIF/WebP headers read without
decoding a pixel, and the errors about image files), ``files`` (atomic writes that never overwrite, safe
reads of a file a user names), ``a1111`` (AUTOMATIC1111's infotext) and ``metadata`` (a JSON-able record
inside image bytes). Imports nothing of the package outside this wing: ground that every other wing
stands on.
"""
