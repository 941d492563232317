"""Media bytes for simulated messages: real JPEG/GIF/PNG (Pillow), AMR-NB, MP4-like and documents.

Pillow renders a handful of base images once per factory; every image message gets unique
bytes by a JPEG COM segment carrying a unique id, so generation stays fast.
"""

from __future__ import annotations

import base64
import hashlib
import io
import random
import zipfile

from PIL import Image, ImageDraw

AMR_MAGIC = b"#!AMR\n"
AMR_FRAME_BYTES = 32  # AMR-NB 12.2 kbit/s: 1 header byte (0x3C) + 31 bytes of speech bits
AMR_FRAME_HEADER = 0x3C
AMR_FRAME_MS = 20


def md5_hex(data: bytes) -> str:
    return hashlib.md5(data, usedforsecurity=False).hexdigest()


def _varint(n: int) -> bytes:
    out = bytearray()
    while True:
        byte = n & 0x7F
        n >>= 7
        if n:
            out.append(byte | 0x80)
        else:
            out.append(byte)
            return bytes(out)


def make_sdkfileid(rng: random.Random, nonce: int, counter: int, unix_s: int) -> str:
    """An opaque base64 id shaped like WeCom's (protobuf-like record of a CDN id and a key)."""
    cdn = (
        "3069020102046230600201000204"
        + f"{rng.getrandbits(32):08x}02030f4243"
        + f"0204{nonce & 0xFFFFFFFF:08x}0204{counter:08x}0204{unix_s:08x}0424"
        + f"{rng.getrandbits(128):032x}"
    ).encode()
    ticket = base64.b64encode(f"47_{nonce >> 32}_{counter}_{unix_s}".encode())
    key = f"{rng.getrandbits(128):032x}".encode()
    raw = b"\n" + _varint(len(cdn)) + cdn + b"\x12" + _varint(len(ticket)) + ticket + b"\x1a" + _varint(len(key)) + key
    return base64.b64encode(raw).decode()


