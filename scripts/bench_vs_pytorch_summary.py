"""Summary of scripts/bench-vs-pytorch rounds: per figure the median over rounds of zoo's time, PyTorch's time and
the speed (PyTorch / zoo), with each round's speed; then each round's load averages (start, after the PyTorch run,
end)."""
import glob
import json
import os
import statistics
import sys


def main(folder):
    rounds = sorted((d for d in glob.glob(os.path.join(folder, "r*")) if os.path.isdir(d)),
                    key=lambda d: int(os.path.basename(d)[1:]))
    rows = {}
    for r in rounds:
        for f in sorted(glob.glob(os.path.join(r, "zoo-*.json"))):
            for e in json.load(open(f))["entries"]:
                notes = e.get("notes", {})
                if "peer_median_ms" not in notes:
                    continue
                rows.setdefault((e["suite"], e["name"]), []).append(
                    (e["timing"]["median"] * 1e3, float(notes["peer_median_ms"]), float(notes["speed_vs_peer"])))
    print(f"{'suite':9} {'figure':46} {'zoo ms':>9} {'torch ms':>9} {'speed':>6}  per round")
    for key in sorted(rows):
        v = rows[key]
        zoo, torch, speed = (statistics.median(x[i] for x in v) for i in range(3))
        each = " ".join(f"{x[2]:.2f}" for x in v)
        print(f"{key[0]:9} {key[1]:46} {zoo:9.1f} {torch:9.1f} {speed:6.2f}  {each}")
    for r in rounds:
        loads = [line.split("load average:")[1].strip() for line in open(os.path.join(r, "load.txt"))
                 if "load average:" in line]
        print(f"{os.path.basename(r)}: load averages {' | '.join(loads)}")


if __name__ == "__main__":
    main(sys.argv[1])
