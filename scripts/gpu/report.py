"""Joins the C++ bench (RESULT lines) and the PyTorch baselines (BASE, PEAK lines) into a markdown
table: op, shape, ours ms, baseline ms, ratio (baseline/ours), achieved TFLOP/s and GB/s, and the
physical limit max(FLOPs / measured bf16 peak, bytes / measured copy bandwidth).
Usage: report.py ours.txt base.txt > table.md
"""
import sys


def parse(path):
    rows, base, peak, dev = [], {}, {}, []
    for line in open(path):
        p = line.split()
        if not p:
            continue
        if p[0] == "RESULT":
            rows.append((p[1], p[2], float(p[3]), float(p[4]), float(p[5])))
        elif p[0] == "BASE":
            base[(p[1], p[2])] = float(p[3])
        elif p[0] == "PEAK":
            peak[p[1]] = float(p[2])
        elif p[0] == "DEVICE":
            dev.append(" ".join(p[1:]))
    return rows, base, peak, dev


def main():
    rows, base, peak, dev = [], {}, {}, []
    for path in sys.argv[1:]:
        r, b, pk, d = parse(path)
        rows += r
        base.update(b)
        peak.update(pk)
        dev += d
    tf = peak.get("bf16_matmul_tflops", 0)
    bw = peak.get("copy_gbps", 0)
    print(f"Device: {' / '.join(dict.fromkeys(dev))}. Measured ceilings: bf16 matmul {tf:.0f} TFLOP/s (8192³), "
          f"copy {bw:.0f} GB/s (read+write).\n")
    print("| op | shape | ours ms | baseline ms | baseline/ours | ours TFLOP/s | ours GB/s | limit ms |")
    print("|---|---|---:|---:|---:|---:|---:|---:|")
    for op, shape, ms, flop, by in rows:
        b = base.get((op.split("@")[0], shape))
        lim = max(flop / (tf * 1e9) if tf else 0, by / (bw * 1e6) if bw else 0)
        print(f"| {op} | {shape} | {ms:.3f} | {'' if b is None else f'{b:.3f}'} | {'' if b is None else f'{b / ms:.2f}×'} | "
              f"{flop / ms * 1e-9:.1f} | {by / ms * 1e-6:.0f} | {lim:.3f} |")


if __name__ == "__main__":
    main()