def _random_picture(rng: random.Random, width: int, height: int, mode: str = "RGB") -> Image.Image:
    bg = tuple(rng.randrange(256) for _ in range(3))
    img = Image.new(mode, (width, height), bg if mode == "RGB" else (*bg, 0))
    draw = ImageDraw.Draw(img)
    for _ in range(rng.randint(3, 7)):
        x0, y0 = rng.randrange(width), rng.randrange(height)
        x1, y1 = x0 + rng.randint(4, width // 2), y0 + rng.randint(4, height // 2)
        colour = tuple(rng.randrange(256) for _ in range(3))
        fill = colour if mode == "RGB" else (*colour, 255)
        if rng.random() < 0.5:
            draw.ellipse((x0, y0, x1, y1), fill=fill)
        else:
            draw.rectangle((x0, y0, x1, y1), fill=fill)
    return img


class MediaFactory:
    """Builds media payloads. Pillow only runs in ``__init__``."""

    def __init__(self, seed: int) -> None:
        rng = random.Random(seed)
        self._jpegs: list[bytes] = []
        for width, height in ((64, 48), (48, 64), (80, 60), (64, 64), (96, 54), (72, 48)):
            buf = io.BytesIO()
            _random_picture(rng, width, height).save(buf, "JPEG", quality=rng.randint(70, 92))
            self._jpegs.append(buf.getvalue())
        # stickers: reused like real popular stickers (same bytes, fresh sdkfileid each time)
        self.stickers: list[tuple[int, int, int, bytes]] = []  # (type, width, height, data)
        for i in range(10):
            size = rng.choice((96, 120, 128))
            buf = io.BytesIO()
            if i % 2 == 0:
                frames = [_random_picture(rng, size, size).convert("P") for _ in range(rng.randint(2, 4))]
                frames[0].save(buf, "GIF", save_all=True, append_images=frames[1:], duration=120, loop=0)
                self.stickers.append((1, size, size, buf.getvalue()))
            else:
                _random_picture(rng, size, size, "RGBA").save(buf, "PNG")
                self.stickers.append((2, size, size, buf.getvalue()))

    def jpeg(self, rng: random.Random, unique: str) -> bytes:
        """A real JPEG: a base picture with a COM segment carrying ``unique`` (plus padding)."""
        base = rng.choice(self._jpegs)
        payload = f"wecom-sim image {unique}".encode() + rng.randbytes(rng.randrange(0, 6000))
        return b"\xff\xd8\xff\xfe" + (len(payload) + 2).to_bytes(2, "big") + payload + base[2:]

    @staticmethod
    def amr(rng: random.Random, seconds: float) -> tuple[bytes, int]:
        """AMR-NB 12.2 kbit/s noise: returns (bytes, play_length in whole seconds)."""
        frames = max(1, round(seconds * 1000 / AMR_FRAME_MS))
        body = bytearray(rng.randbytes(frames * AMR_FRAME_BYTES))
        body[0::AMR_FRAME_BYTES] = bytes((AMR_FRAME_HEADER,)) * frames
        play_length = max(1, round(frames * AMR_FRAME_MS / 1000))
        return AMR_MAGIC + bytes(body), play_length

    @staticmethod
    def mp4(rng: random.Random, size: int) -> bytes:
        ftyp = b"ftyp" + b"isom" + (512).to_bytes(4, "big") + b"isomiso2avc1mp41"
        ftyp = (len(ftyp) + 4).to_bytes(4, "big") + ftyp
        payload = rng.randbytes(max(0, size - len(ftyp) - 8))
        return ftyp + (len(payload) + 8).to_bytes(4, "big") + b"mdat" + payload

    @staticmethod
    def document(rng: random.Random, ext: str, size: int, title: str) -> bytes:
        """A file of roughly ``size`` bytes whose container matches ``ext``."""
        if ext == "pdf":
            head = (
                "%PDF-1.4\n%\xe2\xe3\xcf\xd3\n1 0 obj\n<< /Type /Catalog /Pages 2 0 R >>\nendobj\n"
                "2 0 obj\n<< /Type /Pages /Kids [3 0 R] /Count 1 >>\nendobj\n"
                "3 0 obj\n<< /Type /Page /Parent 2 0 R /MediaBox [0 0 595 842] /Contents 4 0 R >>\nendobj\n"
            ).encode("latin-1")
            stream = rng.randbytes(max(16, size - len(head) - 120))
            body = head + f"4 0 obj\n<< /Length {len(stream)} /Title <{title.encode().hex()}> >>\nstream\n".encode()
            return body + stream + b"\nendstream\nendobj\ntrailer\n<< /Root 1 0 R >>\n%%EOF\n"
        if ext == "txt":
            line = f"{title}\n".encode()
            return line * max(1, size // len(line))
        # fixed entry timestamps: zipfile would otherwise stamp the wall clock (non-deterministic)
        stamp = (
            2020 + rng.randrange(5),
            rng.randint(1, 12),
            rng.randint(1, 28),
            rng.randrange(24),
            rng.randrange(60),
            0,
        )
        buf = io.BytesIO()
        with zipfile.ZipFile(buf, "w", zipfile.ZIP_STORED) as zf:
            if ext == "zip":
                entries = [("说明.txt", f"{title}\n".encode()), ("附件/data.bin", rng.randbytes(max(0, size - 300)))]
            else:
                part = {"docx": "word/document.xml", "xlsx": "xl/workbook.xml", "pptx": "ppt/presentation.xml"}.get(
                    ext, "content.xml"
                )
                entries = [
                    ("[Content_Types].xml", b'<?xml version="1.0" encoding="UTF-8"?><Types/>'),
                    (part, f'<?xml version="1.0" encoding="UTF-8"?><doc><t>{title}</t></doc>'.encode()),
                    ("docProps/thumbnail.bin", rng.randbytes(max(0, size - 600))),
                ]
            for name, data in entries:
                zf.writestr(zipfile.ZipInfo(name, date_time=stamp), data)
        return buf.getvalue()
