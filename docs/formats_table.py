#!/usr/bin/env python3
"""The accuracy table of docs/formats.md ("Results") from `lbfp eval` runs.

Usage: formats_table.py [--lbfp PATH] [--jobs N] [--models M[:IMAGES],...] RUNS_DIR

Per model, one evaluation on the whole test set for each section 13 format (FP8 and INT8 with
the activation calibrations of MODELS below) and one for LBFP8 and BFP8 with their default
calibration (KL), each on one thread: `lbfp eval ... --threads 1 --out RUNS_DIR/<run>`, its
standard output (the same from run to run) saved as RUNS_DIR/<run>.txt. --jobs runs that many at
once (default 1). A run whose .txt already holds a finished report is not repeated, so the table
can be re-derived from saved runs; delete RUNS_DIR to recompute everything. Prints the Markdown
table and the sentence on accumulator saturation that follows it in formats.md. --models picks
the models (columns) and, after a colon, runs only the first IMAGES test images of that model
(default: every model of MODELS on its whole test set).
"""
import os
import re
import subprocess
from concurrent.futures import ThreadPoolExecutor
import sys

SCALED = "mxint8,mxfp8-e4m3,mxfp8-e5m2,fp8-e4m3,fp8-e5m2,int8"
MODELS = [  # (model, data set, title, activation calibrations of FP8 / INT8)
    ("lenet5", "mnist", "lenet5 (MNIST)", "max,percentile"),
    ("resnet10", "fashion-mnist", "resnet10 (Fashion-MNIST)", "max"),
    ("mobilenet", "fashion-mnist", "mobilenet (Fashion-MNIST)", "max"),
]
ROWS = [  # (row title, format, calibration label as lbfp eval prints it)
    ("MXINT8", "mxint8", "ocp"),
    ("MXFP8 E4M3", "mxfp8-e4m3", "ocp"),
    ("MXFP8 E5M2", "mxfp8-e5m2", "ocp"),
    ("FP8 E4M3, max", "fp8-e4m3", "max/max"),
    ("FP8 E4M3, percentile", "fp8-e4m3", "percentile/max"),
    ("FP8 E5M2, max", "fp8-e5m2", "max/max"),
    ("FP8 E5M2, percentile", "fp8-e5m2", "percentile/max"),
    ("INT8, max", "int8", "max/max"),
    ("INT8, percentile", "int8", "percentile/max"),
    ("LBFP8 KL", "lbfp8", "kl/max"),
    ("BFP8 KL", "bfp8", "kl/max"),
]
LINE = re.compile(r"^  (?P<label>\S+(?: \S+)?)\s+(?P<top1>\d+\.\d\d) %\s+(?P<diff>[+-]\d+\.\d\d) "
                  r"\[(?P<lo>[+-]\d+\.\d\d), (?P<hi>[+-]\d+\.\d\d)\]\s+(?P<b>\d+)/(?P<c>\d+)"
                  r"\s+\S+\s+(?P<overflows>\d+)$")


def run_name(model, images, what):
    return f"{model}-{what}" if images is None else f"{model}-{images}-{what}"


def commands(lbfp, runs, models):
    for model, data, _, calib, images in models:
        base = [lbfp, "eval", "--model", f"sim/models/{model}.onnx", "--data", data,
                "--threads", "1"]
        if images is not None:
            base += ["--test-images", str(images)]
        for what, args in [(f, ["--format", f, "--calib", calib]) for f in SCALED.split(",")] + \
                [("lbfp", ["--format", "lbfp8,bfp8"])]:
            name = run_name(model, images, what)
            yield name, base + args + ["--out", os.path.join(runs, name)]


def run(lbfp_cmd, path):
    if os.path.exists(path) and parse(path):
        return
    with open(path + ".part", "w") as out:
        subprocess.run(lbfp_cmd, stdout=out, check=True)
    os.replace(path + ".part", path)


def parse(path):
    """(images, fp32 top-1, {label: match}) of one saved report."""
    text = open(path).read()
    head = re.search(r"^top-1 on (\d+) test images", text, re.M)
    if not head:
        return None
    fp32 = re.search(r"^  fp32\s+(\d+\.\d\d) %$", text, re.M)
    rows = {}
    for line in text[head.end():].splitlines()[3:]:
        if not line.strip():
            break
        m = LINE.match(line)
        if not m:
            sys.exit(f"{path}: unexpected accuracy line {line!r}")
        rows[m["label"]] = m
    return int(head[1]), fp32[1], rows


def minus(s):
    return s.replace("-", "\u2212")


def main(argv):
    lbfp, jobs = "build/default/sim/lbfp", 1
    models = [m + (None,) for m in MODELS]
    while len(argv) >= 2 and argv[0] in ("--lbfp", "--jobs", "--models"):
        if argv[0] == "--lbfp":
            lbfp = argv[1]
        elif argv[0] == "--jobs":
            jobs = int(argv[1])
        else:
            known = {m[0]: m for m in MODELS}
            models = []
            for item in argv[1].split(","):
                name, _, images = item.partition(":")
                if name not in known:
                    sys.exit(f"--models: no model {name!r} (known: {', '.join(known)})")
                models.append(known[name] + (int(images) if images else None,))
        argv = argv[2:]
    if len(argv) != 1:
        sys.exit(__doc__)
    runs = argv[0]
    os.makedirs(runs, exist_ok=True)
    todo = [(name, cmd, os.path.join(runs, name + ".txt"))
            for name, cmd in commands(lbfp, runs, models)]
    with ThreadPoolExecutor(max_workers=jobs) as pool:  # the longest (the last models) first
        for done in [pool.submit(run, cmd, path) for _, cmd, path in reversed(todo)]:
            done.result()
    reports = {name: parse(path) for name, _, path in todo}

    header = ["format"]
    fp32 = ["FP32"]
    for model, _, title, _, images in models:
        seen = {reports[run_name(model, images, w)][:2] for w in SCALED.split(",") + ["lbfp"]}
        assert len(seen) == 1, f"{model}: the runs saw other images or another FP32 result"
        ((images, top1),) = seen
        header.append(f"{title}, {images} images")
        fp32.append(f"{top1} %")
    print("| " + " | ".join(header) + " |")
    print("|---" * len(header) + "|")
    print("| " + " | ".join(fp32) + " |")
    overflows = []
    for title, fmt, calib in ROWS:
        cells = [title]
        for model, _, _, _, images in models:
            name = run_name(model, images, "lbfp" if fmt in ("lbfp8", "bfp8") else fmt)
            m = reports[name][2].get(f"{fmt} {calib}")
            if m is None:
                cells.append("\u2014")
                continue
            cells.append(f"{m['top1']} % ({minus(m['diff'])} [{minus(m['lo'])}, "
                         f"{minus(m['hi'])}], {m['b']}/{m['c']})")
            if int(m["overflows"]):
                overflows.append(f"{title} on {model}: {m['overflows']}")
        print("| " + " | ".join(cells) + " |")
    print()
    if overflows:
        print("Saturating accumulator steps: " + "; ".join(overflows) + ".")
    else:
        print("No accumulator saturated in any of these runs.")


if __name__ == "__main__":
    main(sys.argv[1:])
