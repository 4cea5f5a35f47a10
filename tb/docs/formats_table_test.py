#!/usr/bin/env python3
"""docs/formats_table.py on hand-written runs: the comparison and accuracy tables, the "not
measured" cells with their reasons, the Pareto chart and the errors on bad input. Every
expected cell is written by hand from the fixture below, not computed by the script.

Usage: formats_table_test.py PATH/TO/docs/formats_table.py
"""
import contextlib
import importlib.util
import io
import os
import re
import sys
import tempfile
import unittest

SCRIPT = None  # the module docs/formats_table.py, loaded from the path in argv


def eval_report(rows, images=100, fp32="98.00"):
    """The part of `lbfp eval`'s standard output that the script reads."""
    return ("model sim/models/lenet5.onnx: 7 layers\n\n"
            f"top-1 on {images} test images (difference to FP32: paired, 95 % Wald interval)\n"
            "  format                top-1   diff to fp32 [95 % CI] (pp)        b/c        p"
            "  acc. overflows\n"
            f"  fp32                {fp32} %\n" + "".join(f"  {r}\n" for r in rows) +
            "\nper-layer SQNR of each layer's output against FP32 (dB), test images:\n")


EVALS = {
    "lenet5-lbfp": [
        "lbfp8 kl/max        97.00 %         -1.00 [-2.50, +0.50]        1/2    0.500  0",
        "bfp8 kl/max         98.00 %         +0.00 [-1.00, +1.00]        3/3    1.000  4"],
    "lenet5-int8": [
        "int8 max/max        96.50 %         -1.50 [-3.00, +0.00]        2/5    0.250  0",
        "int8 percentile/max 97.50 %         -0.50 [-1.00, +0.00]        1/1    1.000  0"],
    "lenet5-mxint8": [
        "mxint8 ocp          98.00 %         +0.00 [-0.10, +0.10]        0/0    1.000  0"],
    "lenet5-fp8-e4m3": [
        "fp8-e4m3 max/max    95.00 %         -3.00 [-4.00, -2.00]        0/3    0.100  0"],
    # Two points of the LBFP family, one of them saturating.
    "lenet5-lbfp-family": [
        "lbfp7f3 kl/max      97.50 %         -0.50 [-1.50, +0.50]        2/3    0.500  0",
        "lbfp8f3 kl/max      12.00 %        -86.00 [-90.00, -82.00]     1/87    0.000  123"],
}
UNIT_HEADER = ("| unit | format | top | cells | area (um^2) | transistors (cmos) | "
               "energy/op, layer (pJ) | energy/op, uniform (pJ) | power, layer (mW) | "
               "leakage (nW) |\n"
               "|---|---|---|---:|---:|---:|---:|---:|---:|---:|\n")
TIMED_HEADER = ("| unit | format | energy/op, layer, zero-delay (pJ) | "
                "energy/op, layer, timed (pJ) | timed / zero-delay |\n|---|---|---:|---:|---:|\n")
SYNTH_A = ("# hardware cost\n\n" + UNIT_HEADER +
           "| mul | lbfp8 | lbfp_mul_unit | 1 | 5084 | 1 | 5.1681 | 7.0 | 0.5 | 9.6 |\n"
           "| mac | lbfp8 | lbfp_mac | 1 | 25078 | 1 | 23.6034 | 1 | 1 | 1 |\n"
           "| mul | bfp8 | bfp_mul | 1 | 13241 | 1 | 10.1438 | 1 | 1 | 1 |\n"
           "| mac | bfp8 | bfp_mac | 1 | 29593 | 1 | 26.0408 | 1 | 1 | 1 |\n"
           "| fmtmul | int8 | bfp_mul | 1 | 13241 | 1 | 10.3335 | 1 | 1 | 1 |\n"
           "| fmtmac | int8 | bfp_mac | 1 | 29593 | 1 | 26.6080 | 1 | 1 | 1 |\n"
           "| fmtmul | fp8-e4m3 | fp8e4m3_mul | 1 | 10893 | 1 | 8.6889 | 1 | 1 | 1 |\n"
           "| fmtmac | fp8-e4m3 | fp8e4m3_mac | 1 | 30680 | 1 | 24.9611 | 1 | 1 | 1 |\n"
           "| fmtmac | mxint8 | bfp_mac | 1 | 29593 | 1 | 29.0886 | 1 | 1 | 1 |\n"
           "\n## Timed\n\n" + TIMED_HEADER +
           "| mac | lbfp8 | 23.6034 | 46.3091 | 1.9x |\n"
           "| mac | bfp8 | 26.0408 | 43.4574 | 1.6x |\n"
           "| fmtmac | int8 | 26.6080 | 43.7508 | 1.6x |\n"
           "| fmtmac | mxint8 | 29.0886 | 48.3614 | 1.7x |\n"
           "\nReproduce: `lbfp synth --units mul mac fmtmul fmtmac --out /x/synth-a --work /w`\n")
