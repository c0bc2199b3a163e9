"use strict";
// nostrike serve: the page. Every text from the registry is put into the
// page as a text node (textContent), never as HTML.
(function () {
  var COLORS = { conflict: "#c00000", caution: "#c06000", uncovered: "#6a1b9a", clear: "#1b5e20" };
  var state = { drawing: false, drawn: [], checks: 0, loads: 0 };
  var map = L.map("map", { preferCanvas: true, worldCopyJump: true }).setView([20, 0], 2);
  var basemap = L.layerGroup().addTo(map);
  var sitesLayer = L.layerGroup().addTo(map);
  var resultLayer = L.layerGroup().addTo(map);
  var drawLayer = L.layerGroup().addTo(map);

  function el(tag, text, cls) {
    var e = document.createElement(tag);
    if (text !== undefined && text !== null) e.textContent = String(text);
    if (cls) e.className = cls;
    return e;
  }
  function clear(node) { while (node.firstChild) node.removeChild(node.firstChild); }
  function getJSON(url) {
    return fetch(url, { credentials: "same-origin" }).then(function (r) {
      return r.json().then(function (body) {
        if (!r.ok) throw new Error(body && body.error ? body.error : "HTTP " + r.status);
        return body;
      });
    });
  }
  function fail(where, err) {
    var box = document.getElementById(where);
    clear(box);
    box.appendChild(el("p", String(err.message || err), "error"));
  }

  // Header: which registry, which revision.
  function loadStats() {
    return getJSON("/api/stats").then(function (s) {
      document.getElementById("registry").textContent =
        s.registry.path + " — revision " + s.registry.revision + " — " + s.sites + " sites — content " + s.registry.content_hash +
        (s.signature ? (s.signature.valid ? " — signed by " + s.signature.signer + " (key " + s.signature.key_id + ")" : " — signature NOT VALID: " + (s.signature.problem || "")) : " — unsigned");
      document.body.setAttribute("data-revision", String(s.registry.revision));
    });
  }

  // Configuration: tiles (only if the operator gave some) and effect profiles.
  var config = getJSON("/api/config").then(function (c) {
    if (c.tiles) L.tileLayer(c.tiles, { maxZoom: 19, attribution: "tiles: operator-supplied" }).addTo(map);
    var sel = document.getElementById("profile");
    (c.profiles || []).forEach(function (p) {
      var o = el("option", p.name + " (" + p.radius_m + " m)");
      o.value = p.name;
      sel.appendChild(o);
    });
    return c;
  });

  // Basemap: Natural Earth outlines served by nostrike itself.
  fetch("/assets/countries.geojson").then(function (r) { return r.json(); }).then(function (g) {
    L.geoJSON(g, { interactive: false, style: { color: "#9e9e9e", weight: 1, fill: false } }).addTo(basemap);
  });

  // Each source's declared coverage: outside it, no data is not no sites.
  getJSON("/api/coverage").then(function (fc) {
    L.geoJSON(fc, { interactive: false, style: { color: "#6a1b9a", weight: 1.5, dashArray: "10 3 2 3", fill: false } }).addTo(basemap);
    document.body.setAttribute("data-coverage", String(fc.features.length));
  }).catch(function (e) { fail("result", e); });

  function siteColor(s) { return s.class === "cultural" ? "#1f4fb5" : "#2e7d32"; }

  function loadSites() {
    var b = map.getBounds();
    var bbox = [b.getWest(), Math.max(-90, b.getSouth()), b.getEast(), Math.min(90, b.getNorth())].map(function (x) { return x.toFixed(6); }).join(",");
    var size = map.getSize();
    var grid = "&cols=" + Math.max(1, Math.min(200, Math.ceil(size.x / 70))) + "&rows=" + Math.max(1, Math.min(200, Math.ceil(size.y / 70)));
    return getJSON("/api/sites?bbox=" + encodeURIComponent(bbox) + grid).then(function (r) {
      sitesLayer.clearLayers();
      var drawn = 0;
      if (r.kind === "clusters") {
        r.clusters.forEach(function (c) {
          var m = L.circleMarker([c.lat, c.lon], { radius: 5 + Math.log2(c.count + 1) * 2, color: "#333", weight: 1, fillColor: "#888", fillOpacity: 0.5, className: "cluster" });
          m.bindTooltip(el("span", String(c.count)), { permanent: true, direction: "center", className: "cluster-label" });
          m.on("click", function () { map.setView([c.lat, c.lon], map.getZoom() + 2); });
          m.addTo(sitesLayer);
          drawn += 1;
        });
      } else {
        r.sites.forEach(function (s) {
          if (s.geometry) {
            L.geoJSON(s.geometry, { style: { color: siteColor(s), weight: 2, fillOpacity: 0.2 } })
              .on("click", function () { loadRecord(s.key); }).addTo(sitesLayer);
          }
          var m = L.circleMarker([s.lat, s.lon], { radius: 5, color: "#000", weight: 1, fillColor: siteColor(s), fillOpacity: 0.9 });
          m.bindTooltip(el("span", s.name || s.key));
          m.on("click", function () { loadRecord(s.key); });
          m.addTo(sitesLayer);
          drawn += 1;
        });
      }
      document.body.setAttribute("data-view", r.kind);
      document.body.setAttribute("data-drawn", String(drawn));
      document.body.setAttribute("data-in-view", String(r.in_view));
      state.loads += 1;
      document.body.setAttribute("data-loads", String(state.loads));
    }).catch(function (e) { fail("result", e); });
  }
  map.on("moveend", loadSites);

  // A site's record, source, history and links.
  function loadRecord(key) {
    return getJSON("/api/sites/" + encodeURIComponent(key)).then(function (r) {
      var box = document.getElementById("record");
      clear(box);
      box.appendChild(el("h2", "Site " + key));
      var dl = el("dl");
      function row(k, v) {
        if (v === null || v === undefined || v === "") return;
        dl.appendChild(el("dt", k));
        dl.appendChild(el("dd", typeof v === "object" ? JSON.stringify(v) : v));
      }
      if (r.site) {
        row("name", r.site.name);
        row("category", r.site.category);
        row("protection", r.site.protection);
        Object.keys(r.site.properties || {}).forEach(function (k) {
          if (["name", "category", "protection", "id", "source"].indexOf(k) < 0) row(k, r.site.properties[k]);
        });
      }
      row("live", r.live ? "yes" : "no (retired)");
      if (r.source) {
        row("source", r.source.name);
        row("licence", r.source.licence);
        row("attribution", r.source.attribution);
      }
      box.appendChild(dl);
      box.appendChild(el("h2", "History"));
      var ul = el("ul", null, "history");
      (r.history || []).forEach(function (h) {
        ul.appendChild(el("li", "revision " + h.revision + ": " + h.change + " " + h.at + " by " + h.operator + " from " + h.file));
      });
      box.appendChild(ul);
      if (r.links && r.links.length) {
        box.appendChild(el("h2", "Linked records"));
        var lk = el("ul");
        r.links.forEach(function (k) {
          var li = el("li", k);
          li.style.cursor = "pointer";
          li.addEventListener("click", function () { loadRecord(k); });
          lk.appendChild(li);
        });
        box.appendChild(lk);
      }
      box.setAttribute("data-key", key);
      if (location.hash !== "#site=" + encodeURIComponent(key)) history.replaceState(null, "", "#site=" + encodeURIComponent(key));
    }).catch(function (e) { fail("record", e); });
  }

  // Drawing a point, route or polygon on the map.
  function fmt(ll) { return ll.lat.toFixed(7) + "," + ll.lng.toFixed(7); }
  document.getElementById("draw").addEventListener("click", function () {
    state.drawing = !state.drawing;
    this.textContent = state.drawing ? "stop drawing" : "draw on the map";
  });
  document.getElementById("clear-draw").addEventListener("click", function () {
    state.drawn = [];
    drawLayer.clearLayers();
    document.getElementById("coords").value = "";
  });
  map.on("click", function (e) {
    if (!state.drawing) return;
    var kind = document.getElementById("kind").value;
    if (kind === "point") state.drawn = [e.latlng]; else state.drawn.push(e.latlng);
    drawLayer.clearLayers();
    state.drawn.forEach(function (p) { L.circleMarker(p, { radius: 3, color: "#0d47a1" }).addTo(drawLayer); });
    if (state.drawn.length > 1) L.polyline(state.drawn, { color: "#0d47a1", dashArray: "4 4" }).addTo(drawLayer);
    document.getElementById("coords").value = state.drawn.map(fmt).join("; ");
  });

  function polygonWkt(text) {
    var t = text.trim();
    if (/^(MULTI)?POLYGON/i.test(t)) return t;
    var pts = t.split(";").map(function (p) { return p.trim(); }).filter(Boolean).map(function (p) {
      var ll = p.split(/[ ,]+/).map(Number);
      if (ll.length !== 2 || !isFinite(ll[0]) || !isFinite(ll[1])) throw new Error("polygon vertex " + JSON.stringify(p) + ": give LAT,LON");
      return ll[1] + " " + ll[0];
    });
    if (pts.length < 3) throw new Error("a polygon needs at least three vertices");
    if (pts[0] !== pts[pts.length - 1]) pts.push(pts[0]);
    return "POLYGON((" + pts.join(", ") + "))";
  }

  function checkQuery() {
    var kind = document.getElementById("kind").value;
    var coords = document.getElementById("coords").value.trim();
    if (!coords) throw new Error("give the area's coordinates, or draw it on the map");
    var q = new URLSearchParams();
    if (kind === "point") q.append("point", coords);
    else if (kind === "route") q.append("route", coords);
    else q.append("wkt", polygonWkt(coords));
    var profile = document.getElementById("profile").value;
    if (profile) q.append("profile", profile); else q.append("buffer", document.getElementById("buffer").value || "0");
    var le = document.getElementById("location_error").value;
    if (le && le !== "0") q.append("location_error", le);
    var rel = document.getElementById("releasable_to").value.trim();
    if (rel) q.append("releasable_to", rel);
    return q;
  }

  function drawResult(report, q) {
    resultLayer.clearLayers();
    var box = document.getElementById("result");
    clear(box);
    var v = el("div", report.verdict.toUpperCase() + ": " + report.summary, "verdict verdict-" + report.verdict);
    v.id = "verdict";
    v.setAttribute("data-verdict", report.verdict);
    box.appendChild(v);
    box.appendChild(el("p", "registry revision " + report.registry.revision + ", content " + report.registry.content_hash + "; policy " + report.policy.name, "hint"));
    if (report.coverage && report.coverage.note) box.appendChild(el("p", report.coverage.note, "hint"));
    var bounds = [];
    var hits = 0;
    report.areas.forEach(function (a) {
      box.appendChild(el("h2", "area " + a.id + " — " + a.verdict.toUpperCase()));
      if (a.coverage && a.coverage.uncovered) box.appendChild(el("p", "UNCOVERED: no source declares its data complete here", "error"));
      if (a.withheld) box.appendChild(el("p", "WITHHELD: " + a.withheld.hits + " further site(s) within reach not releasable to this partner" + (a.withheld.verdict ? " (" + a.withheld.verdict.toUpperCase() + ")" : ""), "error"));
      if (!a.hits.length) box.appendChild(el("p", "No protected site within reach."));
      var t = el("table", null, "hits");
      var hr = el("tr");
      ["#", "verdict", "site", "distance", "required", "notes"].forEach(function (h) { hr.appendChild(el("th", h)); });
      t.appendChild(hr);
      a.hits.forEach(function (h, i) {
        hits += 1;
        var tr = el("tr", null, "hit");
        tr.setAttribute("data-key", h.site_id);
        [i + 1, h.verdict.toUpperCase(), h.name + " (" + h.site_id + ")", h.distance_m.toFixed(1) + " m", h.required_m.toFixed(1) + " m", h.stale ? "STALE" : ""]
          .forEach(function (c) { tr.appendChild(el("td", c)); });
        tr.addEventListener("click", function () { loadRecord(h.site_id); });
        t.appendChild(tr);
        var s = [h.nearest_on_site[1], h.nearest_on_site[0]], ar = [h.nearest_on_area[1], h.nearest_on_area[0]];
        var m = L.circleMarker(s, { radius: 7, color: "#000", weight: 1.5, fillColor: COLORS[h.verdict] || "#000", fillOpacity: 0.9, className: "hit-marker" });
        m.bindTooltip(el("span", h.verdict.toUpperCase() + " " + h.name + " — " + h.distance_m.toFixed(1) + " m (required " + h.required_m.toFixed(1) + " m)"));
        m.on("click", function () { loadRecord(h.site_id); });
        m.addTo(resultLayer);
        L.polyline([ar, s], { color: "#000", weight: 1, dashArray: "4 2" }).addTo(resultLayer);
        bounds.push(s, ar);
      });
      if (a.hits.length) box.appendChild(t);
    });
    var dl = el("p", "Download: ", "downloads");
    ["json", "geojson", "csv", "kml", "svg", "html"].forEach(function (f) {
      var qq = new URLSearchParams(q);
      qq.set("format", f);
      qq.set("download", "1");
      var a = el("a", f.toUpperCase());
      a.href = "/api/check?" + qq.toString();
      a.setAttribute("download", "");
      dl.appendChild(a);
    });
    box.appendChild(dl);
    if (bounds.length) map.fitBounds(L.latLngBounds(bounds).pad(0.3), { maxZoom: 17 });
    state.checks += 1;
    document.body.setAttribute("data-hits", String(hits));
    document.body.setAttribute("data-hit-markers", String(resultLayer.getLayers().filter(function (l) { return l.options && l.options.className === "hit-marker"; }).length));
    document.body.setAttribute("data-checks", String(state.checks));
  }

  document.getElementById("check-form").addEventListener("submit", function (ev) {
    ev.preventDefault();
    var q;
    try { q = checkQuery(); } catch (e) { fail("result", e); state.checks += 1; document.body.setAttribute("data-checks", String(state.checks)); return; }
    var gq = new URLSearchParams(q);
    gq.set("format", "geojson");
    Promise.all([getJSON("/api/check?" + q.toString()), getJSON("/api/check?" + gq.toString())]).then(function (both) {
      drawResult(both[0], q);
      // The areas' geometry, from the GeoJSON report of the same check.
      both[1].features.filter(function (f) { return f.properties.role === "area"; }).forEach(function (f) {
        L.geoJSON(f, { style: { color: "#0d47a1", weight: 3, fillOpacity: 0.1 }, pointToLayer: function (ft, ll) { return L.circleMarker(ll, { radius: 6, color: "#0d47a1" }); } }).addTo(resultLayer);
      });
    }).catch(function (e) {
      fail("result", e);
      state.checks += 1;
      document.body.setAttribute("data-checks", String(state.checks));
    });
  });

  document.getElementById("search-form").addEventListener("submit", function (ev) {
    ev.preventDefault();
    var q = document.getElementById("search").value;
    getJSON("/api/search?q=" + encodeURIComponent(q)).then(function (r) {
      var ul = document.getElementById("found");
      clear(ul);
      r.sites.forEach(function (s) {
        var li = el("li", s.name + " (" + s.key + ", " + s.category + ")");
        li.setAttribute("data-key", s.key);
        li.addEventListener("click", function () {
          if (s.lat !== undefined) map.setView([s.lat, s.lon], 16);
          loadRecord(s.key);
        });
        ul.appendChild(li);
      });
      document.body.setAttribute("data-found", String(r.sites.length));
    }).catch(function (e) { fail("record", e); });
  });

  window.addEventListener("hashchange", function () {
    var m = /^#site=(.+)$/.exec(location.hash);
    if (m) loadRecord(decodeURIComponent(m[1]));
  });
  Promise.all([loadStats(), config, loadSites()]).then(function () {
    // A site page's address: /#site=SOURCE%2FID opens its record.
    var m = /^#site=(.+)$/.exec(location.hash);
    if (m) loadRecord(decodeURIComponent(m[1]));
    document.body.setAttribute("data-ready", "1");
  }).catch(function (e) { fail("result", e); });
})();
