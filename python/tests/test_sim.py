"""lbfp.sim.run against the `lbfp sim` files it wraps."""

import csv
import os
import subprocess

import pytest

import lbfp.sim

SRC = os.environ.get("LBFP_SOURCE_DIR", os.path.join(os.path.dirname(__file__), "..", ".."))


def test_run_returns_the_per_layer_report(tmp_path):
    if not os.environ.get("LBFP_CLI"):
        pytest.skip("NOT RUN: LBFP_CLI is not set (run through ctest)")
    arch = os.path.join(SRC, "configs", "arch", "lbfp8_16x16.yaml")
    workload = os.path.join(SRC, "sim", "workloads", "lenet5.csv")
    report = lbfp.sim.run(arch=arch, workload=workload, fmt="lbfp8")
    subprocess.run([os.environ["LBFP_CLI"], "sim", "--quiet", "--arch", arch, "--workload",
                    workload, "--format", "lbfp8", "--out", str(tmp_path)], check=True)
    with open(tmp_path / "layers.csv", newline="") as f:
        want = list(csv.DictReader(f))
    assert len(report.layers) == len(want) > 1
    for got, row in zip(report.layers, want):
        assert got.layer == row["layer"] and str(got.total_cycles) == row["total_cycles"]
        assert got.energy_total_pj == float(row["energy_total_pj"])
    assert report.summary["arch"]["rows"] == 16
    try:
        import pandas  # noqa: F401
    except ImportError:
        return
    assert list(report.dataframe()["layer"]) == [r["layer"] for r in want]


def test_bad_input_raises_value_error():
    if not os.environ.get("LBFP_CLI"):
        pytest.skip("NOT RUN: LBFP_CLI is not set (run through ctest)")
    with pytest.raises(ValueError, match="missing.yaml"):
        lbfp.sim.run(arch="missing.yaml")
    with pytest.raises(ValueError, match="array.rows"):
        lbfp.sim.run(workload="gemm:8,8,8", overrides=["array.rows=0"])
