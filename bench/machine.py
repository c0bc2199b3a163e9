"""The machine a benchmark ran on, and one run's figures recorded with it."""
import datetime
import json
import os
import platform


def machine():
    cpu = "unknown"
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    cpu = line.split(":", 1)[1].strip()
                    break
    except OSError:
        pass
    mem_gib = None
    try:
        with open("/proc/meminfo") as f:
            for line in f:
                if line.startswith("MemTotal:"):
                    mem_gib = round(int(line.split()[1]) / 1024 / 1024, 1)
                    break
    except OSError:
        pass
    return {"cores": os.cpu_count(), "cpu": cpu, "memory_gib": mem_gib, "kernel": platform.release()}


def record(path, command, fields, versions=None):
    """Append one result line to `path`: the run id (`BENCH_RUN`, or now),
    when it was taken, the command, the machine, the versions, then `fields`."""
    now = datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")
    res = {"run": os.environ.get("BENCH_RUN") or now, "taken_at": now, "command": command, "machine": machine()}
    if versions:
        res["versions"] = versions
    res.update(fields)
    with open(path, "a") as f:
        f.write(json.dumps(res) + "\n")
    return res


if __name__ == "__main__":
    import json

    print(json.dumps(machine()))
