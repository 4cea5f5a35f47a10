"""lbfp.sim.run, the SystemC model in this process, against the files `lbfp sim` writes; several
simulations in one process; bad input."""

import csv
import io
import os
import subprocess
import threading

import pytest

import lbfp.sim

SRC = os.environ.get("LBFP_SOURCE_DIR", os.path.join(os.path.dirname(__file__), "..", ".."))
CLI = os.environ.get("LBFP_CLI")
ARCH = os.path.join(SRC, "configs", "arch", "lbfp8_16x16.yaml")
LENET = os.path.join(SRC, "sim", "workloads", "lenet5.csv")


def lbfp_sim_files(tmp_path, *args):
    """layers.csv and summary.json of the `lbfp sim` program with these options."""
    if not CLI:
        pytest.skip("NOT RUN: LBFP_CLI is not set (run through ctest)")
    subprocess.run([CLI, "sim", "--quiet", "--no-progress", *args, "--out", str(tmp_path)],
                   check=True)
    return ((tmp_path / "layers.csv").read_text(), (tmp_path / "summary.json").read_text())


def test_run_equals_the_lbfp_sim_files(tmp_path):
    report = lbfp.sim.run(arch=ARCH, workload=LENET, fmt="both", seed=3)
    layers, summary = lbfp_sim_files(tmp_path, "--arch", ARCH, "--workload", LENET,
                                     "--format", "both", "--seed", "3")
    assert report.layers_csv == layers  # byte for byte
    assert report.summary_json == summary
    assert len(report.layers) == len(layers.splitlines()) - 1 > 1
    row = next(csv.DictReader(io.StringIO(layers)))
    assert report.layers[0].layer == row["layer"]
    assert str(report.layers[0].total_cycles) == row["total_cycles"]
    assert report.layers[0].energy_total_pj == float(row["energy_total_pj"])
    assert report.summary["arch"]["rows"] == 16
    assert set(report.summary["formats"]) == {"lbfp8", "bfp8"}
    assert report.seconds["wall"] >= report.seconds["simulation"] >= 0
    assert report.seconds["data_cpu"] > 0  # the data were made, on threads of their own


def test_simulations_follow_each_other_in_one_process(tmp_path):
    # Different arrays, a dataflow, cycle mode, a refused input whose accelerators were already
    # built (the layer does not fit the DRAM), then the first again: each a fresh SystemC context.
    def sim(*overrides, **options):
        return lbfp.sim.run(workload="gemm:40,24,56", fmt="lbfp8", overrides=list(overrides),
                            **options)
    first = sim("array.rows=4", "array.cols=4")
    second = sim("array.rows=8", "array.cols=8")
    ws = sim("array.rows=8", "array.cols=8", dataflow="ws", mode="cycle")
    with pytest.raises(ValueError, match="DRAM"):
        lbfp.sim.run(workload="gemm:902,1,1160", fmt="lbfp8", overrides=["dram.size_mib=1"])
    again = sim("array.rows=4", "array.cols=4")
    assert again.layers_csv == first.layers_csv and again.summary_json == first.summary_json
    assert second.layers[0].total_cycles != first.layers[0].total_cycles
    assert ws.summary["arch"]["dataflow"] == "weight-stationary"
    layers, summary = lbfp_sim_files(tmp_path, "--workload", "gemm:40,24,56", "--format",
                                     "lbfp8", "--dataflow", "ws", "--mode", "cycle",
                                     "--set", "array.rows=8", "--set", "array.cols=8")
    assert ws.layers_csv == layers and ws.summary_json == summary


def test_the_rtl_array_in_process(tmp_path):
    # The Verilated input-stationary 4 x 4 array (prebuilt), twice, and as `lbfp sim` runs it.
    options = ["--format", "lbfp8", "--workload", "gemm:20,9,13", "--set", "array.rows=4",
               "--set", "array.cols=4", "--dataflow", "is", "--array", "rtl"]

    def sim():
        return lbfp.sim.run(workload="gemm:20,9,13", fmt="lbfp8", dataflow="is", array="rtl",
                            overrides=["array.rows=4", "array.cols=4"])
    first, second = sim(), sim()
    assert first.summary["simulation"]["array"] == "rtl"
    assert second.layers_csv == first.layers_csv
    layers, summary = lbfp_sim_files(tmp_path, *options)
    assert first.layers_csv == layers and first.summary_json == summary


def test_threads_take_turns():
    results = [None] * 4

    def work(i):
        results[i] = lbfp.sim.run(workload="gemm:16,16,16", fmt="bfp8",
                                  overrides=[f"array.rows={4 << (i % 2)}"])
    threads = [threading.Thread(target=work, args=(i,)) for i in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert results[0].layers_csv == results[2].layers_csv
    assert results[1].layers_csv == results[3].layers_csv
    assert results[0].summary["arch"]["rows"] == 4 and results[1].summary["arch"]["rows"] == 8


def test_dataframe():
    try:
        import pandas  # noqa: F401
    except ImportError:
        pytest.skip("NOT RUN: python3-pandas is missing (scripts/setup.sh installs it)")
    report = lbfp.sim.run(arch=ARCH, workload=LENET, fmt="both")
    df = report.dataframe()
    assert list(df["layer"]) == [layer.layer for layer in report.layers]
    assert list(df["format"].unique()) == ["lbfp8", "bfp8"]
    assert df["total_cycles"].dtype.kind == "i" and df["energy_total_pj"].dtype.kind == "f"
    by_format = df.groupby("format")["total_cycles"].sum()
    assert by_format["lbfp8"] == report.summary["formats"]["lbfp8"]["total_cycles"]
    assert by_format["bfp8"] == report.summary["formats"]["bfp8"]["total_cycles"]


def test_bad_input_raises_value_error():
    with pytest.raises(ValueError, match="missing.yaml"):
        lbfp.sim.run(arch="missing.yaml")
    with pytest.raises(ValueError, match="array.rows: 0 is outside"):
        lbfp.sim.run(workload="gemm:8,8,8", overrides=["array.rows=0"])
    with pytest.raises(ValueError, match="--format fp16"):
        lbfp.sim.run(workload="gemm:8,8,8", fmt="fp16")
    with pytest.raises(ValueError, match="--mode fast"):
        lbfp.sim.run(workload="gemm:8,8,8", mode="fast")
    with pytest.raises(ValueError, match="gemm:4,4"):
        lbfp.sim.run(workload="gemm:4,4")
    with pytest.raises(ValueError, match="overrides must be a list"):
        lbfp.sim.run(workload="gemm:8,8,8", overrides="array.rows=4")
    with pytest.raises(ValueError, match="seed must be"):
        lbfp.sim.run(workload="gemm:8,8,8", seed=-1)
    # and a good run afterwards
    assert lbfp.sim.run(workload="gemm:8,8,8", fmt="lbfp8").layers[0].macs == 512
