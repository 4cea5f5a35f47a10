"""Architecture simulations from Python: the `lbfp sim` program (model/arch, docs/simulator.md).

run(arch=..., workload=...) runs one simulation of the SystemC accelerator model through the
project's `lbfp` program and returns its per-layer report (layers.csv) and summary (summary.json)
as Python objects, and as a pandas DataFrame when pandas is installed, so that sweeps and plots
can be scripted:

    report = lbfp.sim.run(arch="configs/arch/lbfp8_16x16.yaml", workload="sim/workloads/lenet5.csv")
    for layer in report.layers:
        print(layer.layer, layer.total_cycles, layer.energy_total_pj)
    df = report.dataframe()   # pandas, if importable

The program is found as $LBFP_CLI, next to the package in a build tree (<build>/sim/lbfp), in the
install prefix (<prefix>/bin/lbfp), or on PATH.
"""

import csv
import json
import os
import shutil
import subprocess
import tempfile
from types import SimpleNamespace

__all__ = ["run", "SimReport", "cli_path"]


def cli_path():
    """The `lbfp` program this package runs (ValueError when there is none)."""
    here = os.path.dirname(os.path.abspath(__file__))
    candidates = [os.environ.get("LBFP_CLI"),
                  os.path.join(here, "..", "..", "sim", "lbfp"),
                  os.path.join(here, "..", "..", "..", "..", "bin", "lbfp"),
                  shutil.which("lbfp")]
    for c in candidates:
        if c and os.path.isfile(c) and os.access(c, os.X_OK):
            return os.path.normpath(c)
    raise ValueError("the lbfp program was not found (set LBFP_CLI, or build / install it)")


def _number(text):
    for kind in (int, float):
        try:
            return kind(text)
        except ValueError:
            pass
    return text


class SimReport:
    """One simulation: `layers` (a list of objects with the columns of layers.csv as attributes,
    one per format and layer), `rows` (the same as dicts), `summary` (summary.json as a dict)."""

    def __init__(self, rows, summary):
        self.rows = rows
        self.layers = [SimpleNamespace(**r) for r in rows]
        self.summary = summary

    def dataframe(self):
        """The per-layer rows as a pandas DataFrame (ImportError without pandas)."""
        import pandas
        return pandas.DataFrame(self.rows)

    def __repr__(self):
        return f"SimReport({len(self.rows)} layer rows)"


def run(arch=None, workload=None, fmt=None, mode=None, seed=None, overrides=(), timeout=None):
    """Runs `lbfp sim` and returns its SimReport.

    arch: an architecture YAML (None: the default arch); workload: a workload CSV, an ONNX model
    or a generator such as "gemm:64,64,64" (None: the default); fmt: lbfp8, bfp8, both or arch;
    mode: tile or cycle; overrides: "key=value" strings (--set). Bad input raises ValueError with
    the program's message.
    """
    cmd = [cli_path(), "sim", "--quiet", "--no-progress"]
    for flag, value in (("--arch", arch), ("--workload", workload), ("--format", fmt),
                        ("--mode", mode), ("--seed", seed)):
        if value is not None:
            cmd += [flag, str(value)]
    for o in overrides:
        cmd += ["--set", str(o)]
    with tempfile.TemporaryDirectory(prefix="lbfp-sim-") as out:
        done = subprocess.run(cmd + ["--out", out], capture_output=True, text=True,
                              timeout=timeout)
        if done.returncode != 0:
            raise ValueError(done.stderr.strip() or f"lbfp sim failed with status {done.returncode}")
        with open(os.path.join(out, "layers.csv"), newline="") as f:
            rows = [{k: _number(v) for k, v in r.items()} for r in csv.DictReader(f)]
        with open(os.path.join(out, "summary.json")) as f:
            summary = json.load(f)
    return SimReport(rows, summary)