# A second run: the PEs, LBFP8's multiplier again (the same figures), and LBFP7 F=3's.
SYNTH_B = ("# hardware cost\n\n" + UNIT_HEADER +
           "| mul | lbfp8 | lbfp_mul_unit | 1 | 5084 | 1 | 5.1681 | 7.0 | 0.5 | 9.6 |\n"
           "| lbfpmul | lbfp7f3 | lbfp_mul_unit | 1 | 3000 | 1 | 3.5 | 1 | 1 | 1 |\n"
           "| pe | lbfp8 | lbfp_pe | 1 | 31088 | 1 | 28.8 | 1 | 1 | 1 |\n"
           "| pe | bfp8 | bfp_pe | 1 | 37591 | 1 | 33.2 | 1 | 1 | 1 |\n"
           "\nReproduce: `lbfp synth --units mul pe --source-dir /s --out /x/synth-b`\n")


def summary(fmt, total_pj, per_mac_pj):
    return ('{"arch": {"name": "a16", "rows": 16}, "energy_table": {"name": "e45"}, '
            f'"formats": {{"{fmt}": {{"energy_pj": {{"total": {total_pj}}}, '
            f'"energy_per_mac_pj": {per_mac_pj}}}}}}}')


def write(path, text):
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with open(path, "w") as f:
        f.write(text)


def fixture(runs):
    for name, rows in EVALS.items():
        write(os.path.join(runs, name + ".txt"), eval_report(rows))
    # An unfinished run: no accuracy yet.
    write(os.path.join(runs, "lenet5-fp8-e5m2.txt"), "model sim/models/lenet5.onnx\n")
    write(os.path.join(runs, "synth-a", "report.md"), SYNTH_A)
    write(os.path.join(runs, "synth-b", "report.md"), SYNTH_B)
    write(os.path.join(runs, "sim-lbfp8", "summary.json"), summary("lbfp8", 5159531566.5, 2.8441))
    write(os.path.join(runs, "sim-bfp8", "summary.json"), summary("bfp8", 5200849000.0, 2.8666))
    write(os.path.join(runs, "sim-int8.refused"), "lbfp sim: --format int8: no such format int8\n")


