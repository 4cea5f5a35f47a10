#!/usr/bin/env python3
"""Per-layer compute cycles of an R x C array: this project's model against SCALE-Sim v2's, from
the closed forms explained in docs/scalesim-comparison.md.

  ours      = tiles * (K + 2R + C + N)   tiles = groups * ceil(M/R) * ceil(n/C)
              M = out_h * out_w, out = (ifmap - filter) // stride + 1, n = filters / groups,
              K = filter_h * filter_w * channels / groups, N = array.pipe_stages
  SCALE-Sim = folds * (T + R + C - 2)    folds = ceil(Sr/R) * ceil(Sc/C)
              Sr = ceil((ifmap - filter + stride) / stride) ** 2 (per dim), Sc = filters,
              T = filter_h * filter_w * channels (no groups: only the first 8 columns are read)

  --dataflow ws: SCALE-Sim = folds * (2R + C + Sr - 2)   folds = ceil(T/R) * ceil(Sc/C)
  --dataflow is: SCALE-Sim = folds * (2R + C + Sc - 2)   folds = ceil(T/R) * ceil(Sr/C)

Without --ours the "ours" column is the first form (output-stationary tiles in isolation, whatever
--dataflow says). With --ours layers.csv (from `lbfp sim`) the model's compute_cycles and tiles
are shown instead; with --check-isolated (output-stationary only) they are also checked against
the first form, which holds for tiles in isolation (no overlap). With --scalesim CSV (columns layer,cycles: SCALE-Sim's
stall-free compute cycles) its cycles are checked against SCALE-Sim's form. Prints a markdown
table; --over also lists the layers whose cycles exceed SCALE-Sim's (exit status 1 if any).
Needs no SCALE-Sim.
"""
import argparse
import csv
import math
import sys


def read_topology(path):
    layers = []
    with open(path, newline="") as f:
        rows = [[c.strip() for c in r] for r in csv.reader(f) if r and r[0].strip()]
    header = [h.lower() for h in rows[0]]
    has_groups = len(header) > 8 and header[8] == "groups"
    for r in rows[1:]:
        ih, iw, fh, fw, ch, nf, s = (int(x) for x in r[1:8])
        g = int(r[8]) if has_groups else 1
        layers.append(dict(name=r[0], ih=ih, iw=iw, fh=fh, fw=fw, ch=ch, nf=nf, s=s, g=g))
    return layers


def ours(l, R, C, N):
    m = ((l["ih"] - l["fh"]) // l["s"] + 1) * ((l["iw"] - l["fw"]) // l["s"] + 1)
    k = l["fh"] * l["fw"] * l["ch"] // l["g"]
    tiles = l["g"] * math.ceil(m / R) * math.ceil(l["nf"] // l["g"] / C)
    return tiles, tiles * (k + 2 * R + C + N)


def scalesim(l, R, C, dataflow="os"):
    sr = math.ceil((l["ih"] - l["fh"] + l["s"]) / l["s"]) * math.ceil((l["iw"] - l["fw"] + l["s"]) / l["s"])
    t = l["fh"] * l["fw"] * l["ch"]
    sc = l["nf"]
    if dataflow == "ws":
        folds = math.ceil(t / R) * math.ceil(sc / C)
        return folds, folds * (2 * R + C + sr - 2)
    if dataflow == "is":
        folds = math.ceil(t / R) * math.ceil(sr / C)
        return folds, folds * (2 * R + C + sc - 2)
    folds = math.ceil(sr / R) * math.ceil(sc / C)
    return folds, folds * (t + R + C - 2)


def read_column(path, key, value):
    with open(path, newline="") as f:
        return {r[key]: r for r in csv.DictReader(f)} if value is None else \
               {r[key]: int(r[value]) for r in csv.DictReader(f)}


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("topology")
    ap.add_argument("--rows", type=int, default=16)
    ap.add_argument("--cols", type=int, default=16)
    ap.add_argument("--pipe-stages", type=int, default=1)
    ap.add_argument("--ours", help="layers.csv written by lbfp sim (one format)")
    ap.add_argument("--scalesim", help="CSV with columns layer,cycles")
    ap.add_argument("--dataflow", choices=["os", "ws", "is"], default="os",
                    help="SCALE-Sim's dataflow (its closed form)")
    ap.add_argument("--check-isolated", action="store_true",
                    help="check --ours against the isolated-tile form (output-stationary)")
    ap.add_argument("--over", action="store_true",
                    help="list the layers above SCALE-Sim (exit status 1 if any)")
    a = ap.parse_args()
    if a.check_isolated and a.dataflow != "os":
        ap.error("--check-isolated is for --dataflow os")
    R, C, N = a.rows, a.cols, a.pipe_stages
    got = read_column(a.ours, "layer", None) if a.ours else {}
    ss = read_column(a.scalesim, "layer", "cycles") if a.scalesim else {}
    bad = 0
    over = []
    tot_o = tot_s = 0
    print("| layer | tiles | ours | folds | SCALE-Sim | ours - SCALE-Sim | ratio |")
    print("|---|---:|---:|---:|---:|---:|---:|")
    for l in read_topology(a.topology):
        tiles, cyc = ours(l, R, C, N)
        folds, scyc = scalesim(l, R, C, a.dataflow)
        if l["name"] in got:
            g = got[l["name"]]
            if a.check_isolated and (int(g["tiles"]) != tiles or int(g["compute_cycles"]) != cyc):
                print(f"{l['name']}: lbfp sim {g['tiles']} tiles / {g['compute_cycles']} cycles, "
                      f"formula {tiles} / {cyc}", file=sys.stderr)
                bad += 1
            tiles, cyc = int(g["tiles"]), int(g["compute_cycles"])
        if l["name"] in ss and ss[l["name"]] != scyc:
            print(f"{l['name']}: SCALE-Sim {ss[l['name']]} cycles, formula {scyc}", file=sys.stderr)
            bad += 1
        scyc = ss.get(l["name"], scyc)
        tot_o += cyc
        tot_s += scyc
        if cyc > scyc:
            over.append(f"{l['name']} ({cyc} > {scyc})")
        print(f"| {l['name']} | {tiles} | {cyc} | {folds} | {scyc} | {cyc - scyc:+d} | {cyc / scyc:.3f} |")
    print(f"| **total** | | {tot_o} | | {tot_s} | {tot_o - tot_s:+d} | {tot_o / tot_s:.3f} |")
    if a.over:
        print("\nLayers above SCALE-Sim: " + (", ".join(over) if over else "none"))
    return 1 if bad or (a.over and over) else 0


if __name__ == "__main__":
    sys.exit(main())
