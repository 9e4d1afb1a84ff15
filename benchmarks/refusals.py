"""What refusing a hostile file costs: time and peak memory to refuse a padded .keras archive (1 GiB of JSON
whitespace, a few MiB on disk) and a decompression-bomb PNG (20,000 x 20,000 pixels, a few hundred KiB).

Each refusal runs in a fresh process, so its peak resident memory is its own.

    .venv/bin/python -m benchmarks.refusals
"""
from __future__ import annotations

import json
import os
import resource
import subprocess
import sys
import tempfile
import time
import zipfile
from pathlib import Path


def _bomb_archive(folder: Path) -> Path:
    """A real tiny model's archive with 1 GiB of whitespace appended to its config.json."""
    import keras

    model = keras.Sequential([keras.Input((4,)), keras.layers.Dense(2, activation="softmax")])
    real = folder / "real.keras"
    model.save(real)
    bomb = folder / "bomb.keras"
    with zipfile.ZipFile(real) as source, zipfile.ZipFile(bomb, "w", zipfile.ZIP_DEFLATED) as out:
        for item in source.infolist():
            data = source.read(item.filename)
            if item.filename == "config.json":
                with out.open("config.json", "w", force_zip64=True) as member:
                    member.write(data)
                    chunk = b" " * (64 << 20)
                    for _ in range(16):
                        member.write(chunk)
            else:
                out.writestr(item, data)
    return bomb


def _bomb_png(folder: Path) -> Path:
    from PIL import Image

    path = folder / "bomb.png"
    Image.new("L", (20_000, 20_000)).save(path, format="PNG")
    return path


def child(kind: str, path: str) -> None:
    """Refuse one file; print seconds and the peak memory this process added while refusing."""
    if kind == "archive":
        from explain.loading import load_keras as refuse
    else:
        from explain.dashboard.imaging import to_model_image

        def refuse(p: Path) -> None:
            to_model_image(Path(p).read_bytes(), (28, 28))
    before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    started = time.perf_counter()
    try:
        refuse(Path(path))
        message = "ACCEPTED"
    except ValueError as exc:
        message = str(exc)
    seconds = time.perf_counter() - started
    added = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - before
    print("RESULT " + json.dumps({"seconds": seconds, "added_mib": added / 1024, "message": message}))


def main() -> None:
    if len(sys.argv) == 4 and sys.argv[1] == "--child":
        child(sys.argv[2], sys.argv[3])
        return
    print(f"load average before: {os.getloadavg()[0]:.2f}")
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        files = {"archive": _bomb_archive(folder), "image": _bomb_png(folder)}
        print("| hostile file | on disk | refused in s | peak memory added MiB | message |")
        print("| --- | --- | --- | --- | --- |")
        for kind, path in files.items():
            out = subprocess.run([sys.executable, "-m", "benchmarks.refusals", "--child", kind, str(path)],
                                 capture_output=True, text=True, check=True).stdout
            result = json.loads(next(line for line in out.splitlines() if line.startswith("RESULT "))[7:])
            size = path.stat().st_size / 2**20
            print(f"| {kind}: {path.name} | {size:.2f} MiB | {result['seconds']:.3f} | {result['added_mib']:.1f} | "
                  f"{result['message'][:90]} |")


if __name__ == "__main__":
    main()
