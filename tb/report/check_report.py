#!/usr/bin/env python3
"""Checks a report.html of `lbfp sim`, `lbfp sweep`, `lbfp eval` or `lbfp synth` with a real XML
parser.

usage: check_report.py REPORT_HTML [CSV] [--name TEXT]...

The page and every SVG under charts/ beside it must be well-formed XML; the page must hold no
script and fetch nothing; every field of CSV (every layer, every number) must be the text of a
table cell; every --name must appear in the page's text.
"""
import csv
import pathlib
import sys
import xml.etree.ElementTree as ET

XHTML = "{http://www.w3.org/1999/xhtml}"
SVG = "{http://www.w3.org/2000/svg}"


def fail(message):
    print("FAIL: " + message)
    sys.exit(1)


def main(argv):
    names = []
    positional = []
    i = 0
    while i < len(argv):
        if argv[i] == "--name":
            names.append(argv[i + 1])
            i += 2
        else:
            positional.append(argv[i])
            i += 1
    page = pathlib.Path(positional[0])
    try:
        root = ET.parse(page).getroot()
    except ET.ParseError as e:
        fail(f"{page}: not well-formed XML: {e}")
    if root.tag != XHTML + "html":
        fail(f"{page}: the root is {root.tag}, not an XHTML html element")
    for element in root.iter():
        tag = element.tag.split("}")[-1]
        if tag in ("script", "iframe", "object", "embed", "link", "img"):
            fail(f"{page}: holds a <{tag}> (the page must be self-contained, without scripts)")
        for attr in ("href", "src"):
            value = element.get(attr, "")
            if value.startswith(("http:", "https:", "//")):
                fail(f"{page}: fetches {value}")
    if not list(root.iter(SVG + "svg")):
        fail(f"{page}: no inline SVG chart")
    if not list(root.iter(XHTML + "pre")):
        fail(f"{page}: no command line")
    charts = sorted((page.parent / "charts").glob("*.svg"))
    if not charts:
        fail(f"{page.parent}/charts: no SVG written on its own")
    for svg in charts:
        try:
            svg_root = ET.parse(svg).getroot()
        except ET.ParseError as e:
            fail(f"{svg}: not well-formed XML: {e}")
        if svg_root.tag != SVG + "svg":
            fail(f"{svg}: the root is {svg_root.tag}, not svg")
    cells = set()
    for td in root.iter(XHTML + "td"):
        cells.add("".join(td.itertext()))
    text = "".join(root.itertext())
    if len(positional) > 1:
        with open(positional[1], newline="") as f:
            rows = list(csv.reader(f))
        missing = [(r, field) for r, row in enumerate(rows) for field in row
                   if field not in cells and field not in text]
        if missing:
            fail(f"{page}: {len(missing)} fields of {positional[1]} missing, e.g. "
                 f"{missing[:5]}")
        for row in rows[1:]:
            for field in row:
                if field not in cells:
                    fail(f"{page}: '{field}' of {positional[1]} is not a table cell")
    for name in names:
        if name not in text:
            fail(f"{page}: '{name}' does not appear")
    print(f"ok: {page} ({len(charts)} charts, {len(cells)} cells)")


if __name__ == "__main__":
    main(sys.argv[1:])
