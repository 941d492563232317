"""Calls one Finance SDK library through our binding, in a fresh interpreter.

    python tests/archive/sdk/probe.py LIBRARY < calls.json > results.json

The library is loaded before anything else is imported (ADR 0018): ``archive.sdk.native``
needs only the standard library. ``calls.json`` is a list of ``{"op": …}`` objects; the
answer is one JSON object per call, in order. A call that aborts the library aborts this
process, as it would abort the SDK worker: run such a call alone.
"""

from __future__ import annotations

import base64
import ctypes
import json
import sys
from pathlib import Path
from typing import Any

from archive.sdk.native import FinanceSdkLibrary, declare

CORP_ID, SECRET = "ww0123456789abcdef", "archive-secret"


def _text(value: str | None) -> bytes | None:
    return None if value is None else value.encode("latin-1")


def run(path: Path, call: dict[str, Any]) -> dict[str, Any]:
    op = call["op"]
    library = FinanceSdkLibrary(path)
    if op == "init":
        return {"rc": library.init(call["corp_id"], call["secret"])}
    if op == "chat":
        library.init(CORP_ID, SECRET)
        rc, body = library.get_chat_data(call.get("seq", 0), call["limit"], call["proxy"], "", call.get("timeout", 5))
        return {"rc": rc, "body": body.decode("utf-8", "replace")}
    if op == "media":
        library.init(CORP_ID, SECRET)
        rc, chunk = library.get_media_data("", call["sdkfileid"], call["proxy"], "", call.get("timeout", 5))
        return {"rc": rc, "chunk": chunk is not None}
    if op == "decrypt":
        raw = ctypes.CDLL(str(path))
        declare(raw)
        slice_ = raw.NewSlice()
        try:
            rc = raw.DecryptData(_text(call["key"]), _text(call["message"]), slice_)
            length = raw.GetSliceLen(slice_)
            data = ctypes.string_at(raw.GetContentFromSlice(slice_), length) if rc == 0 else b""
        finally:
            raw.FreeSlice(slice_)
        return {"rc": rc, "plaintext": base64.b64encode(data).decode("ascii")}
    if op == "empty_objects":
        raw = ctypes.CDLL(str(path))
        declare(raw)
        slice_, media = raw.NewSlice(), raw.NewMediaData()
        pointers = {
            "GetContentFromSlice": raw.GetContentFromSlice(slice_),
            "GetData": raw.GetData(media),
            "GetOutIndexBuf": raw.GetOutIndexBuf(media),
        }
        answer: dict[str, Any] = {name: None if not p else ctypes.string_at(p).decode() for name, p in pointers.items()}
        answer |= {
            "GetSliceLen": raw.GetSliceLen(slice_),
            "GetDataLen": raw.GetDataLen(media),
            "GetIndexLen": raw.GetIndexLen(media),
            "IsMediaDataFinish(NULL)": raw.IsMediaDataFinish(None),
        }
        raw.FreeSlice(slice_)
        raw.FreeMediaData(media)
        return answer
    raise ValueError(f"unknown probe op {op!r}")


def main() -> int:
    path = Path(sys.argv[1])
    calls = json.load(sys.stdin)
    json.dump([run(path, call) for call in calls], sys.stdout)
    return 0


if __name__ == "__main__":
    sys.exit(main())
