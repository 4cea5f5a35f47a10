#!/usr/bin/env python3
"""Renders a report.html in headless Chromium to a PNG: no console errors, and not blank.

usage: screenshot.py CHROMIUM REPORT_HTML PNG
Exits 0 when the page renders, 1 on a failure.
"""
import pathlib
import struct
import subprocess
import sys
import zlib


def png_pixels(path):
    """The distinct pixel values of an 8-bit RGB or RGBA PNG (no PIL needed)."""
    data = pathlib.Path(path).read_bytes()
    if data[:8] != b"\x89PNG\r\n\x1a\n":
        raise ValueError("not a PNG")
    pos, idat, width, height, channels = 8, b"", 0, 0, 0
    while pos < len(data):
        length, kind = struct.unpack(">I4s", data[pos:pos + 8])
        body = data[pos + 8:pos + 8 + length]
        if kind == b"IHDR":
            width, height, depth, color = struct.unpack(">IIBB", body[:10])
            if depth != 8 or color not in (2, 6):
                raise ValueError(f"unsupported PNG (depth {depth}, colour type {color})")
            channels = 3 if color == 2 else 4
        elif kind == b"IDAT":
            idat += body
        pos += 12 + length
    raw = zlib.decompress(idat)
    stride = width * channels
    previous = bytearray(stride)
    values = set()
    for y in range(height):
        f = raw[y * (stride + 1)]
        line = bytearray(raw[y * (stride + 1) + 1:(y + 1) * (stride + 1)])
        for x in range(stride):
            a = line[x - channels] if x >= channels else 0
            b = previous[x]
            c = previous[x - channels] if x >= channels else 0
            if f == 1:
                line[x] = (line[x] + a) & 255
            elif f == 2:
                line[x] = (line[x] + b) & 255
            elif f == 3:
                line[x] = (line[x] + (a + b) // 2) & 255
            elif f == 4:
                p = a + b - c
                pa, pb, pc = abs(p - a), abs(p - b), abs(p - c)
                line[x] = (line[x] + (a if pa <= pb and pa <= pc else b if pb <= pc else c)) & 255
        for x in range(0, stride, channels * 4):  # every fourth pixel is plenty
            values.add(bytes(line[x:x + 3]))
        previous = line
    return width, height, values


def main(chromium, page, png):
    page = pathlib.Path(page).resolve()
    cmd = [chromium, "--headless", "--no-sandbox", "--disable-gpu", "--hide-scrollbars",
           "--enable-logging=stderr", "--v=0", "--window-size=1400,2400",
           f"--screenshot={png}", page.as_uri()]
    run = subprocess.run(cmd, capture_output=True, text=True, timeout=120)
    console = [l for l in run.stderr.splitlines() if "CONSOLE" in l or "Uncaught" in l]
    if run.returncode != 0 or not pathlib.Path(png).exists():
        print(f"FAIL: chromium exited {run.returncode} without a screenshot:\n{run.stderr}")
        return 1
    if console:
        print("FAIL: console messages:\n" + "\n".join(console))
        return 1
    width, height, values = png_pixels(png)
    if len(values) < 20:
        print(f"FAIL: {page}: the screenshot ({width}x{height}) has only {len(values)} colours")
        return 1
    print(f"ok: {page} rendered {width}x{height}, {len(values)} distinct colours")
    return 0


if __name__ == "__main__":
    sys.exit(main(*sys.argv[1:4]))
