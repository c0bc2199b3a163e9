#!/usr/bin/env python3
"""Write N synthetic point sites as a GeoJSON FeatureCollection (fixed seed).

Usage: make_points.py N OUT.geojson
Points are 70 % within ~20 km of GeoNames cities (shared/data/cities/cities.csv),
30 % uniform on the sphere; categories cycle through nostrike's 18.
"""
import csv, math, os, random, sys

CATS = ["monument", "archaeological_site", "religious_site", "museum", "library", "archive",
        "historic_district", "cultural_refuge", "medical", "education", "water", "food",
        "dangerous_forces", "power", "shelter", "diplomatic", "humanitarian", "other"]

def main():
    n, out = int(sys.argv[1]), sys.argv[2]
    here = os.path.dirname(os.path.abspath(__file__))
    cities = []
    with open(os.path.join(here, "..", "..", "shared", "data", "cities", "cities.csv"), newline="", encoding="utf-8") as f:
        for row in csv.DictReader(f):
            cities.append((float(row["lon"]), float(row["lat"])))
    rnd = random.Random(42)
    with open(out, "w", encoding="utf-8") as f:
        f.write('{"type":"FeatureCollection","features":[\n')
        for i in range(n):
            if rnd.random() < 0.7:
                lon, lat = rnd.choice(cities)
                r = 0.18 * math.sqrt(rnd.random())
                a = rnd.random() * 2 * math.pi
                lat = max(-90.0, min(90.0, lat + r * math.sin(a)))
                lon = lon + r * math.cos(a) / max(0.05, math.cos(math.radians(lat)))
                lon = (lon + 180.0) % 360.0 - 180.0
            else:
                lon = rnd.uniform(-180.0, 180.0)
                lat = math.degrees(math.asin(rnd.uniform(-1.0, 1.0)))
            sep = ",\n" if i else ""
            f.write(f'{sep}{{"type":"Feature","id":"p{i}","properties":{{"name":"Site {i}","category":"{CATS[i % 18]}"}},'
                    f'"geometry":{{"type":"Point","coordinates":[{lon:.7f},{lat:.7f}]}}}}')
        f.write("\n]}\n")

if __name__ == "__main__":
    main()
