#!/usr/bin/env python3
"""Rewrite a nostrike registry (schema 8) the way a forger with the sqlite3
shell and docs/REGISTRY.md would: move one live site, then recompute every
hash the file holds — the site hash, every change-log entry hash down the
chain, the content hash and the last batch's log head — and drop the packed
index (whose format a forger need not learn: without it, checks read the
rows). Python's standard library only; no nostrike code.

Usage: forge.py REGISTRY SITE_ID LON LAT
"""
import hashlib
import json
import sqlite3
import struct
import sys


def text(b):
    if isinstance(b, str):
        b = b.encode()
    return struct.pack("<Q", len(b)) + b


def opt(x, put):
    return b"\x00" if x is None else b"\x01" + put(x)


def f64(x):
    return struct.pack("<d", 0.0 if x == 0 else x)


def i64(x):
    return struct.pack("<q", x)


def site_hash(r):
    (source, site_id, name, category, protection, designations, geometry, standoff_m,
     accuracy, valid_from, valid_to, last_verified, properties, extensions) = r
    b = text("nostrike-site-v1") + text(source) + text(site_id) + text(name)
    b += text(category) + text(protection)
    ds = json.loads(designations)
    b += struct.pack("<Q", len(ds)) + b"".join(text(d) for d in ds)
    b += text(geometry) + opt(standoff_m, f64) + f64(accuracy)
    b += opt(valid_from, i64) + opt(valid_to, i64) + opt(last_verified, text) + text(properties)
    if extensions is not None:
        b += text("extensions") + text(extensions)
    return hashlib.sha256(b).hexdigest()


def entry_hash(seq, batch, revision, kind, source, site_id, before, after, prev):
    b = text("nostrike-log-v1") + i64(seq) + i64(batch) + i64(revision) + text(kind)
    b += text(source) + text(site_id) + opt(before, text) + opt(after, text) + text(prev)
    return hashlib.sha256(b).hexdigest()


COLS = ("source, site_id, name, category, protection, designations, geometry, standoff_m, "
        "positional_accuracy_m, valid_from, valid_to, last_verified, properties, extensions")


def main():
    path, site_id, lon, lat = sys.argv[1], sys.argv[2], float(sys.argv[3]), float(sys.argv[4])
    c = sqlite3.connect(path)
    c.executescript("DROP TRIGGER versions_no_update; DROP TRIGGER changes_no_update;")
    vid, = c.execute("SELECT version FROM sites WHERE site_id = ?", (site_id,)).fetchone()
    row = list(c.execute(f"SELECT {COLS}, hash FROM versions WHERE id = ?", (vid,)).fetchone())
    old = row.pop()
    assert site_hash(row) == old, "the recipe does not reproduce the stored hash"
    row[6] = struct.pack("<BIdd", 1, 1, lon, lat)  # a WKB point, little-endian
    new = site_hash(row)
    c.execute("UPDATE versions SET geometry = ?, hash = ? WHERE id = ?", (row[6], new, vid))
    c.execute("UPDATE changes SET hash_after = ? WHERE hash_after = ?", (new, old))
    c.execute("UPDATE changes SET hash_before = ? WHERE hash_before = ?", (new, old))
    prev = "0" * 64
    for seq, batch, rev, kind, src, sid, before, after in c.execute(
            "SELECT seq, batch, revision, kind, source, site_id, hash_before, hash_after FROM changes ORDER BY seq").fetchall():
        prev = entry_hash(seq, batch, rev, kind, src, sid, before, after, prev)
        c.execute("UPDATE changes SET entry_hash = ? WHERE seq = ?", (prev, seq))
    live = sorted(h for (h,) in c.execute("SELECT v.hash FROM sites s JOIN versions v ON v.id = s.version"))
    content = hashlib.sha256("".join(h + "\n" for h in live).encode()).hexdigest()
    c.execute("UPDATE meta SET value = ? WHERE key = 'content_hash'", (content,))
    c.execute("UPDATE batches SET log_head = ?, content_hash = ? WHERE id = (SELECT max(id) FROM batches)", (prev, content))
    c.execute("DELETE FROM packed")
    c.execute("DELETE FROM meta WHERE key = 'packed_root'")
    c.commit()
    print(content)


main()