EXPECTED = """\
| format | multiplier area (um^2) | energy per MAC, zero-delay (pJ) | energy per MAC, timed (pJ) \
| PE area (um^2) | top-1, lenet5 (FP32 98.00 %; diff [95 % CI]) \
| ResNet-18, `lbfp sim` (uJ; pJ/MAC) |
|---|---:|---:|---:|---:|---|---|
| LBFP8 | 5084 | 23.60 | 46.31 | 31088 | 97.00 % (−1.00 [−2.50, +0.50]) | 5159.5; 2.844 |
| BFP8 | 13241 | 26.04 | 43.46 | 37591 | 98.00 % (+0.00 [−1.00, +1.00]) | 5200.8; 2.867 |
| INT8 | 13241 | 26.61 | 43.75 | not measured (no `fmtpe` synthesis) \
| 96.50 % (−1.50 [−3.00, +0.00]) | not measured (`lbfp sim` refuses int8) |
| MXINT8 | 13241 | 29.09 | 48.36 | not measured (no `fmtpe` synthesis) \
| 98.00 % (+0.00 [−0.10, +0.10]) | not measured (no sim run) |
| FP8 E4M3 | 10893 | 24.96 | not measured (no timed run) | not measured (no `fmtpe` synthesis) \
| 95.00 % (−3.00 [−4.00, −2.00]) | not measured (no sim run) |
| FP8 E5M2 | not measured (no `fmtmul` synthesis) | not measured (no `fmtmac` synthesis) \
| not measured (no `fmtmac` synthesis) | not measured (no `fmtpe` synthesis) \
| not measured (no eval run) | not measured (no sim run) |
| MXFP8 E4M3 | 10893 | not measured (no MX-stream `fmtmac` synthesis) \
| not measured (no MX-stream `fmtmac` synthesis) | not measured (no `fmtpe` synthesis) \
| not measured (no eval run) | not measured (no sim run) |
| MXFP8 E5M2 | not measured (no `fmtmul` synthesis) | not measured (no MX-stream `fmtmac` \
synthesis) | not measured (no MX-stream `fmtmac` synthesis) | not measured (no `fmtpe` synthesis) \
| not measured (no eval run) | not measured (no sim run) |
| LBFP6 F=3 | not measured (no `lbfpmul` synthesis of lbfp6f3) \
| not measured (no `lbfpmac` synthesis of lbfp6f3) | not measured (no `lbfpmac` synthesis of \
lbfp6f3) | not measured (no `pe` synthesis of lbfp6f3) \
| not measured (no eval run) | not measured (no sim run) |
| LBFP7 F=3 | 3000 | not measured (no `lbfpmac` synthesis of lbfp7f3) \
| not measured (no `lbfpmac` synthesis of lbfp7f3) | not measured (no `pe` synthesis of lbfp7f3) \
| 97.50 % (−0.50 [−1.50, +0.50]) | not measured (no sim run) |
| LBFP7 F=4 | not measured (no `lbfpmul` synthesis of lbfp7f4) \
| not measured (no `lbfpmac` synthesis of lbfp7f4) | not measured (no `lbfpmac` synthesis of \
lbfp7f4) | not measured (no `pe` synthesis of lbfp7f4) \
| not measured (no eval run) | not measured (no sim run) |
| LBFP8 F=3 | not measured (no `lbfpmul` synthesis of lbfp8f3) \
| not measured (no `lbfpmac` synthesis of lbfp8f3) | not measured (no `lbfpmac` synthesis of \
lbfp8f3) | not measured (no `pe` synthesis of lbfp8f3) \
| 12.00 % (−86.00 [−90.00, −82.00]) | not measured (no sim run) |
| LBFP8 F=5 | not measured (no `lbfpmul` synthesis of lbfp8f5) \
| not measured (no `lbfpmac` synthesis of lbfp8f5) | not measured (no `lbfpmac` synthesis of \
lbfp8f5) | not measured (no `pe` synthesis of lbfp8f5) \
| not measured (no eval run) | not measured (no sim run) |

Sources (each number is from these runs; `python3 docs/formats_table.py` runs them when missing):

- area and energy per MAC: `lbfp synth --units mul mac fmtmul fmtmac`
- area and energy per MAC: `lbfp synth --units mul pe`
- ResNet-18: `lbfp sim --format F` (arch `a16`, energy table `e45`)
- top-1: the `lbfp eval` runs of the accuracy table below (FP8 and INT8: max calibration)
- the MX rows have the multiplier, MAC and PE of their element type, the MAC's energy on the \
MX-quantized stream (an E8M0 scale per block of 32); the E8M0 scale hardware and the FP32 sum \
across blocks are not in them

Not measured:

- PE area of INT8, MXINT8, FP8 E4M3, FP8 E5M2, MXFP8 E4M3, MXFP8 E5M2: no `fmtpe` unit in the \
`lbfp synth` runs (synth*/report.md)
- ResNet-18 energy of INT8: `lbfp sim --format F` refuses it: \
"lbfp sim: --format F: no such format F"
- ResNet-18 energy of MXINT8, FP8 E4M3, FP8 E5M2, MXFP8 E4M3, MXFP8 E5M2: no `lbfp sim` run \
(sim-F/summary.json)
- energy per MAC, timed of FP8 E4M3: the `lbfp synth` run of `fmtmac` had no timed activity
- multiplier area of FP8 E5M2, MXFP8 E5M2: no `fmtmul` unit in the `lbfp synth` runs \
(synth*/report.md)
- energy per MAC, zero-delay of FP8 E5M2: no `fmtmac` unit in the `lbfp synth` runs \
(synth*/report.md)
- energy per MAC, timed of FP8 E5M2: no `fmtmac` unit in the `lbfp synth` runs (synth*/report.md)
- top-1 on lenet5 of FP8 E5M2, MXFP8 E4M3, MXFP8 E5M2, LBFP6 F=3, LBFP7 F=4, LBFP8 F=5: no \
finished `lbfp eval` run
- energy per MAC, zero-delay of MXFP8 E4M3: no `fmtmac` unit on the mxfp8-e4m3 stream in the \
`lbfp synth` runs (synth*/report.md)
- energy per MAC, timed of MXFP8 E4M3: no `fmtmac` unit on the mxfp8-e4m3 stream in the \
`lbfp synth` runs (synth*/report.md)
- energy per MAC, zero-delay of MXFP8 E5M2: no `fmtmac` unit on the mxfp8-e5m2 stream in the \
`lbfp synth` runs (synth*/report.md)
- energy per MAC, timed of MXFP8 E5M2: no `fmtmac` unit on the mxfp8-e5m2 stream in the \
`lbfp synth` runs (synth*/report.md)
- multiplier area of LBFP6 F=3, LBFP7 F=4, LBFP8 F=3, LBFP8 F=5: no `lbfpmul` unit of that W and F \
in the `lbfp synth` runs (synth*/report.md)
- energy per MAC, zero-delay of LBFP6 F=3, LBFP7 F=3, LBFP7 F=4, LBFP8 F=3, LBFP8 F=5: no \
`lbfpmac` unit of that W and F in the `lbfp synth` runs (synth*/report.md)
- energy per MAC, timed of LBFP6 F=3, LBFP7 F=3, LBFP7 F=4, LBFP8 F=3, LBFP8 F=5: no `lbfpmac` \
unit of that W and F in the `lbfp synth` runs (synth*/report.md)
- PE area of LBFP6 F=3, LBFP7 F=3, LBFP7 F=4, LBFP8 F=3, LBFP8 F=5: no `pe` unit of that W and F \
in the `lbfp synth` runs (synth*/report.md)
- ResNet-18 energy of LBFP6 F=3, LBFP7 F=3, LBFP7 F=4, LBFP8 F=3, LBFP8 F=5: no `lbfp sim` run of \
the LBFP family

| format | lenet5 (MNIST), 100 images |
|---|---|
| FP32 | 98.00 % |
| MXINT8 | 98.00 % (+0.00 [−0.10, +0.10], 0/0) |
| MXFP8 E4M3 | not measured (no eval run) |
| MXFP8 E5M2 | not measured (no eval run) |
| FP8 E4M3, max | 95.00 % (−3.00 [−4.00, −2.00], 0/3) |
| FP8 E4M3, percentile | not measured (no eval run) |
| FP8 E5M2, max | not measured (no eval run) |
| FP8 E5M2, percentile | not measured (no eval run) |
| INT8, max | 96.50 % (−1.50 [−3.00, +0.00], 2/5) |
| INT8, percentile | 97.50 % (−0.50 [−1.00, +0.00], 1/1) |
| LBFP8 KL | 97.00 % (−1.00 [−2.50, +0.50], 1/2) |
| BFP8 KL | 98.00 % (+0.00 [−1.00, +1.00], 3/3) |
| LBFP6 F=3 KL | not measured (no eval run) |
| LBFP7 F=3 KL | 97.50 % (−0.50 [−1.50, +0.50], 2/3) |
| LBFP7 F=4 KL | not measured (no eval run) |
| LBFP8 F=3 KL | 12.00 % (−86.00 [−90.00, −82.00], 1/87) |
| LBFP8 F=5 KL | not measured (no eval run) |

Saturating accumulator steps: BFP8 KL on lenet5: 4; LBFP8 F=3 KL on lenet5: 123.
"""


