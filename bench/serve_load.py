#!/usr/bin/env python3
"""Load and first paint of `nostrike serve`, loopback only, bounded.

Usage: serve_load.py PORT [CLIENTS=16] [CHECKS=500] [SEED=11]

- Load: CLIENTS threads, each with its own keep-alive connection, each
  sending CHECKS point checks (`GET /api/check?point=LAT,LON&buffer=R`,
  JSON report) at points drawn near GeoNames cities (where the synthetic
  sites cluster) with radii 50 m–2 km. Every answer must be 200 with a JSON
  report naming a revision; anything else counts as an error. Prints the
  latency p50/p90/p99/max, throughput and errors. Each request times out
  after 30 s and the whole run after 600 s.
- First paint: headless Chromium (DevTools over --remote-debugging-pipe)
  opens the app and the time from navigation to the page's `data-ready`
  (map, registry header and the first /api/sites view drawn) is measured,
  three times.
"""
import csv, http.client, json, math, os, random, subprocess, sys, tempfile, threading, time

PORT = int(sys.argv[1])
CLIENTS = int(sys.argv[2]) if len(sys.argv) > 2 else 16
CHECKS = int(sys.argv[3]) if len(sys.argv) > 3 else 500
SEED = int(sys.argv[4]) if len(sys.argv) > 4 else 11
HERE = os.path.dirname(os.path.abspath(__file__))

def cities():
    out = []
    with open(os.path.join(HERE, "..", "..", "shared", "data", "cities", "cities.csv"), newline="", encoding="utf-8") as f:
        for row in csv.DictReader(f):
            out.append((float(row["lat"]), float(row["lon"])))
    return out

def load():
    cs = cities()
    lat_all, errors, hits = [], [], [0]
    lock = threading.Lock()
    deadline = time.time() + 600
    def client(k):
        rnd = random.Random(SEED * 1000 + k)
        conn = http.client.HTTPConnection("127.0.0.1", PORT, timeout=30)
        mine = []
        for _ in range(CHECKS):
            if time.time() > deadline:
                with lock: errors.append("run deadline")
                break
            lat, lon = rnd.choice(cs)
            lat = max(-89.9, min(89.9, lat + rnd.uniform(-0.1, 0.1)))
            lon = (lon + rnd.uniform(-0.1, 0.1) + 180) % 360 - 180
            r = rnd.choice([50, 200, 500, 2000])
            t0 = time.perf_counter()
            try:
                conn.request("GET", f"/api/check?point={lat:.6f},{lon:.6f}&buffer={r}m")
                resp = conn.getresponse()
                body = resp.read()
                dt = time.perf_counter() - t0
                if resp.status != 200:
                    with lock: errors.append(f"HTTP {resp.status}: {body[:200]!r}")
                    continue
                rep = json.loads(body)
                if "revision" not in rep.get("registry", {}):
                    with lock: errors.append("no revision in the report")
                    continue
                mine.append(dt)
                with lock: hits[0] += sum(len(a["hits"]) for a in rep["areas"])
            except Exception as e:  # a failed request is an error, never skipped
                with lock: errors.append(repr(e))
                conn.close()
                conn = http.client.HTTPConnection("127.0.0.1", PORT, timeout=30)
        with lock: lat_all.extend(mine)
    t0 = time.perf_counter()
    ts = [threading.Thread(target=client, args=(k,)) for k in range(CLIENTS)]
    for t in ts: t.start()
    for t in ts: t.join()
    wall = time.perf_counter() - t0
    lat_all.sort()
    q = lambda p: lat_all[min(len(lat_all) - 1, int(p * len(lat_all)))] * 1000 if lat_all else float("nan")
    print(f"load: {CLIENTS} clients x {CHECKS} point checks = {CLIENTS * CHECKS} requests in {wall:.1f} s "
          f"({len(lat_all) / wall:.0f} checks/s), {hits[0]} hits; latency p50 {q(0.5):.1f} ms, "
          f"p90 {q(0.9):.1f} ms, p99 {q(0.99):.1f} ms, max {q(1.0):.1f} ms; errors {len(errors)}")
    for e in errors[:5]:
        print("  error:", e)
    return len(errors)

def chromium():
    for n in ("chromium", "chromium-browser", "google-chrome"):
        for d in os.environ.get("PATH", "").split(":"):
            if os.path.isfile(os.path.join(d, n)):
                return os.path.join(d, n)
    return None

def first_paint(runs=3):
    exe = chromium()
    if not exe:
        print("first paint: no chromium on PATH, skipped")
        return
    prof = tempfile.mkdtemp()
    r_cmd, w_cmd = os.pipe()  # we write commands, the browser reads fd 3
    r_out, w_out = os.pipe()  # the browser writes fd 4
    def setup():
        os.dup2(r_cmd, 3); os.dup2(w_out, 4)
    p = subprocess.Popen([exe, "--headless=new", "--no-sandbox", "--disable-gpu", "--no-first-run",
                          "--disable-background-networking", "--proxy-server=http://127.0.0.1:9",
                          f"--user-data-dir={prof}", "--window-size=1280,800", "--remote-debugging-pipe"],
                         preexec_fn=setup, pass_fds=(3, 4), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    os.close(r_cmd); os.close(w_out)
    fin, fout = os.fdopen(r_out, "rb"), os.fdopen(w_cmd, "wb")
    buf = bytearray(); n = [0]
    def call(method, params=None, session=None):
        n[0] += 1
        msg = {"id": n[0], "method": method, "params": params or {}}
        if session: msg["sessionId"] = session
        fout.write(json.dumps(msg).encode() + b"\0"); fout.flush()
        while True:
            while b"\0" not in buf:
                chunk = os.read(fin.fileno(), 65536)
                if not chunk: raise RuntimeError("browser went away")
                buf.extend(chunk)
            i = buf.index(b"\0"); m = json.loads(bytes(buf[:i])); del buf[:i + 1]
            if m.get("id") == n[0]:
                if "error" in m: raise RuntimeError(m["error"])
                return m["result"]
    try:
        tid = call("Target.createTarget", {"url": "about:blank"})["targetId"]
        sid = call("Target.attachToTarget", {"targetId": tid, "flatten": True})["sessionId"]
        call("Page.enable", session=sid)
        times = []
        for _ in range(runs):
            call("Page.navigate", {"url": "about:blank"}, sid)
            t0 = time.perf_counter()
            call("Page.navigate", {"url": f"http://127.0.0.1:{PORT}/"}, sid)
            while True:
                v = call("Runtime.evaluate", {"expression": "document.body && document.body.getAttribute('data-ready')", "returnByValue": True}, sid)
                if v["result"].get("value") == "1":
                    break
                if time.perf_counter() - t0 > 60:
                    raise RuntimeError("page not ready in 60 s")
                time.sleep(0.01)
            times.append(time.perf_counter() - t0)
            drawn = call("Runtime.evaluate", {"expression": "document.body.getAttribute('data-view') + ' ' + document.body.getAttribute('data-drawn') + ' of ' + document.body.getAttribute('data-in-view')", "returnByValue": True}, sid)["result"]["value"]
        print(f"first paint (navigation to map drawn, headless Chromium): "
              + ", ".join(f"{t:.2f} s" for t in times) + f"; view: {drawn}")
    finally:
        p.kill(); p.wait()

if __name__ == "__main__":
    first_paint()
    sys.exit(1 if load() else 0)
