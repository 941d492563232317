"""ctypes declarations of the Finance SDK's C ABI (spec §1.2–§1.3).

The same code loads Tencent's ``libWeWorkFinanceSdk_C.so`` and the project's fake.
Buffers are always read with their lengths (the data is binary and may hold NULs), and
every Slice/MediaData is freed right after its content is copied out.
"""

from __future__ import annotations

import ctypes
from dataclasses import dataclass
from pathlib import Path

from archive.sdk.errors import SdkLibraryError

_c_char_p = ctypes.c_char_p
_void_p = ctypes.c_void_p

# The C ABI as ctypes declarations — name: (restype, argtypes).
SIGNATURES: dict[str, tuple[object, list[object]]] = {
    "NewSdk": (_void_p, []),
    "Init": (ctypes.c_int, [_void_p, _c_char_p, _c_char_p]),
    "GetChatData": (
        ctypes.c_int,
        [_void_p, ctypes.c_ulonglong, ctypes.c_uint, _c_char_p, _c_char_p, ctypes.c_int, _void_p],
    ),
    "DecryptData": (ctypes.c_int, [_c_char_p, _c_char_p, _void_p]),
    "GetMediaData": (
        ctypes.c_int,
        [_void_p, _c_char_p, _c_char_p, _c_char_p, _c_char_p, ctypes.c_int, _void_p],
    ),
    "DestroySdk": (None, [_void_p]),
    "NewSlice": (_void_p, []),
    "FreeSlice": (None, [_void_p]),
    "GetContentFromSlice": (_void_p, [_void_p]),
    "GetSliceLen": (ctypes.c_int, [_void_p]),
    "NewMediaData": (_void_p, []),
    "FreeMediaData": (None, [_void_p]),
    "GetOutIndexBuf": (_void_p, [_void_p]),
    "GetData": (_void_p, [_void_p]),
    "GetIndexLen": (ctypes.c_int, [_void_p]),
    "GetDataLen": (ctypes.c_int, [_void_p]),
    "IsMediaDataFinish": (ctypes.c_int, [_void_p]),
}


def declare(library: ctypes.CDLL) -> None:
    """Give every SDK function of ``library`` its C signature (AttributeError: one is missing)."""
    for name, (restype, argtypes) in SIGNATURES.items():
        try:
            function = getattr(library, name)
        except AttributeError as exc:
            raise AttributeError(name, name=name) from exc
        function.restype = restype
        function.argtypes = argtypes


@dataclass(frozen=True)
class MediaChunk:
    data: bytes
    next_index: str
    is_finish: bool


class FinanceSdkLibrary:
    """One loaded library and one SDK handle, created and initialised once (pitfall §9.4)."""

    def __init__(self, path: Path) -> None:
        try:
            # CDLL releases the GIL during calls, so RSA threads keep running meanwhile.
            self._lib = ctypes.CDLL(str(path))
        except OSError as exc:
            raise SdkLibraryError(
                f"cannot load the Finance SDK library {path}: {exc}",
                hint="set WECOM_AUDIT_SDK__LIBRARY_PATH to libWeWorkFinanceSdk_C.so (glibc Linux x86_64/ARM64)",
            ) from None
        try:
            declare(self._lib)
        except AttributeError as exc:
            raise SdkLibraryError(
                f"{path} does not export {exc.name}: it is not the WeCom Finance SDK",
                hint="point WECOM_AUDIT_SDK__LIBRARY_PATH at libWeWorkFinanceSdk_C.so",
            ) from None
        self._sdk: int | None = None

    def init(self, corp_id: str, secret: str) -> int:
        self._sdk = self._lib.NewSdk()
        rc: int = self._lib.Init(self._sdk, corp_id.encode(), secret.encode())
        return rc

    def get_chat_data(self, seq: int, limit: int, proxy: str, password: str, timeout_s: int) -> tuple[int, bytes]:
        slice_ = self._lib.NewSlice()
        try:
            rc: int = self._lib.GetChatData(self._sdk, seq, limit, proxy.encode(), password.encode(), timeout_s, slice_)
            return rc, self._slice_bytes(slice_)
        finally:
            self._lib.FreeSlice(slice_)

    def decrypt_data(self, random_key: bytes, encrypt_chat_msg: bytes) -> tuple[int, bytes]:
        slice_ = self._lib.NewSlice()
        try:
            rc: int = self._lib.DecryptData(random_key, encrypt_chat_msg, slice_)
            return rc, self._slice_bytes(slice_) if rc == 0 else b""
        finally:
            self._lib.FreeSlice(slice_)

    def get_media_data(
        self, index: str, sdkfileid: str, proxy: str, password: str, timeout_s: int
    ) -> tuple[int, MediaChunk | None]:
        media = self._lib.NewMediaData()
        try:
            rc: int = self._lib.GetMediaData(
                self._sdk, index.encode(), sdkfileid.encode(), proxy.encode(), password.encode(), timeout_s, media
            )
            if rc != 0:
                return rc, None
            data = _read(self._lib.GetData(media), self._lib.GetDataLen(media))
            next_index = _read(self._lib.GetOutIndexBuf(media), self._lib.GetIndexLen(media))
            finished = bool(self._lib.IsMediaDataFinish(media))
            return 0, MediaChunk(data, next_index.decode("ascii", "replace"), finished)
        finally:
            self._lib.FreeMediaData(media)

    def destroy(self) -> None:
        if self._sdk is not None:
            self._lib.DestroySdk(self._sdk)
            self._sdk = None

    def _slice_bytes(self, slice_: int) -> bytes:
        return _read(self._lib.GetContentFromSlice(slice_), self._lib.GetSliceLen(slice_))


def _read(pointer: int | None, length: int) -> bytes:
    if not pointer or length <= 0:
        return b""
    return ctypes.string_at(pointer, length)
