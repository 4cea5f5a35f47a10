#!/usr/bin/env python3
"""The comparison and accuracy tables of docs/formats.md ("Results") and the Pareto chart.

Usage: formats_table.py [--lbfp PATH] [--jobs N] [--models M[:IMAGES],...] [--run WHAT]
                        [--chart SVG] [--update MARKDOWN] RUNS_DIR

Inputs, all in RUNS_DIR:
- `lbfp eval` runs: per model, one evaluation on the whole test set for each section 13 format
  (FP8 and INT8 with the activation calibrations of MODELS below) and one for LBFP8 and BFP8
  with their default calibration (KL), each on one thread: `lbfp eval ... --threads 1 --out
  RUNS_DIR/<run>`, its standard output (the same from run to run) saved as RUNS_DIR/<run>.txt;
  on the models of FAMILY_MODELS also one for the LBFP family points of FAMILY (lbfp-family).
- `lbfp sim --format F --out RUNS_DIR/sim-F` for every format of COMPARE (ResNet-18, the
  default architecture): summary.json. A format `lbfp sim` refuses (exit status 2) leaves its
  message in RUNS_DIR/sim-F.refused instead.
- `lbfp synth` runs in RUNS_DIR/synth*/ (report.md): area and energy per operation of the
  multipliers, MACs and PEs (units mul mac pe of LBFP8 and BFP8, fmtmul fmtmac fmtpe of INT8,
  FP8 E4M3 and E5M2). Several runs are merged; a unit measured twice must agree.

--run picks what is run when missing, a comma list of eval, sim and synth, or none (default
eval,sim; synth takes about an hour): a run whose output already holds a finished report is not
repeated, so the tables are re-derived from saved runs; delete RUNS_DIR to recompute everything.
A refused sim is retried. Missing synthesis runs `lbfp synth --units <the missing units>
--layer-units none --ops 16384 --seed 1 --out RUNS_DIR/synth-<units>` (fmtpe only if this lbfp
offers it). --jobs runs that many evaluations at once (default 1).

Prints the comparison table with its sources, the accuracy table and the sentence on
accumulator saturation that follows it in formats.md. An input that is missing renders as a "not
measured" cell with the reason, is listed under the table, and is named on standard error.
--chart writes the Pareto chart (accuracy loss against energy per MAC) as an SVG file; --update
also writes the output into a Markdown file (docs/formats.md), between its lines BEGIN and END
below. --models picks the models (columns) and, after a colon, runs only the first IMAGES test
images of that model (default: every model of MODELS on its whole test set).
"""
import glob
import json
import math
import os
import re
import subprocess
from concurrent.futures import ThreadPoolExecutor
import sys

