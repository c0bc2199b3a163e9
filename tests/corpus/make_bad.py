#!/usr/bin/env python3
"""Write the malformed-input corpus in tests/corpus/bad/ and its notes (NOTES.tsv).

Every file here must be refused whole by a default `nostrike import`.
Run from anywhere: python3 tests/corpus/make_bad.py  (needs ogr2ogr for the shapefiles).
The PBF files are damaged copies of shared/data/osm/andorra-2013.osm.pbf
(© OpenStreetMap contributors, ODbL 1.0).
"""
import io, json, os, random, shutil, sqlite3, struct, subprocess, tempfile, zipfile

HERE = os.path.dirname(os.path.abspath(__file__))
OUT = os.path.join(HERE, "bad")
SHARED = os.path.join(HERE, "..", "..", "..", "shared", "data")
notes = []

def put(name, data, note):
    if isinstance(data, str):
        data = data.encode("utf-8")
    with open(os.path.join(OUT, name), "wb") as f:
        f.write(data)
    notes.append((name, note))

def fc(features, extra=""):
    return '{"type":"FeatureCollection"%s,"features":[%s]}' % (extra, ",".join(features))

def feat(geom, props='{"category":"museum"}', fid='"a"'):
    idpart = '"id":%s,' % fid if fid is not None else ""
    return '{"type":"Feature",%s"properties":%s,"geometry":%s}' % (idpart, props, geom)

PT = '{"type":"Point","coordinates":[24.94,60.17]}'
SQ = '[[0,0],[1,0],[1,1],[0,1],[0,0]]'

