// Situation room: draws the map (SVG, no library, no CDN), the time slider and live
// updates. Data comes from the page's own JSON block; updates re-fetch the page (the
// server filters and audits it), so the event stream never carries data.
(function () {
  "use strict";
  var SVG = "http://www.w3.org/2000/svg";
  var PALETTE = ["#0b4f9c", "#1b7f3b", "#7a3db8", "#a15c00", "#006d77", "#5c5c5c",
                 "#8a1c7c", "#2f4b26"];
  var CLUSTER_PX = 34;
  var state = { bounds: null, source: null };

  function el(name, attrs, text) {
    var node = document.createElementNS(SVG, name);
    Object.keys(attrs || {}).forEach(function (k) { node.setAttribute(k, attrs[k]); });
    if (text !== undefined) { node.textContent = text; }
    return node;
  }
  // A sentence the page gives in the reader's language, with its one blank filled in.
  function label(node, attr, blank, value) {
    return (node.getAttribute(attr) || blank).replace(blank, String(value));
  }
  function data() {
    var block = document.getElementById("room-data");
    return block ? JSON.parse(block.textContent) : null;
  }
  // Web Mercator, in world pixels at zoom z (256 px tiles).
  function project(lat, lon, z) {
    var scale = 256 * Math.pow(2, z);
    var s = Math.sin(Math.max(-85, Math.min(85, lat)) * Math.PI / 180);
    return { x: (lon + 180) / 360 * scale,
             y: (0.5 - Math.log((1 + s) / (1 - s)) / (4 * Math.PI)) * scale };
  }
  function niceStep(span) {
    var steps = [0.001, 0.002, 0.005, 0.01, 0.02, 0.05, 0.1, 0.2, 0.5, 1, 2, 5, 10, 20, 45];
    for (var i = 0; i < steps.length; i++) { if (span / steps[i] <= 6) { return steps[i]; } }
    return 90;
  }
  function colours(spots) {
    var groups = {}, n = 0;
    spots.forEach(function (s) {
      if (!(s.group in groups)) { groups[s.group] = PALETTE[n++ % PALETTE.length]; }
    });
    return groups;
  }

  function draw(d) {
    var box = document.getElementById("map");
    if (!box) { return; }
    var slider = document.getElementById("until");
    var placed = d.spots.filter(function (s) { return s.lat !== null && s.lon !== null; });
    var times = placed.map(function (s) { return s.observed; }).sort();
    var limit = times.length ? times[Math.min(+slider.value, times.length - 1)] : null;
    var shown = placed.filter(function (s) { return limit === null || s.observed <= limit; });
    var out = document.getElementById("until-text");
    out.textContent = limit ? new Date(limit).toLocaleString() + " (" + shown.length + "/" +
      placed.length + ")" : "—";
    box.textContent = "";
    var W = box.clientWidth || 640, H = box.clientHeight || 400;
    if (!placed.length) {
      var p = document.createElement("p");
      p.textContent = box.getAttribute("data-empty");
      box.appendChild(p);
      return;
    }
    var b = state.bounds || bounds(placed);
    var z = 18, a, c;
    for (; z > 0; z--) {
      a = project(b.north, b.west, z); c = project(b.south, b.east, z);
      if (c.x - a.x <= W * 0.8 && c.y - a.y <= H * 0.8) { break; }
    }
    var ox = (a.x + c.x) / 2 - W / 2, oy = (a.y + c.y) / 2 - H / 2;
    var svg = el("svg", { viewBox: "0 0 " + W + " " + H, role: "group",
                          "aria-label": label(box, "data-label", "{n}", shown.length) });
    if (d.tiles) {
      var n = Math.pow(2, z);
      for (var tx = Math.floor(ox / 256); tx * 256 < ox + W; tx++) {
        for (var ty = Math.max(0, Math.floor(oy / 256)); ty * 256 < oy + H && ty < n; ty++) {
          var url = d.tiles.replace("{z}", z).replace("{x}", ((tx % n) + n) % n)
            .replace("{y}", ty);
          svg.appendChild(el("image", { href: url, x: tx * 256 - ox, y: ty * 256 - oy,
                                        width: 256, height: 256, "aria-hidden": "true" }));
        }
      }
    }
    // The coordinate grid, labelled in degrees.
    var tl = unproject(ox, oy, z), br = unproject(ox + W, oy + H, z);
    var step = niceStep(Math.max(br.lon - tl.lon, tl.lat - br.lat));
    var grid = el("g", { "aria-hidden": "true" });
    for (var lon = Math.ceil(tl.lon / step) * step; lon <= br.lon; lon += step) {
      var x = project(0, lon, z).x - ox;
      grid.appendChild(el("line", { x1: x, y1: 0, x2: x, y2: H, "class": "grid" }));
      grid.appendChild(el("text", { x: x + 2, y: H - 4, "class": "gridlabel" },
                          lon.toFixed(3) + "°"));
    }
    for (var lat = Math.ceil(br.lat / step) * step; lat <= tl.lat; lat += step) {
      var y = project(lat, 0, z).y - oy;
      grid.appendChild(el("line", { x1: 0, y1: y, x2: W, y2: y, "class": "grid" }));
      grid.appendChild(el("text", { x: 2, y: y - 2, "class": "gridlabel" },
                          lat.toFixed(3) + "°"));
    }
    svg.appendChild(grid);
    var groups = colours(d.spots);
    // Clusters: sightings closer than CLUSTER_PX on screen are drawn as one.
    var cells = {};
    shown.forEach(function (s) {
      var p = project(s.lat, s.lon, z);
      s._x = p.x - ox; s._y = p.y - oy;
      var key = Math.floor(s._x / CLUSTER_PX) + ":" + Math.floor(s._y / CLUSTER_PX);
      (cells[key] = cells[key] || []).push(s);
    });
    var layer = el("g", { role: "list" });
    Object.keys(cells).forEach(function (key) {
      var members = cells[key];
      if (members.length === 1) { layer.appendChild(spot(members[0], groups)); }
      else { layer.appendChild(cluster(members)); }
    });
    svg.appendChild(layer);
    box.appendChild(svg);
  }

  function spot(s, groups) {
    var label = (s.match ? "MATCH: " : "") + s.ref + " " + s.what + " at " + s.location +
      ", " + s.shown;
    var g = el("g", { "class": "spot", tabindex: "0", role: "listitem", "aria-label": label,
                      "data-ref": s.ref });
    g.appendChild(el("title", {}, label));
    if (s.match) { g.appendChild(el("circle", { cx: s._x, cy: s._y, r: 12,
                                                "class": "matchring" })); }
    g.appendChild(el("circle", { cx: s._x, cy: s._y, r: 7, fill: groups[s.group],
                                 stroke: "#000", "stroke-width": 1 }));
    g.appendChild(el("text", { x: s._x + 14, y: s._y + 4, "class": "place" },
                     (s.match ? "MATCH " : "") + s.location.slice(0, 28)));
    return g;
  }

  function cluster(members) {
    var x = 0, y = 0, match = false;
    members.forEach(function (s) { x += s._x; y += s._y; match = match || s.match; });
    x /= members.length; y /= members.length;
    var label = members.length + " sightings: " +
      members.map(function (s) { return (s.match ? "MATCH " : "") + s.ref; }).join(", ") +
      ". Press Enter to zoom in.";
    var g = el("g", { "class": "cluster", tabindex: "0", role: "listitem", "aria-label": label });
    g.appendChild(el("title", {}, label));
    if (match) { g.appendChild(el("circle", { cx: x, cy: y, r: 19, "class": "matchring" })); }
    g.appendChild(el("circle", { cx: x, cy: y, r: 15, fill: "#0b2545" }));
    g.appendChild(el("text", { x: x, y: y + 4, "class": "count" }, String(members.length)));
    function zoom() { state.bounds = bounds(members); draw(data()); }
    g.addEventListener("click", zoom);
    g.addEventListener("keydown", function (e) {
      if (e.key === "Enter" || e.key === " ") { e.preventDefault(); zoom(); }
    });
    return g;
  }

  function bounds(spots) {
    var b = { north: -90, south: 90, west: 180, east: -180 };
    spots.forEach(function (s) {
      b.north = Math.max(b.north, s.lat); b.south = Math.min(b.south, s.lat);
      b.west = Math.min(b.west, s.lon); b.east = Math.max(b.east, s.lon);
    });
    var pad = Math.max(0.002, (b.north - b.south) * 0.1, (b.east - b.west) * 0.1);
    return { north: b.north + pad, south: b.south - pad, west: b.west - pad,
             east: b.east + pad };
  }

  function unproject(x, y, z) {
    var scale = 256 * Math.pow(2, z);
    var lon = x / scale * 360 - 180;
    var n = Math.PI - 2 * Math.PI * y / scale;
    return { lat: 180 / Math.PI * Math.atan(0.5 * (Math.exp(n) - Math.exp(-n))), lon: lon };
  }

  function legend(d) {
    var list = document.getElementById("legend");
    if (!list) { return; }
    var groups = colours(d.spots), seen = {};
    list.textContent = "";
    d.spots.forEach(function (s) {
      if (seen[s.group]) { return; }
      seen[s.group] = true;
      var li = document.createElement("li"), sw = document.createElement("span");
      sw.style.background = groups[s.group];
      li.appendChild(sw);
      li.appendChild(document.createTextNode(
        s.group === "other" ? document.getElementById("map").getAttribute("data-described")
                            : s.group));
      list.appendChild(li);
    });
  }

  function setup(kept) {
    var d = data();
    if (!d) { return; }
    var slider = document.getElementById("until");
    var count = d.spots.filter(function (s) { return s.lat !== null; }).length;
    slider.max = String(Math.max(0, count - 1));
    slider.value = kept === null ? slider.max : kept;
    slider.oninput = function () { draw(data()); };
    legend(d);
    draw(d);
    function whole() { state.bounds = null; draw(data()); }
    document.getElementById("map").ondblclick = whole;
    document.getElementById("map-reset").onclick = whole;
    listen(d);
  }

  function listen(d) {
    if (state.source || !window.EventSource) { return; }
    var url = "/room/op/" + encodeURIComponent(d.code) + "/events?since=" + d.fingerprint;
    state.source = new EventSource(url);
    state.source.addEventListener("changed", refresh);
    state.source.addEventListener("gone", function () { location.reload(); });
  }

  function refresh() {
    fetch(location.pathname, { credentials: "same-origin", cache: "no-store" })
      .then(function (r) {
        if (!r.ok) { location.reload(); throw new Error("gone"); }
        return r.text();
      })
      .then(function (html) {
        var doc = new DOMParser().parseFromString(html, "text/html");
        var fresh = doc.getElementById("content"), here = document.getElementById("content");
        var old = document.getElementById("until");
        var atEnd = +old.value >= +old.max, kept = old.value;
        here.replaceChildren.apply(here, Array.prototype.slice.call(fresh.childNodes));
        if (state.source) { state.source.close(); state.source = null; }
        setup(atEnd ? null : kept);
        var live = document.getElementById("live");
        if (live) {
          live.textContent = label(live, "data-updated", "{time}",
            new Date().toLocaleTimeString(document.documentElement.lang || undefined));
        }
      })
      .catch(function () { /* the next event tries again */ });
  }

  window.addEventListener("resize", function () { var d = data(); if (d) { draw(d); } });
  document.addEventListener("DOMContentLoaded", function () { setup(null); });
})();