SCALED = "mxint8,mxfp8-e4m3,mxfp8-e5m2,fp8-e4m3,fp8-e5m2,int8"
MODELS = [  # (model, data set, title, runs of FP8 / INT8: (run name suffix, --calib))
    ("lenet5", "mnist", "lenet5 (MNIST)", (("", "max,percentile"),)),
    ("resnet10", "fashion-mnist", "resnet10 (Fashion-MNIST)",
     (("", "max"), ("-percentile", "percentile"))),
    ("mobilenet", "fashion-mnist", "mobilenet (Fashion-MNIST)",
     (("", "max"), ("-percentile", "percentile"))),
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
# The comparison, format by format: (row title, eval format and calibration label, synthesized
# units (multiplier, MAC, PE) and the format `lbfp synth` names their netlists by, the format
# whose stream gives the MAC's energy, `lbfp sim --format`). The MX formats use the multiplier,
# MAC and PE of their element type (the E8M0 scale and the FP32 sum across blocks are outside
# them: formats.md, "Multipliers and MACs in RTL"); their MAC energy is the MX-quantized
# stream's (an E8M0 scale per block of 32, one reduction per block).
COMPARE = [
    ("LBFP8", "lbfp8", "kl/max", ("mul", "mac", "pe"), "lbfp8", "lbfp8", "lbfp8"),
    ("BFP8", "bfp8", "kl/max", ("mul", "mac", "pe"), "bfp8", "bfp8", "bfp8"),
    ("INT8", "int8", "max/max", ("fmtmul", "fmtmac", "fmtpe"), "int8", "int8", "int8"),
    ("MXINT8", "mxint8", "ocp", ("fmtmul", "fmtmac", "fmtpe"), "int8", "mxint8", "mxint8"),
    ("FP8 E4M3", "fp8-e4m3", "max/max", ("fmtmul", "fmtmac", "fmtpe"), "fp8-e4m3", "fp8-e4m3",
     "fp8-e4m3"),
    ("FP8 E5M2", "fp8-e5m2", "max/max", ("fmtmul", "fmtmac", "fmtpe"), "fp8-e5m2", "fp8-e5m2",
     "fp8-e5m2"),
    ("MXFP8 E4M3", "mxfp8-e4m3", "ocp", ("fmtmul", "fmtmac", "fmtpe"), "fp8-e4m3", "mxfp8-e4m3",
     "mxfp8-e4m3"),
    ("MXFP8 E5M2", "mxfp8-e5m2", "ocp", ("fmtmul", "fmtmac", "fmtpe"), "fp8-e5m2", "mxfp8-e5m2",
     "mxfp8-e5m2"),
]
# The LBFP family (spec section 12; `lbfp eval --format lbfpWfF`, P = 8, A = 32): (row title,
# format). One `lbfp eval` run per model of FAMILY_MODELS, KL calibration as LBFP8; the family
# runs through the golden reference kernels (about a minute per format on LeNet-5 on one thread),
# so the larger models' family cells stay "not measured" until someone runs them. Their
# synthesis: `lbfp synth` units lbfpmul and lbfpmac (`--lbfp-points`; report.md rows name the
# format lbfpWfF); no PE of the family is synthesized (its cells read "not measured").
FAMILY = [("LBFP6 F=3", "lbfp6f3"), ("LBFP7 F=3", "lbfp7f3"), ("LBFP7 F=4", "lbfp7f4"),
          ("LBFP8 F=3", "lbfp8f3"), ("LBFP8 F=5", "lbfp8f5")]
FAMILY_MODELS = ("lenet5",)
ROWS += [(f"{title} KL", fmt, "kl/max") for title, fmt in FAMILY]
# No `lbfp sim` run of the family (None).
COMPARE += [(title, fmt, "kl/max", ("lbfpmul", "lbfpmac", "pe"), fmt, fmt, None)
            for title, fmt in FAMILY]
SYNTH_UNITS = ["mul", "mac", "pe", "fmtmul", "fmtmac", "fmtpe", "lbfpmul", "lbfpmac"]
SYNTH_ARGS = ["--layer-units", "none", "--ops", "16384", "--seed", "1"]
LINE = re.compile(r"^  (?P<label>\S+(?: \S+)?)\s+(?P<top1>\d+\.\d\d) %\s+(?P<diff>[+-]\d+\.\d\d) "
                  r"\[(?P<lo>[+-]\d+\.\d\d), (?P<hi>[+-]\d+\.\d\d)\]\s+(?P<b>\d+)/(?P<c>\d+)"
                  r"\s+\S+\s+(?P<overflows>\d+)$")


# --update FILE: the output replaces what is between these two lines of FILE.
BEGIN = "<!-- generated by docs/formats_table.py: begin -->\n"
END = "<!-- generated by docs/formats_table.py: end -->\n"


class InputError(Exception):
    """An input file that is there but not what it should be: file, line and what is wrong."""



def read_text(path):
    with open(path) as f:
        return f.read()

def run_name(model, images, what):
    return f"{model}-{what}" if images is None else f"{model}-{images}-{what}"


def eval_runs(model):
    """The run names (images left out) of one model: [(what, lbfp eval arguments)]."""
    (_, _, _, calibs) = model[:4]
    # MX takes no calibration: one run, whatever --calib says.
    return [(f + suffix, ["--format", f, "--calib", calib])
            for f in SCALED.split(",") for suffix, calib in calibs
            if not (f.startswith("mx") and suffix)] + [("lbfp", ["--format", "lbfp8,bfp8"])] + \
        ([("lbfp-family", ["--format", ",".join(fmt for _, fmt in FAMILY)])]
         if model[0] in FAMILY_MODELS else [])


def commands(lbfp, runs, models):
    for model in models:
        name0, data, images = model[0], model[1], model[4]
        base = [lbfp, "eval", "--model", f"sim/models/{name0}.onnx", "--data", data,
                "--threads", "1"]
        if images is not None:
            base += ["--test-images", str(images)]
        for what, args in eval_runs(model):
            name = run_name(name0, images, what)
            yield name, base + args + ["--out", os.path.join(runs, name)]


def run(lbfp_cmd, path):
    if os.path.exists(path) and parse(path):
        return
    with open(path + ".part", "w") as out:
        subprocess.run(lbfp_cmd, stdout=out, check=True)
    os.replace(path + ".part", path)


def parse(path):
    """(images, fp32 top-1, {label: match}) of one saved report, None if it is not finished."""
    if not os.path.exists(path):
        return None
    text = read_text(path)
    head = re.search(r"^top-1 on (\d+) test images", text, re.M)
    if not head:
        return None
    fp32 = re.search(r"^  fp32\s+(\d+\.\d\d) %$", text, re.M)
    if not fp32:
        raise InputError(f"{path}: no FP32 line after 'top-1 on'")
    rows = {}
    for line in text[head.end():].splitlines()[3:]:
        if not line.strip():
            break
        m = LINE.match(line)
        if not m:
            raise InputError(f"{path}: unexpected accuracy line {line!r}")
        rows[m["label"]] = m
    return int(head[1]), fp32[1], rows


def run_sims(lbfp, runs):
    for fmt in dict.fromkeys(row[6] for row in COMPARE if row[6] is not None):
        out = os.path.join(runs, f"sim-{fmt}")
        if os.path.exists(os.path.join(out, "summary.json")):
            continue
        done = subprocess.run([lbfp, "sim", "--format", fmt, "--quiet", "--no-progress",
                               "--out", out], stderr=subprocess.PIPE, text=True)
        refused = out + ".refused"
        if done.returncode == 2:
            with open(refused, "w") as f:
                f.write(done.stderr)
        elif done.returncode != 0:
            sys.exit(f"lbfp sim --format {fmt} failed (exit status {done.returncode}):\n"
                     f"{done.stderr}")
        elif os.path.exists(refused):
            os.remove(refused)


def read_sims(runs):
    """{format: (summary of that format, arch name, energy table name) or the refusal text}."""
    sims = {}
    for fmt in dict.fromkeys(row[6] for row in COMPARE if row[6] is not None):
        path = os.path.join(runs, f"sim-{fmt}", "summary.json")
        refused = os.path.join(runs, f"sim-{fmt}.refused")
        if os.path.exists(path):
            try:
                summary = json.loads(read_text(path))
                (only,) = summary["formats"].values()
                sims[fmt] = (only, summary["arch"]["name"], summary["energy_table"]["name"])
                only["energy_pj"]["total"], only["energy_per_mac_pj"]  # noqa: B018, the keys used
            except (ValueError, KeyError, TypeError) as e:
                raise InputError(f"{path}: not a one-format lbfp sim summary.json ({e!r})")
        elif os.path.exists(refused):
            sims[fmt] = read_text(refused).strip()
    return sims


def table_rows(path, text, first_header):
    """The rows of the Markdown table of `text` whose header starts with `first_header`, as
    dicts by column title; [] if there is none."""
    lines = text.splitlines()
    for i, line in enumerate(lines):
        if line.startswith(first_header):
            header = [c.strip() for c in line.strip().strip("|").split("|")]
            rows = []
            for n, row in enumerate(lines[i + 2:], start=i + 3):
                if not row.startswith("|"):
                    break
                cells = [c.strip() for c in row.strip().strip("|").split("|")]
                if len(cells) != len(header):
                    raise InputError(f"{path}:{n}: {len(cells)} cells, the header has "
                                     f"{len(header)}")
                rows.append(dict(zip(header, cells)))
            return rows
    return []


def number(path, unit, fmt, row, column):
    try:
        return float(row[column])
    except (KeyError, ValueError):
        raise InputError(f"{path}: unit {unit} {fmt}: column {column!r} is "
                         f"{row.get(column)!r}, not a number")


def read_synth(runs):
    """({(unit, format): {area_um2, zd_pj, timed_pj or None}}, [reproduce commands])."""
    units, commands_seen = {}, []
    for path in sorted(glob.glob(os.path.join(runs, "synth*", "report.md"))):
        text = read_text(path)
        reproduce = re.search(r"^Reproduce: `(lbfp synth [^`]*)`$", text, re.M)
        if not reproduce:
            raise InputError(f"{path}: no 'Reproduce: `lbfp synth ...`' line")
        # The command without the folders it wrote to.
        commands_seen.append(re.sub(r" --(out|work|source-dir) \S+", "", reproduce[1]))
        timed = {(r["unit"], r["format"]): r for r in
                 table_rows(path, text, "| unit | format | energy/op, layer, zero-delay (pJ) |")}
        main_rows = table_rows(path, text, "| unit | format | top |")
        if not main_rows:
            raise InputError(f"{path}: no unit table ('| unit | format | top |')")
        for r in main_rows:
            key = (r["unit"], r["format"])
            t = timed.get(key)
            cost = {"area_um2": number(path, *key, r, "area (um^2)"),
                    "zd_pj": number(path, *key, r, "energy/op, layer (pJ)"),
                    "timed_pj": None if t is None else
                    number(path, *key, t, "energy/op, layer, timed (pJ)")}
            if key in units and units[key] != cost:
                raise InputError(f"{path}: unit {key[0]} {key[1]} is {cost}, another synth "
                                 f"run under {runs} measured {units[key]}")
            units[key] = cost
    return units, commands_seen


def minus(s):
    return s.replace("-", "\u2212")


def accuracy_cell(m):
    return f"{m['top1']} % ({minus(m['diff'])} [{minus(m['lo'])}, {minus(m['hi'])}])"


def model_results(runs, model):
    """(images, FP32 top-1, {label: match}) merged over the runs of one model, or None."""
    name0, images = model[0], model[4]
    seen, rows = set(), {}
    for what, _ in eval_runs(model):
        r = parse(os.path.join(runs, run_name(name0, images, what) + ".txt"))
        if r is None:
            continue
        seen.add(r[:2])
        rows.update(r[2])
    if not seen:
        return None
    if len(seen) != 1:
        raise InputError(f"{runs}: the runs of {name0} saw other images or another FP32 result: "
                         f"{sorted(seen)}")
    ((n, top1),) = seen
    return n, top1, rows


def nice_ticks(lo, hi, count=5):
    """Round tick values (1, 2, 2.5 or 5 times a power of ten apart) covering [lo, hi]."""
    span = hi - lo if hi > lo else 1.0
    mag = 10.0 ** math.floor(math.log10(span / count))
    step = next(m * mag for m in (1, 2, 2.5, 5, 10) if span / (m * mag) <= count)
    first = math.floor(lo / step + 1e-9)
    last = math.ceil(hi / step - 1e-9)
    return [round(i * step, 10) for i in range(first, last + 1)]


def tick_label(v):
    s = f"{v:.10g}"
    return minus(s) if v < 0 else s


OFF_SCALE_POINTS = 20.0  # losses beyond this are named, not plotted


def pareto_svg(points_by_model):
    """One panel per model: accuracy loss (FP32 minus top-1, points, with the paired interval)
    against the zero-delay energy per MAC; the Pareto front (no other format both cheaper and
    more accurate) joined by a dashed line. points_by_model: [(title, [(format, pj, loss, lo,
    hi, top-1 as the table prints it)])]."""
    colors = ["#3b6fb6", "#e08a2c", "#4a9a4a", "#c0392b", "#8e44ad", "#7f6a4d", "#d35fa8",
              "#555555", "#17becf", "#bcbd22", "#1f3f7a", "#ff7f0e", "#2ca02c", "#9467bd"]
    names = list(dict.fromkeys(p[0] for _, pts in points_by_model for p in pts))
    color = {n: colors[i % len(colors)] for i, n in enumerate(names)}
    pw, ph, left, top, gap = 300, 240, 60, 104, 30
    width = left + len(points_by_model) * (pw + gap + left) - left + 10
    height = top + ph + 50

    def marker(name, cx, cy, c, title=None):
        """A circle for the formats, a square for the LBFP family's points ("F=" in the name)."""
        inner = f"<title>{title}</title>" if title else ""
        end = f">{inner}</rect>" if title else "/>"
        if "F=" in name:
            return (f'<rect x="{cx - 4:.1f}" y="{cy - 4:.1f}" width="8" height="8" fill="{c}"'
                    + end)
        return f'<circle cx="{cx:.1f}" cy="{cy:.1f}" r="4" fill="{c}"' + (
            f">{inner}</circle>" if title else "/>")
    out = [f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" '
           f'viewBox="0 0 {width} {height}" font-family="sans-serif" font-size="12">',
           '<rect width="100%" height="100%" fill="white"/>',
           '<text x="10" y="20" font-size="14" font-weight="bold">accuracy loss against '
           'energy per MAC (zero-delay)</text>']
    x, y = 15.0, 40.0
    for n in names:  # legend, in rows as wide as the panels
        if x + 24 + 7.5 * len(n) > width:
            x, y = 15.0, y + 18
        out.append(marker(n, x, y, color[n]) + f'<text x="{x + 8:.1f}" y="{y + 4:.1f}">{n}</text>')
        x += 24 + 7.5 * len(n)
    for k, (title, pts) in enumerate(points_by_model):
        x0 = left + k * (pw + gap + left)
        out.append(f'<text x="{x0}" y="{top - 14}" font-weight="bold">{title}</text>')
        if not pts:
            out.append(f'<text x="{x0 + 10}" y="{top + ph / 2:.1f}">not measured</text>')
            continue
        # A loss beyond OFF_SCALE_POINTS would squash the others: named above the panel instead.
        off = [p for p in pts if p[2] > OFF_SCALE_POINTS]
        pts = [p for p in pts if p[2] <= OFF_SCALE_POINTS]
        if off:
            out.append(f'<text x="{x0 + pw:.1f}" y="{top - 14}" text-anchor="end" font-size="11">'
                       "off scale: " + ", ".join(f"{p[0]} ({p[2]:.2f})" for p in off) +
                       "</text>")
        xs = [p[1] for p in pts]
        ys = [v for p in pts for v in (p[3], p[4])]
        xt = nice_ticks(min(xs) * 0.95, max(xs) * 1.05, 4)
        yt = nice_ticks(min(ys + [0.0]), max(ys + [0.0]), 5)

        def px(v):
            return x0 + (v - xt[0]) / (xt[-1] - xt[0]) * pw

        def py(v):
            return top + ph - (v - yt[0]) / (yt[-1] - yt[0]) * ph

        for t in yt:
            out.append(f'<line x1="{x0:.1f}" y1="{py(t):.1f}" x2="{x0 + pw:.1f}" y2="{py(t):.1f}"'
                       f' stroke="#e3e3e3"/><text x="{x0 - 4:.1f}" y="{py(t) + 4:.1f}" '
                       f'text-anchor="end">{tick_label(t)}</text>')
        for t in xt:
            out.append(f'<text x="{px(t):.1f}" y="{top + ph + 16:.1f}" text-anchor="middle">'
                       f'{tick_label(t)}</text>')
        out.append(f'<line x1="{x0:.1f}" y1="{py(0):.1f}" x2="{x0 + pw:.1f}" y2="{py(0):.1f}" '
                   'stroke="#999999" stroke-dasharray="2,2"/>')
        out.append(f'<line x1="{x0:.1f}" y1="{top:.1f}" x2="{x0:.1f}" y2="{top + ph:.1f}" '
                   'stroke="black"/>')
        out.append(f'<line x1="{x0:.1f}" y1="{top + ph:.1f}" x2="{x0 + pw:.1f}" '
                   f'y2="{top + ph:.1f}" stroke="black"/>')
        out.append(f'<text x="{x0 + pw / 2:.1f}" y="{top + ph + 34:.1f}" text-anchor="middle">'
                   'energy per MAC, zero-delay (pJ)</text>')
        yc = top + ph / 2
        out.append(f'<text x="{x0 - 44:.1f}" y="{yc:.1f}" text-anchor="middle" '
                   f'transform="rotate(-90 {x0 - 44:.1f} {yc:.1f})">loss to FP32 (points)</text>')
        front, best = [], None
        for p in sorted(pts, key=lambda p: (p[1], p[2])):
            if best is None or p[2] < best:
                front.append(p)
                best = p[2]
        if len(front) > 1:
            out.append('<polyline points="' + " ".join(f"{px(p[1]):.1f},{py(p[2]):.1f}"
                                                       for p in front) +
                       '" fill="none" stroke="#999999" stroke-dasharray="5,3"/>')
        for name, pj, loss, lo, hi, top1 in pts:
            c = color[name]
            out.append(f'<line x1="{px(pj):.1f}" y1="{py(lo):.1f}" x2="{px(pj):.1f}" '
                       f'y2="{py(hi):.1f}" stroke="{c}"/>')
            out.append(marker(name, px(pj), py(loss), c,
                              f"{name}: {pj:.2f} pJ, top-1 {top1}"))
    out.append("</svg>")
    return "\n".join(out) + "\n"


def marked(path):
    """(text of the Markdown file, offset of BEGIN, offset of END)."""
    page = read_text(path)
    begin, end = page.find(BEGIN), page.find(END)
    if begin < 0 or end < begin:
        raise InputError(f"{path}: no {BEGIN.strip()} ... {END.strip()} lines")
    return page, begin, end


def main(argv):
    lbfp, jobs, what, chart, update = "build/default/sim/lbfp", 1, {"eval", "sim"}, None, None
    models = [m + (None,) for m in MODELS]
    while len(argv) >= 2 and argv[0] in ("--lbfp", "--jobs", "--models", "--run", "--chart",
                                         "--update"):
        if argv[0] == "--lbfp":
            lbfp = argv[1]
        elif argv[0] == "--jobs":
            jobs = int(argv[1])
        elif argv[0] == "--run":
            what = set() if argv[1] == "none" else set(argv[1].split(","))
            if what - {"eval", "sim", "synth"}:
                sys.exit(f"--run: {argv[1]!r} is not a comma list of eval, sim, synth or none")
        elif argv[0] == "--chart":
            chart = argv[1]
        elif argv[0] == "--update":
            update = argv[1]
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
    try:
        if update:  # before anything runs: a file without the markers is an error
            marked(update)
        if "eval" in what:
            todo = [(cmd, os.path.join(runs, name + ".txt"))
                    for name, cmd in commands(lbfp, runs, models)]
            with ThreadPoolExecutor(max_workers=jobs) as pool:  # the longest (last models) first
                for done in [pool.submit(run, cmd, path) for cmd, path in reversed(todo)]:
                    done.result()
        if "sim" in what:
            run_sims(lbfp, runs)
        if "synth" in what:
            have = {unit for unit, _ in read_synth(runs)[0]}
            offered = subprocess.run([lbfp, "synth", "--help"], capture_output=True,
                                     text=True).stdout
            missing = [u for u in SYNTH_UNITS if u not in have]
            for u in missing:
                if not re.search(rf"\b{u}\b", offered):
                    print(f"formats_table.py: MISSING INPUT: {lbfp} synth does not offer "
                          f"--units {u}; its cells stay 'not measured'", file=sys.stderr)
            missing = [u for u in missing if re.search(rf"\b{u}\b", offered)]
            if missing:
                subprocess.run([lbfp, "synth", "--units", *missing, *SYNTH_ARGS, "--out",
                                os.path.join(runs, "synth-" + "-".join(missing))], check=True)
        out, missing = render(runs, models, chart)
        if update:  # the page as it is now: a run may have taken hours
            page, begin, end = marked(update)
            page = page[:begin + len(BEGIN)] + out + page[end:]
            with open(update + ".part", "w") as f:
                f.write(page)
            os.replace(update + ".part", update)
    except InputError as e:
        sys.exit(f"formats_table.py: {e}")
    except subprocess.CalledProcessError as e:
        sys.exit(f"formats_table.py: `{' '.join(e.cmd)}` failed (exit status {e.returncode}); "
                 "the runs before it are kept")
    except FileNotFoundError as e:
        sys.exit(f"formats_table.py: {e.filename}: {e.strerror}")
    sys.stdout.write(out)
    for line in missing:
        print(f"formats_table.py: MISSING INPUT: {line}", file=sys.stderr)


def render(runs, models, chart):
    """(the Markdown, [missing inputs]); writes the chart if `chart`."""
    lines = []
    missing = {}  # (what, reason): [row titles], in order of appearance

    def miss(what, reason, title):
        missing.setdefault((what, reason), []).append(title)

    results = {m[0]: model_results(runs, m) for m in models}
    synth, synth_commands = read_synth(runs)
    sims = read_sims(runs)

    def cost(unit, fmt, field, what, title):
        c = synth.get((unit, fmt))
        if c is None and fmt in dict(FAMILY).values():
            miss(what, f"no `{unit}` unit of that W and F in the `lbfp synth` runs "
                 "(synth*/report.md)", title)
            return None, f"not measured (no `{unit}` synthesis of {fmt})"
        if c is None and fmt.startswith("mx"):
            miss(what, f"no `{unit}` unit on the {fmt} stream in the `lbfp synth` runs "
                 "(synth*/report.md)", title)
            return None, f"not measured (no MX-stream `{unit}` synthesis)"
        if c is None:
            miss(what, f"no `{unit}` unit in the `lbfp synth` runs (synth*/report.md)", title)
            return None, f"not measured (no `{unit}` synthesis)"
        if c[field] is None:
            miss(what, f"the `lbfp synth` run of `{unit}` had no timed activity", title)
            return None, "not measured (no timed run)"
        return c[field], (f"{c[field]:.0f}" if field == "area_um2" else f"{c[field]:.2f}")

    header = ["format", "multiplier area (um^2)", "energy per MAC, zero-delay (pJ)",
              "energy per MAC, timed (pJ)", "PE area (um^2)"]
    for model in models:
        r = results[model[0]]
        fp32 = f"FP32 {r[1]} %" if r else "FP32 not measured"
        header.append(f"top-1, {model[0]} ({fp32}; diff [95 % CI])")
    header.append("ResNet-18, `lbfp sim` (uJ; pJ/MAC)")
    lines.append("| " + " | ".join(header) + " |")
    lines.append("|---|" + "---:|" * 4 + "---|" * (len(models) + 1))
    points = {m[0]: [] for m in models}
    for title, fmt, calib, (mul, mac, pe), synth_fmt, stream_fmt, sim_fmt in COMPARE:
        cells = [title]
        cells.append(cost(mul, synth_fmt, "area_um2", "multiplier area", title)[1])
        mac_pj, cell = cost(mac, stream_fmt, "zd_pj", "energy per MAC, zero-delay", title)
        cells.append(cell)
        cells.append(cost(mac, stream_fmt, "timed_pj", "energy per MAC, timed", title)[1])
        cells.append(cost(pe, synth_fmt, "area_um2", "PE area", title)[1])
        for model in models:
            r = results[model[0]]
            m = None if r is None else r[2].get(f"{fmt} {calib}")
            if m is None:
                miss(f"top-1 on {model[0]}", "no finished `lbfp eval` run", title)
                cells.append("not measured (no eval run)")
                continue
            cells.append(accuracy_cell(m))
            if mac_pj is not None:  # 0.0 - x: a loss of +0.00 is 0, not -0
                points[model[0]].append((title, mac_pj, 0.0 - float(m["diff"]),
                                         0.0 - float(m["hi"]), 0.0 - float(m["lo"]),
                                         accuracy_cell(m)))
        sim = sims.get(sim_fmt)
        if sim_fmt is None:
            miss("ResNet-18 energy", "no `lbfp sim` run of the LBFP family", title)
            cells.append("not measured (no sim run)")
        elif sim is None:
            miss("ResNet-18 energy", "no `lbfp sim` run (sim-F/summary.json)", title)
            cells.append("not measured (no sim run)")
        elif isinstance(sim, str):
            # One line for the formats refused with the same words.
            miss("ResNet-18 energy", "`lbfp sim --format F` refuses it: \"" +
                 sim.replace(sim_fmt, "F") + "\"", title)
            cells.append(f"not measured (`lbfp sim` refuses {sim_fmt})")
        else:
            cells.append(f"{sim[0]['energy_pj']['total'] / 1e6:.1f}; "
                         f"{sim[0]['energy_per_mac_pj']:.3f}")
        lines.append("| " + " | ".join(cells) + " |")
    lines.append("")
    lines.append("Sources (each number is from these runs; `python3 docs/formats_table.py` "
                 "runs them when missing):")
    lines.append("")
    for c in synth_commands:
        lines.append(f"- area and energy per MAC: `{c}`")
    archs = sorted({(s[1], s[2]) for s in sims.values() if not isinstance(s, str)})
    for arch, energy in archs:
        lines.append(f"- ResNet-18: `lbfp sim --format F` (arch `{arch}`, energy table "
                     f"`{energy}`)")
    lines.append("- top-1: the `lbfp eval` runs of the accuracy table below (FP8 and INT8: max "
                 "calibration)")
    lines.append("- the MX rows have the multiplier, MAC and PE of their element type, the MAC's "
                 "energy on the MX-quantized stream (an E8M0 scale per block of 32); the E8M0 "
                 "scale hardware and the FP32 sum across blocks are not in them")
    if missing:
        lines.append("")
        lines.append("Not measured:")
        lines.append("")
        lines.extend(f"- {what} of {', '.join(titles)}: {reason}"
                     for (what, reason), titles in missing.items())
    lines.append("")

    header, fp32 = ["format"], ["FP32"]
    for model in models:
        r = results[model[0]]
        header.append(f"{model[2]}, {r[0] if r else 'no'} images")
        fp32.append(f"{r[1]} %" if r else "not measured (no eval run)")
    lines.append("| " + " | ".join(header) + " |")
    lines.append("|---" * len(header) + "|")
    lines.append("| " + " | ".join(fp32) + " |")
    overflows = []
    for title, fmt, calib in ROWS:
        cells = [title]
        for model in models:
            r = results[model[0]]
            m = None if r is None else r[2].get(f"{fmt} {calib}")
            if m is None:
                cells.append("not measured (no eval run)")
                continue
            cells.append(accuracy_cell(m)[:-1] + f", {m['b']}/{m['c']})")
            if int(m["overflows"]):
                overflows.append(f"{title} on {model[0]}: {m['overflows']}")
        lines.append("| " + " | ".join(cells) + " |")
    lines.append("")
    if overflows:
        lines.append("Saturating accumulator steps: " + "; ".join(overflows) + ".")
    else:
        lines.append("No accumulator saturated in any of these runs.")
    if chart:
        svg = pareto_svg([(m[2], points[m[0]]) for m in models])
        with open(chart + ".part", "w") as f:
            f.write(svg)
        os.replace(chart + ".part", chart)
    return "\n".join(lines) + "\n", [f"{what} of {', '.join(titles)}: {reason}"
                                      for (what, reason), titles in missing.items()]


if __name__ == "__main__":
    main(sys.argv[1:])
