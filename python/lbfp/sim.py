"""Architecture simulations from Python: the SystemC accelerator model (model/arch,
docs/architecture-model.md) in this process.

run(arch=..., workload=...) runs one simulation through the same C++ function as `lbfp sim`
(lbfp/arch/simulate.h, linked into the extension lbfp._sim) and returns its per-layer report
(the text of layers.csv) and summary (summary.json), rendered by the same C++ code as the files
`lbfp sim --out` writes, as Python objects, and as a pandas DataFrame when pandas is installed,
so that sweeps and plots can be scripted:

    report = lbfp.sim.run(arch="configs/arch/lbfp8_16x16.yaml", workload="sim/workloads/lenet5.csv")
    for layer in report.layers:
        print(layer.layer, layer.total_cycles, layer.energy_total_pj)
    df = report.dataframe()   # pandas, if importable

Calls may follow each other in one process (each simulation gets a fresh SystemC context); calls
from several threads run one at a time, with the GIL released.
"""

import csv
import io
import json
import os
import warnings
from types import SimpleNamespace

from . import _sim

__all__ = ["run", "SimReport"]


def _number(text):
    for kind in (int, float):
        try:
            return kind(text)
        except ValueError:
            pass
    return text


class SimReport:
    """One simulation: `layers` (a list of objects with the columns of layers.csv as attributes,
    one per format and layer), `rows` (the same as dicts), `summary` (summary.json as a dict),
    `layers_csv` and `summary_json` (the texts `lbfp sim --out` writes, byte for byte), and the
    wall time of the data, of the simulation proper and of the whole call, and the CPU time the
    data's threads took (`seconds`: "data", "simulation", "wall", "data_cpu")."""

    def __init__(self, layers_csv, summary_json, seconds=None):
        self.layers_csv = layers_csv
        self.summary_json = summary_json
        self.rows = [{k: _number(v) for k, v in r.items()}
                     for r in csv.DictReader(io.StringIO(layers_csv, newline=""))]
        self.layers = [SimpleNamespace(**r) for r in self.rows]
        self.summary = json.loads(summary_json)
        self.seconds = seconds or {}

    def dataframe(self):
        """The per-layer rows as a pandas DataFrame (ImportError without pandas)."""
        import pandas
        return pandas.DataFrame(self.rows)

    def __repr__(self):
        return f"SimReport({len(self.rows)} layer rows)"


def run(arch=None, workload=None, fmt=None, mode=None, seed=None, overrides=(), dataflow=None,
        best_by=None, array=None, im2col=None, energy=None, trace=None, trace_window=None,
        rtl_cache=None, direct=False):
    """One simulation, as `lbfp sim` with the same options runs it; returns a SimReport.

    arch: an architecture YAML or SCALE-Sim .cfg (None: the embedded default,
    configs/arch/lbfp8_16x16.yaml); workload: a topology CSV, an ONNX model or "gemm:M,N,K"
    (None: ResNet-18); fmt: lbfp8, bfp8, both (default), arch, or a format of spec section 13
    (mxint8, mxfp8-e4m3, mxfp8-e5m2, fp8-e4m3, fp8-e5m2, int8; docs/formats.md); mode: tile or
    cycle;
    overrides: "key=value" strings (--set); dataflow: os, ws, is or best (best_by: cycles or
    energy); array: cpp or rtl; im2col: chip or host; energy: an energy table YAML; trace: a
    waveform file; direct: True for the host's direct path instead of the device driver.
    Warnings about the inputs (a SCALE-Sim .cfg's unmapped keys) are issued as UserWarning.
    Bad input raises ValueError with `lbfp sim`'s message; a simulation that stops early
    raises RuntimeError.
    """
    if isinstance(overrides, str):
        raise ValueError(f"overrides must be a list of 'key=value' strings, not {overrides!r}")
    if seed is not None and (isinstance(seed, bool) or not isinstance(seed, int)
                             or not 0 <= seed < 2**64):
        raise ValueError(f"seed must be an integer in [0, 2^64), not {seed!r}")
    def text(value):  # a str or path-like option; None: the default
        return "" if value is None else os.fspath(value)

    done = _sim.simulate(arch=text(arch), workload=text(workload), format=fmt or "both",
                         mode=mode or "", array=array or "cpp", dataflow=dataflow or "",
                         best_by=best_by or "cycles", im2col=im2col or "chip",
                         energy=text(energy), seed=1 if seed is None else seed,
                         overrides=[str(o) for o in overrides], trace=text(trace),
                         trace_window=trace_window or "", rtl_cache=text(rtl_cache),
                         direct=bool(direct))
    for w in done["warnings"]:
        warnings.warn(w, stacklevel=2)
    return SimReport(done["layers_csv"], done["summary_json"],
                     {k: done[k + "_seconds"]
                      for k in ("data", "simulation", "wall", "data_cpu")})
