"use strict";
(function () {
  var report = JSON.parse(document.getElementById("report-json").textContent);
  var records = JSON.parse(document.getElementById("site-records").textContent);
  var hits = {};
  (report.areas || []).forEach(function (a) {
    (a.hits || []).forEach(function (h) {
      (hits[h.site_id] = hits[h.site_id] || []).push({ area: a.area_id, hit: h });
    });
  });
  function show(aside, key) {
    while (aside.firstChild) aside.removeChild(aside.firstChild);
    var dl = document.createElement("dl");
    function row(k, v) {
      if (v === null || v === undefined || v === "") return;
      var dt = document.createElement("dt");
      dt.textContent = k;
      var dd = document.createElement("dd");
      dd.textContent = String(v);
      dl.appendChild(dt);
      dl.appendChild(dd);
    }
    row("site", key);
    var found = hits[key];
    if (found) {
      found.forEach(function (f) {
        var h = f.hit;
        row("name", h.name);
        row("category", h.category + " (" + h.class + ")");
        row("protection", h.protection);
        row("verdict in area " + f.area, h.verdict.toUpperCase());
        row("distance", h.distance_m.toFixed(1) + " m");
        row("required", h.required_m.toFixed(1) + " m");
        row("margin", h.margin_m.toFixed(1) + " m");
        if (h.bearing_deg !== null && h.bearing_deg !== undefined) row("bearing", h.bearing_deg.toFixed(1) + "°");
        if (h.stale) row("STALE", "last verified " + (h.stale.last_verified || "never") + ", allowed " + h.stale.max_age_days + " days");
      });
    } else if (records[key]) {
      var r = records[key];
      row("name", r.name);
      row("category", r.category);
      row("protection", r.protection);
      row("last verified", r.last_verified || "never recorded");
      row("within reach", "no");
    }
    aside.appendChild(dl);
  }
  document.querySelectorAll("section.area").forEach(function (sec) {
    var svg = sec.querySelector("svg.map");
    var aside = sec.querySelector("aside.record");
    if (!svg) return;
    var home = svg.getAttribute("viewBox").split(/\s+/).map(Number);
    var vb = home.slice();
    function apply() { svg.setAttribute("viewBox", vb.join(" ")); }
    function toMap(ev) {
      var r = svg.getBoundingClientRect();
      return [vb[0] + (ev.clientX - r.left) / r.width * vb[2], vb[1] + (ev.clientY - r.top) / r.height * vb[3]];
    }
    function zoom(f, at) {
      var c = at || [vb[0] + vb[2] / 2, vb[1] + vb[3] / 2];
      vb = [c[0] - (c[0] - vb[0]) * f, c[1] - (c[1] - vb[1]) * f, vb[2] * f, vb[3] * f];
      apply();
    }
    svg.addEventListener("wheel", function (ev) {
      ev.preventDefault();
      zoom(ev.deltaY < 0 ? 0.8 : 1.25, toMap(ev));
    }, { passive: false });
    var drag = null;
    svg.addEventListener("pointerdown", function (ev) {
      drag = { x: ev.clientX, y: ev.clientY, vb: vb.slice(), moved: false };
    });
    window.addEventListener("pointermove", function (ev) {
      if (!drag) return;
      var r = svg.getBoundingClientRect();
      var dx = (ev.clientX - drag.x) / r.width * vb[2], dy = (ev.clientY - drag.y) / r.height * vb[3];
      if (Math.abs(ev.clientX - drag.x) + Math.abs(ev.clientY - drag.y) > 3) drag.moved = true;
      vb = [drag.vb[0] - dx, drag.vb[1] - dy, vb[2], vb[3]];
      apply();
    });
    window.addEventListener("pointerup", function () { setTimeout(function () { drag = null; }, 0); });
    svg.addEventListener("click", function (ev) {
      if (drag && drag.moved) return;
      var site = ev.target.closest ? ev.target.closest(".site") : null;
      if (site && aside) show(aside, site.getAttribute("data-key"));
    });
    sec.querySelectorAll("button[data-zoom]").forEach(function (b) {
      b.addEventListener("click", function () {
        var z = b.getAttribute("data-zoom");
        if (z === "in") zoom(0.8);
        else if (z === "out") zoom(1.25);
        else { vb = home.slice(); apply(); }
      });
    });
    sec.querySelectorAll("tr.hit").forEach(function (tr) {
      tr.addEventListener("click", function () { if (aside) show(aside, tr.getAttribute("data-key")); });
    });
  });
  var pre = document.getElementById("json-view");
  if (pre) pre.textContent = JSON.stringify(report, null, 2);
  document.body.setAttribute("data-ready", "1");
})();