class Done:
    """What one run of the script did: returncode, stdout, stderr."""

    def __init__(self, returncode, stdout, stderr):
        self.returncode, self.stdout, self.stderr = returncode, stdout, stderr


def render(runs, *extra):
    """The script's main() on `runs` with nothing to run, in this process (no interpreter
    start per call, so the test stays well under its time budget)."""
    out, err, code = io.StringIO(), io.StringIO(), 0
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        try:
            SCRIPT.main(["--run", "none", "--models", "lenet5", *extra, runs])
        except SystemExit as e:  # sys.exit(message): status 1, the message on stderr
            code = e.code if isinstance(e.code, int) else 1
            if isinstance(e.code, str):
                print(e.code, file=sys.stderr)
    return Done(code, out.getvalue(), err.getvalue())


def read(path):
    with open(path) as f:
        return f.read()


class FormatsTable(unittest.TestCase):
    def setUp(self):
        self.tmp = tempfile.TemporaryDirectory()
        self.runs = os.path.join(self.tmp.name, "runs")
        fixture(self.runs)

    def tearDown(self):
        self.tmp.cleanup()

    def test_tables_and_missing_inputs(self):
        chart = os.path.join(self.tmp.name, "pareto.svg")
        done = render(self.runs, "--chart", chart)
        self.assertEqual(done.returncode, 0, done.stderr)
        self.assertEqual(done.stdout, EXPECTED)
        # Each missing input is named on standard error, loudly.
        loud = [line for line in done.stderr.splitlines() if "MISSING INPUT" in line]
        self.assertEqual(len(loud), 17, done.stderr)
        self.assertIn("formats_table.py: MISSING INPUT: top-1 on lenet5 of FP8 E5M2, MXFP8 E4M3, "
                      "MXFP8 E5M2, LBFP6 F=3, LBFP7 F=4, LBFP8 F=5: no finished `lbfp eval` run",
                      loud)
        # Again from the same runs: the same bytes, the same chart.
        svg = read(chart)
        again = render(self.runs, "--chart", chart)
        self.assertEqual(again.stdout, EXPECTED)
        self.assertEqual(read(chart), svg)

    def test_chart(self):
        chart = os.path.join(self.tmp.name, "pareto.svg")
        self.assertEqual(render(self.runs, "--chart", chart).returncode, 0)
        svg = read(chart)
        self.assertTrue(svg.startswith('<svg xmlns="http://www.w3.org/2000/svg"'))
        self.assertTrue(svg.endswith("</svg>\n"))
        # The five formats with both a MAC energy and a top-1, nothing made up for the others.
        titles = re.findall(r"<title>([^<]*)</title>", svg)
        self.assertEqual(titles, [
            "LBFP8: 23.60 pJ, top-1 97.00 % (−1.00 [−2.50, +0.50])",
            "BFP8: 26.04 pJ, top-1 98.00 % (+0.00 [−1.00, +1.00])",
            "INT8: 26.61 pJ, top-1 96.50 % (−1.50 [−3.00, +0.00])",
            "MXINT8: 29.09 pJ, top-1 98.00 % (+0.00 [−0.10, +0.10])",
            "FP8 E4M3: 24.96 pJ, top-1 95.00 % (−3.00 [−4.00, −2.00])"])
        # The Pareto front: LBFP8 (cheapest) and BFP8 (no loss); FP8 E4M3 costs more than LBFP8
        # and loses more, INT8 and MXINT8 cost more than BFP8 and lose no less.
        (front,) = re.findall(r'<polyline points="([^"]*)"', svg)
        self.assertEqual(len(front.split()), 2)
        circles = re.findall(r'<circle cx="([\d.]+)" cy="([\d.]+)" r="4" fill="[^"]*"><title>'
                             r'(\w+)', svg)
        at = {name: f"{x},{y}" for x, y, name in circles}
        self.assertEqual(front.split(), [at["LBFP8"], at["BFP8"]])

    def test_update_writes_between_the_markers(self):
        page = os.path.join(self.tmp.name, "formats.md")
        write(page, "# Formats\n\nbefore\n<!-- generated by docs/formats_table.py: begin -->\n"
                    "an old table\n<!-- generated by docs/formats_table.py: end -->\nafter\n")
        done = render(self.runs, "--update", page)
        self.assertEqual(done.returncode, 0, done.stderr)
        self.assertEqual(read(page), "# Formats\n\nbefore\n"
                         "<!-- generated by docs/formats_table.py: begin -->\n" + EXPECTED +
                         "<!-- generated by docs/formats_table.py: end -->\nafter\n")
        again = render(self.runs, "--update", page)  # the same page again
        self.assertEqual(again.returncode, 0, again.stderr)
        self.assertEqual(read(page).count(EXPECTED), 1)

    def test_update_of_a_page_without_markers(self):
        page = os.path.join(self.tmp.name, "formats.md")
        write(page, "# Formats\n\nno markers\n")
        chart = os.path.join(self.tmp.name, "pareto.svg")
        done = render(self.runs, "--update", page, "--chart", chart)
        self.assertNotEqual(done.returncode, 0)
        self.assertIn(f"{page}: no <!-- generated by docs/formats_table.py: begin --> ...",
                      done.stderr)
        self.assertEqual(done.stdout, "")
        self.assertEqual(read(page), "# Formats\n\nno markers\n")
        self.assertFalse(os.path.exists(chart))

    def test_bad_eval_line(self):
        path = os.path.join(self.runs, "lenet5-int8.txt")
        write(path, eval_report(["int8 max/max        ninety %"]))
        chart = os.path.join(self.tmp.name, "pareto.svg")
        done = render(self.runs, "--chart", chart)
        self.assertNotEqual(done.returncode, 0)
        self.assertIn(f"{path}: unexpected accuracy line", done.stderr)
        self.assertEqual(done.stdout, "")
        self.assertFalse(os.path.exists(chart))

    def test_synth_runs_that_disagree(self):
        write(os.path.join(self.runs, "synth-c", "report.md"), SYNTH_B.replace("31088", "31089"))
        done = render(self.runs)
        self.assertNotEqual(done.returncode, 0)
        self.assertIn("synth-c/report.md: unit pe lbfp8", done.stderr)
        self.assertEqual(done.stdout, "")

    def test_synth_report_without_its_command(self):
        write(os.path.join(self.runs, "synth-b", "report.md"), SYNTH_B.split("\nReproduce")[0])
        done = render(self.runs)
        self.assertNotEqual(done.returncode, 0)
        self.assertIn("synth-b/report.md: no 'Reproduce: `lbfp synth ...`' line", done.stderr)

    def test_bad_number_in_synth_report(self):
        write(os.path.join(self.runs, "synth-b", "report.md"), SYNTH_B.replace("37591", "n/a"))
        done = render(self.runs)
        self.assertNotEqual(done.returncode, 0)
        self.assertIn("synth-b/report.md: unit pe bfp8: column 'area (um^2)' is 'n/a'",
                      done.stderr)

    def test_bad_sim_summary(self):
        write(os.path.join(self.runs, "sim-bfp8", "summary.json"), '{"formats": {}}')
        done = render(self.runs)
        self.assertNotEqual(done.returncode, 0)
        self.assertIn("sim-bfp8/summary.json: not a one-format lbfp sim summary.json",
                      done.stderr)


if __name__ == "__main__":
    sys.dont_write_bytecode = True  # nothing written next to the script under test
    spec = importlib.util.spec_from_file_location("formats_table", sys.argv.pop(1))
    SCRIPT = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(SCRIPT)
    unittest.main()