def main():
    if os.path.isdir(OUT):
        shutil.rmtree(OUT)
    os.makedirs(OUT)
    rnd = random.Random(7)
    # --- GeoJSON ---
    put("empty.geojson", b"", "empty file")
    put("not-json.geojson", "this is not JSON at all\n", "not the format at all (plain text)")
    put("truncated.geojson", fc([feat(PT), feat(PT, fid='"b"')])[:-25], "truncated in the middle of a feature")
    put("random-bytes.geojson", bytes(rnd.getrandbits(8) for _ in range(4096)), "4 KiB of random bytes")
    put("deep-nesting.geojson", '{"type":"FeatureCollection","features":[' + "[" * 200000 + "]" * 200000 + "]}", "200,000 levels of JSON nesting")
    put("top-level-array.geojson", "[" + feat(PT) + "]", "a bare JSON array at the top level")
    put("nan.geojson", fc([feat('{"type":"Point","coordinates":[NaN,60]}')]), "NaN literal as a coordinate")
    put("infinity.geojson", fc([feat('{"type":"Point","coordinates":[Infinity,60]}')]), "Infinity literal as a coordinate")
    put("huge-number.geojson", fc([feat('{"type":"Point","coordinates":[1e400,60]}')]), "1e400, out of the range of a double")
    put("lon-out-of-range.geojson", fc([feat('{"type":"Point","coordinates":[200,60]}')]), "longitude 200")
    put("lat-out-of-range.geojson", fc([feat('{"type":"Point","coordinates":[24,-95]}')]), "latitude -95")
    put("one-coordinate.geojson", fc([feat('{"type":"Point","coordinates":[24]}')]), "a position with one number")
    put("coords-as-strings.geojson", fc([feat('{"type":"Point","coordinates":["24.9","60.1"]}')]), "coordinates given as strings")
    put("null-geometry.geojson", fc([feat("null")]), "null geometry")
    put("missing-geometry.geojson", fc(['{"type":"Feature","id":"a","properties":{"category":"museum"}}']), "no geometry member")
    put("unknown-geometry-type.geojson", fc([feat('{"type":"Circle","coordinates":[24,60],"radius":5}')]), "unknown geometry type Circle")
    put("unclosed-ring.geojson", fc([feat('{"type":"Polygon","coordinates":[[[0,0],[1,0],[1,1],[0,1]]]}')]), "polygon ring not closed")
    put("short-ring.geojson", fc([feat('{"type":"Polygon","coordinates":[[[0,0],[1,0],[0,0]]]}')]), "ring with three positions")
    put("bowtie.geojson", fc([feat('{"type":"Polygon","coordinates":[[[0,0],[1,1],[1,0],[0,1],[0,0]]]}')]), "self-intersecting (bow-tie) ring")
    put("hole-outside.geojson", fc([feat('{"type":"Polygon","coordinates":[%s,[[5,5],[6,5],[6,6],[5,5]]]}' % SQ)]), "hole lying outside its shell")
    put("unknown-category.geojson", fc([feat(PT, '{"category":"church"}')]), "category church is not in the vocabulary")
    put("negative-standoff.geojson", fc([feat(PT, '{"category":"museum","standoff_m":-10}')]), "negative standoff")
    put("non-numeric-standoff.geojson", fc([feat(PT, '{"category":"museum","standoff_m":"far"}')]), "non-numeric standoff")
    put("negative-accuracy.geojson", fc([feat(PT, '{"category":"museum","positional_accuracy_m":-1}')]), "negative positional accuracy")
    put("duplicate-ids.geojson", fc([feat(PT), feat(PT)]), "two features with the same id")
    put("missing-id.geojson", fc([feat(PT, fid=None)]), "feature without an id")
    put("foreign-crs.geojson", fc([feat('{"type":"Point","coordinates":[2776000,8437000]}')], ',"crs":{"type":"name","properties":{"name":"urn:ogc:def:crs:EPSG::3857"}}'), "Web Mercator CRS (EPSG:3857)")
    put("short-linestring.geojson", fc([feat('{"type":"LineString","coordinates":[[24,60]]}')]), "LineString with one position")
    put("bad-protection.geojson", fc([feat(PT, '{"category":"museum","protection":"maximum"}')]), "unknown protection level")
    put("non-utf8.geojson", fc([feat(PT, '{"category":"museum","name":"X"}')]).replace('"X"', '"Caf\xe9"').encode("latin-1"), "Latin-1 bytes, not UTF-8")
    put("utf16.geojson", fc([feat(PT)]).encode("utf-16"), "UTF-16 with a byte-order mark")
    put("valid-to-before-from.geojson", fc([feat(PT, '{"category":"museum","valid_from":"2024-01-01","valid_to":"2023-01-01"}')]), "valid_to before valid_from")
    put("bad-date.geojson", fc([feat(PT, '{"category":"museum","valid_from":"yesterday"}')]), "validity date that is not a date")
    put("features-not-array.geojson", '{"type":"FeatureCollection","features":{"a":1}}', "features member is an object")
    put("empty-multipolygon.geojson", fc([feat('{"type":"MultiPolygon","coordinates":[]}')]), "MultiPolygon with no polygons")
    put("no-features.geojson", '{"type":"FeatureCollection","features":[]}', "a FeatureCollection with no features")
    # --- newline-delimited GeoJSON ---
    put("bad-line.ndjson", feat(PT) + "\n{not json\n", "second line is not JSON")
    put("truncated.ndjson", feat(PT) + "\n" + feat(PT, fid='"b"')[:30], "last line cut short")
    put("not-feature.ndjson", feat(PT) + '\n{"type":"Point","coordinates":[1,2]}\n', "a bare geometry where a Feature is expected")
    put("nan.ndjson", feat('{"type":"Point","coordinates":[NaN,1]}') + "\n", "NaN literal")
    # --- CSV ---
    put("ragged.csv", "id,category,lat,lon\na,museum,60.1,24.9\nb,museum,60.2\n", "a row with too few fields")
    put("no-geometry-columns.csv", "id,category,name\na,museum,x\n", "neither lat/lon nor WKT columns")
    put("lat-not-number.csv", "id,category,lat,lon\na,museum,north,24.9\n", "latitude that is not a number")
    put("bad-wkt.csv", "id,category,wkt\na,museum,\"POINT(24.9\"\n", "WKT cut short")
    put("non-utf8.csv", "id,category,lat,lon,name\na,museum,60.1,24.9,Caf\xe9\n".encode("latin-1"), "Latin-1 bytes, not UTF-8")
    put("lat-out-of-range.csv", "id,category,lat,lon\na,museum,91,24.9\n", "latitude 91")
    put("unknown-category.csv", "id,category,lat,lon\na,bunker,60.1,24.9\n", "category bunker is not in the vocabulary")
    put("header-only.csv", "id,category,lat,lon\n", "a header and no rows")
    put("bowtie-wkt.csv", "id,category,wkt\na,museum,\"POLYGON((0 0,1 1,1 0,0 1,0 0))\"\n", "self-intersecting polygon in WKT")
    # --- KML ---
    pm = '<Placemark><ExtendedData><Data name="id"><value>a</value></Data><Data name="category"><value>museum</value></Data></ExtendedData>%s</Placemark>'
    put("xxe.kml", '<?xml version="1.0"?><!DOCTYPE kml [<!ENTITY xxe SYSTEM "file:///etc/passwd">]><kml><Document><Placemark><name>&xxe;</name></Placemark></Document></kml>', "external entity (XXE)")
    put("billion-laughs.kml", '<?xml version="1.0"?><!DOCTYPE kml [<!ENTITY a "aaaaaaaaaa"><!ENTITY b "&a;&a;&a;&a;&a;&a;&a;&a;&a;&a;"><!ENTITY c "&b;&b;&b;&b;&b;&b;&b;&b;&b;&b;"><!ENTITY d "&c;&c;&c;&c;&c;&c;&c;&c;&c;&c;">]><kml><Placemark><name>&d;</name></Placemark></kml>', "entity expansion (billion laughs)")
    put("truncated.kml", ('<kml><Document>' + pm % '<Point><coordinates>24.9,60.1</coordinates></Point>')[:-20], "cut in the middle of a Placemark")
    put("not-kml.kml", "<html><body>hello</body></html>", "XML, but not KML")
    put("unclosed-ring.kml", "<kml>" + pm % "<Polygon><outerBoundaryIs><LinearRing><coordinates>0,0 1,0 1,1 0,1</coordinates></LinearRing></outerBoundaryIs></Polygon>" + "</kml>", "polygon ring not closed")
    put("bad-coordinates.kml", "<kml>" + pm % "<Point><coordinates>east,north</coordinates></Point>" + "</kml>", "coordinates that are not numbers")
    # --- GeoPackage ---
    put("not-sqlite.gpkg", "GeoPackage? No, just text pretending to be one.\n" * 3, "not an SQLite file")
    plain = os.path.join(OUT, "plain-sqlite.gpkg")
    c = sqlite3.connect(plain); c.execute("CREATE TABLE t (x)"); c.commit(); c.close()
    notes.append(("plain-sqlite.gpkg", "SQLite, but no GeoPackage tables"))
    def gpkg(name, srs_id, org_code, blob, note):
        p = os.path.join(OUT, name)
        c = sqlite3.connect(p)
        c.execute("PRAGMA application_id = 1196444487")
        c.executescript("""
CREATE TABLE gpkg_spatial_ref_sys (srs_name TEXT NOT NULL, srs_id INTEGER PRIMARY KEY, organization TEXT NOT NULL, organization_coordsys_id INTEGER NOT NULL, definition TEXT NOT NULL, description TEXT);
CREATE TABLE gpkg_contents (table_name TEXT PRIMARY KEY, data_type TEXT NOT NULL, identifier TEXT, description TEXT, last_change TEXT, min_x REAL, min_y REAL, max_x REAL, max_y REAL, srs_id INTEGER);
CREATE TABLE gpkg_geometry_columns (table_name TEXT, column_name TEXT, geometry_type_name TEXT, srs_id INTEGER, z INTEGER, m INTEGER);
CREATE TABLE sites (fid INTEGER PRIMARY KEY, geom BLOB, id TEXT, category TEXT);
""")
        c.execute("INSERT INTO gpkg_spatial_ref_sys VALUES (?, ?, 'EPSG', ?, 'x', NULL)", ("srs", srs_id, org_code))
        c.execute("INSERT INTO gpkg_contents (table_name, data_type, srs_id) VALUES ('sites', 'features', ?)", (srs_id,))
        c.execute("INSERT INTO gpkg_geometry_columns VALUES ('sites', 'geom', 'POINT', ?, 0, 0)", (srs_id,))
        c.execute("INSERT INTO sites (geom, id, category) VALUES (?, 'a', 'museum')", (blob,))
        c.commit(); c.close()
        notes.append((name, note))
    point_wkb = struct.pack("<BIdd", 1, 1, 24.9, 60.1)
    good_header = b"GP\x00\x01" + struct.pack("<i", 4326)
    gpkg("srs-3857.gpkg", 3857, 3857, b"GP\x00\x01" + struct.pack("<i", 3857) + point_wkb, "feature table in EPSG:3857")
    gpkg("corrupt-blob.gpkg", 4326, 4326, good_header + point_wkb[:9], "geometry blob cut short")
    gpkg("bad-magic.gpkg", 4326, 4326, b"XX\x00\x01" + struct.pack("<i", 4326) + point_wkb, "geometry blob without the GP magic")
    # --- Shapefile ---
    with tempfile.TemporaryDirectory() as t:
        src = os.path.join(SHARED, "osm", "helsinki-sites.geojson")
        def shp(name, where, srs=None):
            args = ["ogr2ogr", "-f", "ESRI Shapefile", os.path.join(t, name + ".shp"), src, "-where", where]
            if srs:
                args += ["-t_srs", srs]
            subprocess.run(args, check=True, capture_output=True)
        def zipit(out, stem, files, note, replace=None):
            with zipfile.ZipFile(os.path.join(OUT, out), "w") as z:
                for ext in files:
                    data = open(os.path.join(t, stem + "." + ext), "rb").read()
                    if replace and ext in replace:
                        data = replace[ext](data)
                    z.writestr("layer." + ext, data)
            notes.append((out, note))
        shp("merc", "OGR_GEOMETRY='POINT'", "EPSG:3857")
        zipit("projected.zip", "merc", ["shp", "shx", "dbf", "prj"], "shapefile in Web Mercator (projected .prj)")
        shp("pts", "OGR_GEOMETRY='POINT'")
        zipit("no-prj.zip", "pts", ["shp", "shx", "dbf"], "shapefile without a .prj")
        shp("few", "id IN ('osm:node/60131839','osm:node/60131847')")
        few_dbf = open(os.path.join(t, "few.dbf"), "rb").read()
        zipit("dbf-count-mismatch.zip", "pts", ["shp", "shx", "dbf", "prj"], ".dbf has 2 records, .shp has 73 shapes", replace={"dbf": lambda _: few_dbf})
        zipit("truncated-shp.zip", "pts", ["shp", "shx", "dbf", "prj"], ".shp cut in half", replace={"shp": lambda d: d[: len(d) // 2]})
    put("not-a-zip.zip", "PK\x03\x04 but nothing after it that a zip reader accepts", "zip signature followed by garbage")
    # --- OpenStreetMap PBF ---
    pbf = open(os.path.join(SHARED, "osm", "andorra-2013.osm.pbf"), "rb").read()
    bad = bytearray(pbf[:120000])
    for i in range(60000, 60200):
        bad[i] ^= 0x5A
    put("corrupt-block.osm.pbf", bytes(bad), "a data block with 200 flipped bytes (ODbL: © OpenStreetMap contributors)")
    put("truncated.osm.pbf", pbf[:40000], "cut after 40 kB (ODbL: © OpenStreetMap contributors)")
    put("random.osm.pbf", bytes(rnd.getrandbits(8) for _ in range(8192)), "8 KiB of random bytes")
    with open(os.path.join(OUT, "NOTES.tsv"), "w", encoding="utf-8") as f:
        f.write("file\twhat is wrong\n")
        for n, w in notes:
            f.write(f"{n}\t{w}\n")
    print(len(notes), "files")

if __name__ == "__main__":
    main()
