"""Peak memory of a PostgreSQL server while it works: the sum of the
proportional set size (PSS, so shared buffers count once, not once per
process) of the postmaster and all its children, sampled every 50 ms until
SIGTERM; then the peak in KiB is written to OUT.

Usage: python3 bench/peak_pss.py DATADIR OUT   (DATADIR/postmaster.pid names the server)
"""
import os
import signal
import sys
import time


def children_of(root):
    parent = {}
    for d in os.listdir("/proc"):
        if not d.isdigit():
            continue
        try:
            with open(f"/proc/{d}/stat") as f:
                stat = f.read()
        except OSError:
            continue
        # The command name may hold spaces and parentheses: the fields follow the last ')'.
        fields = stat[stat.rfind(")") + 2:].split()
        parent[int(d)] = int(fields[1])
    tree, frontier = {root}, [root]
    while frontier:
        p = frontier.pop()
        for c, pp in parent.items():
            if pp == p and c not in tree:
                tree.add(c)
                frontier.append(c)
    return tree


def pss_kb(pid):
    try:
        with open(f"/proc/{pid}/smaps_rollup") as f:
            for line in f:
                if line.startswith("Pss:"):
                    return int(line.split()[1])
    except OSError:
        pass
    return 0


def main():
    datadir, out = sys.argv[1], sys.argv[2]
    with open(os.path.join(datadir, "postmaster.pid")) as f:
        root = int(f.readline())
    peak = 0
    stop = False

    def on_term(*_):
        nonlocal stop
        stop = True

    signal.signal(signal.SIGTERM, on_term)
    while not stop:
        peak = max(peak, sum(pss_kb(p) for p in children_of(root)))
        time.sleep(0.05)
    with open(out, "w") as f:
        f.write(f"{peak}\n")


if __name__ == "__main__":
    main()
