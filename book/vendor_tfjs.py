"""Fetch the pinned TensorFlow.js files the in-browser trainer serves from _static/ (no CDN).

The files are committed in book/static/tfjs/, so neither ``make book`` nor a reader needs the
network or node; this script is how they got there, and how to move to another version:

    python book/vendor_tfjs.py            # fetch, check npm's sha512 integrity, write SHA256SUMS

It downloads two npm tarballs from registry.npmjs.org with the standard library only, checks
each against the integrity string pinned below (from the registry's metadata of that version),
and copies the four files the page uses out of them.
"""

from __future__ import annotations

import base64
import hashlib
import io
import sys
import tarfile
import urllib.request
from pathlib import Path

VERSION = "4.22.0"
TARGET = Path(__file__).resolve().parent / "static" / "tfjs"
PACKAGES = {  # npm package -> (sha512 integrity of its tarball, files taken from package/dist/)
    "tfjs": (
        "sha512-0TrIrXs6/b7FLhLVNmfh8Sah6JgjBPH4mZ8JGb7NU6WW+cx00qK5BcAZxw7NCzxj6N8MRAIfHq+oNbPUNG5VAg==",
        ("tf.min.js",),
    ),
    "tfjs-backend-wasm": (
        "sha512-/IYhReRIp4jg/wYW0OwbbJZG8ON87mbz0PgkiP3CdcACRSvUN0h8rvC0O3YcDtkTQtFWF/tcXq/KlVDyV49wmA==",
        # The threaded build needs a cross-origin-isolated page (COOP/COEP headers), which a
        # static book does not get: the page switches threads off and never asks for it.
        ("tf-backend-wasm.min.js", "tfjs-backend-wasm.wasm", "tfjs-backend-wasm-simd.wasm"),
    ),
}


def tarball(package: str) -> bytes:
    url = f"https://registry.npmjs.org/@tensorflow/{package}/-/{package}-{VERSION}.tgz"
    with urllib.request.urlopen(url, timeout=60) as response:
        return response.read()


def check_integrity(package: str, data: bytes, integrity: str) -> None:
    found = "sha512-" + base64.b64encode(hashlib.sha512(data).digest()).decode()
    if found != integrity:
        raise SystemExit(f"@tensorflow/{package}@{VERSION}: integrity {found} is not the pinned {integrity}")


def main() -> None:
    TARGET.mkdir(parents=True, exist_ok=True)
    sums = []
    for package, (integrity, names) in PACKAGES.items():
        data = tarball(package)
        check_integrity(package, data, integrity)
        with tarfile.open(fileobj=io.BytesIO(data), mode="r:gz") as archive:
            for name in names:
                content = archive.extractfile(f"package/dist/{name}").read()
                (TARGET / name).write_bytes(content)
                sums.append(f"{hashlib.sha256(content).hexdigest()}  {name}")
    (TARGET / "SHA256SUMS").write_text("\n".join(sums) + "\n", encoding="utf8")
    print(f"TensorFlow.js {VERSION}: {len(sums)} files in {TARGET}", file=sys.stderr)


if __name__ == "__main__":
    main()
