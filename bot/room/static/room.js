// Situation room: the map (Leaflet, served from the package, over a bundled Natural Earth
// basemap or the agency's tile server), the time slider over map and timeline, ticks by
// checkbox, and live updates. Data comes from the page's own JSON block; updates re-fetch
// the page (the server filters and audits it), so the event stream never carries data.
// Nothing is loaded from anywhere but this server (and the tile server when configured).
(function () {
  "use strict";
  var VENDOR = "/room/static/vendor";
  var COLOURS = 8; // room.css .c0 … .c7: contrasted marker colours, one per subject
  var state = { map: null, cluster: null, pins: null, source: null, refs: null,
                refused: {}, times: [] };

  function byId(id) { return document.getElementById(id); }
  function data() {
    var block = byId("room-data");
    return block ? JSON.parse(block.textContent) : null;
  }
  // A sentence the page gives in the reader's language, with its blanks filled in.
  function words(node, attr, fills) {
    var text = node.getAttribute(attr) || "";
    Object.keys(fills).forEach(function (k) { text = text.replace("{" + k + "}", fills[k]); });
    return text;
  }
  function placed(d) {
    return d.spots.filter(function (s) { return s.lat !== null && s.lon !== null; });
  }
  function colours(spots) {
    var groups = {}, n = 0;
    spots.forEach(function (s) { if (!(s.group in groups)) { groups[s.group] = n++ % COLOURS; } });
    return groups;
  }
  function text(tag, value, cls) {
    var node = document.createElement(tag);
    node.textContent = value;
    if (cls) { node.className = cls; }
    return node;
  }

  // ------------------------------------------------------------------ the map
  // A marker icon that carries its reference and its name for screen readers (no inline
  // style anywhere: the page's CSP forbids it; colours are classes of room.css).
  var RoomIcon = window.L ? L.DivIcon.extend({
    createIcon: function (old) {
      var div = L.DivIcon.prototype.createIcon.call(this, old);
      if (this.options.ref) { div.setAttribute("data-ref", this.options.ref); }
      div.setAttribute("aria-label", this.options.label);
      return div;
    }
  }) : null;

  function makeMap(box, d) {
    var map = L.map(box, { maxZoom: 18, minZoom: 2, worldCopyJump: true });
    map.attributionControl.setPrefix(false);
    L.control.scale({ imperial: false }).addTo(map);
    map.createPane("basemap").style.zIndex = "250"; // under the markers, over the sea
    if (d.tiles) {
      L.tileLayer(d.tiles, { maxZoom: 18 }).addTo(map);
    } else {
      map.attributionControl.addAttribution("Natural Earth");
      fetch(VENDOR + "/world-atlas/countries-50m.json", { credentials: "same-origin" })
        .then(function (r) { return r.json(); })
        .then(function (topo) {
          var land = topojson.feature(topo, topo.objects.land);
          var borders = topojson.mesh(topo, topo.objects.countries,
                                      function (a, b) { return a !== b; });
          L.geoJSON(land, { pane: "basemap", interactive: false,
            style: { className: "land", color: "#3b4a57", weight: 1, fillColor: "#ece6d6",
                     fillOpacity: 1 } }).addTo(map);
          L.geoJSON(borders, { pane: "basemap", interactive: false,
            style: { className: "border", color: "#6b5d45", weight: 1, dashArray: "4 3",
                     fill: false } }).addTo(map);
          box.setAttribute("data-basemap", "drawn");
        });
    }
    var clusterWords = box.getAttribute("data-cluster") || "{n}: {refs}";
    state.cluster = L.markerClusterGroup({
      maxClusterRadius: 40, showCoverageOnHover: false, spiderfyOnMaxZoom: true,
      iconCreateFunction: function (c) {
        var kids = c.getAllChildMarkers(), refs = [], match = false;
        kids.forEach(function (m) {
          refs.push((m.options.room.match ? "MATCH " : "") + m.options.room.ref);
          match = match || m.options.room.match;
        });
        return new RoomIcon({
          className: "cluster" + (match ? " match" : ""), iconSize: [38, 38],
          html: "<span>" + kids.length + "</span>",
          label: clusterWords.replace("{n}", kids.length).replace("{refs}", refs.join(", "))
        });
      }
    });
    // Enter on a focused cluster does what a click does: zoom in, or fan out at the end.
    state.cluster.on("clusterkeypress", function (e) {
      if (e.originalEvent.keyCode !== 13) { return; }
      if (map.getZoom() >= map.getMaxZoom()) { e.layer.spiderfy(); }
      else { e.layer.zoomToBounds({ padding: [30, 30] }); }
    });
    state.cluster.addTo(map);
    state.pins = L.layerGroup().addTo(map);
    return map;
  }

  function popup(lines) {
    var div = document.createElement("div");
    lines.forEach(function (l, i) { div.appendChild(text(i ? "div" : "strong", l)); });
    return div;
  }

  function spotMarker(s, colour) {
    var label = (s.match ? "MATCH: " : "") + s.ref + " " + s.what + " — " + s.location +
      ", " + s.shown;
    var icon = new RoomIcon({ className: "spot c" + colour + (s.match ? " match" : ""),
                              iconSize: [18, 18], ref: s.ref, label: label });
    var m = L.marker([s.lat, s.lon], { icon: icon, title: label, keyboard: true, room: s });
    m.bindPopup(popup([(s.match ? "MATCH " : "") + s.ref + " " + s.what, s.location,
                       s.shown + " · " + s.tlp + (s.grade ? " · " + s.grade : "")]));
    return m;
  }

  function pinMarker(p) {
    var label = p.ref + " " + p.title + " — " + p.location + " · " + p.status;
    var icon = new RoomIcon({ className: "raid-pin status-" + p.status, iconSize: [22, 22],
                              html: "<span>R</span>", ref: p.ref, label: label });
    var m = L.marker([p.lat, p.lon], { icon: icon, title: label, keyboard: true, room: p });
    m.bindPopup(popup([p.ref + " " + p.title, p.location, p.status]));
    return m;
  }

  function fit(d) {
    var points = placed(d).map(function (s) { return [s.lat, s.lon]; })
      .concat(d.pins.map(function (p) { return [p.lat, p.lon]; }));
    if (!points.length) { state.map.setView([30, 0], 2); return; }
    state.map.fitBounds(L.latLngBounds(points).pad(0.15), { maxZoom: 14 });
  }

  // ------------------------------------------------------------- time slider
  function allTimes(d) {
    var seen = {};
    d.spots.forEach(function (s) { seen[s.observed] = true; });
    document.querySelectorAll(".timeline li[data-at]").forEach(function (li) {
      seen[li.getAttribute("data-at")] = true;
    });
    return Object.keys(seen).sort();
  }
  function limit() {
    var slider = byId("until"), t = state.times;
    return t.length ? t[Math.min(+slider.value, t.length - 1)] : null;
  }
  function after(at, until) {
    return until !== null && new Date(at).getTime() > new Date(until).getTime();
  }

  function draw(d) {
    var box = byId("map");
    if (!box || !state.map) { return; }
    var until = limit(), groups = colours(d.spots), all = placed(d);
    var shown = all.filter(function (s) { return !after(s.observed, until); });
    state.cluster.clearLayers();
    state.cluster.addLayers(shown.map(function (s) { return spotMarker(s, groups[s.group]); }));
    state.pins.clearLayers();
    d.pins.forEach(function (p) { state.pins.addLayer(pinMarker(p)); });
    box.setAttribute("aria-label", words(box, "data-label", { n: shown.length + d.pins.length }));
    // The timeline and the map's list follow the same slider.
    document.querySelectorAll(".timeline li[data-at], #sightings li[data-at]").forEach(
      function (li) { li.hidden = after(li.getAttribute("data-at"), until); });
    var out = byId("until-text");
    out.textContent = until ? new Date(until).toLocaleString(document.documentElement.lang ||
      undefined) + " (" + shown.length + "/" + all.length + ")" : "—";
    var empty = byId("map-empty");
    if (!all.length && !d.pins.length && !empty) {
      empty = text("p", box.getAttribute("data-empty"), "muted");
      empty.id = "map-empty";
      box.parentNode.insertBefore(empty, box.nextSibling);
    }
  }

  function legend(d) {
    var list = byId("legend");
    if (!list) { return; }
    var groups = colours(d.spots), seen = {};
    list.textContent = "";
    d.spots.forEach(function (s) {
      if (seen[s.group]) { return; }
      seen[s.group] = true;
      var li = document.createElement("li");
      li.appendChild(text("span", "", "swatch c" + groups[s.group]));
      li.appendChild(document.createTextNode(
        s.group === "other" ? byId("map").getAttribute("data-described") : s.group));
      list.appendChild(li);
    });
  }

  // ------------------------------------------------------------------ set-up
  function setup(kept) {
    var d = data();
    if (!d) { return; }
    var box = byId("map");
    if (box && window.L && !state.map) {
      state.map = makeMap(box, d);
      fit(d);
    } else if (state.map) {
      state.map.invalidateSize();
      var known = state.refs || {}, fresh = false;
      placed(d).concat(d.pins).forEach(function (x) { fresh = fresh || !known[x.ref]; });
      if (fresh) { fit(d); } // something new: the map moves to show it
    }
    state.refs = {};
    placed(d).concat(d.pins).forEach(function (x) { state.refs[x.ref] = true; });
    state.times = allTimes(d);
    var slider = byId("until");
    if (slider) {
      slider.max = String(Math.max(0, state.times.length - 1));
      slider.value = kept === null ? slider.max : kept;
      slider.oninput = function () { draw(data()); };
    }
    legend(d);
    draw(d);
    var reset = byId("map-reset");
    if (reset) { reset.onclick = function () { fit(data()); }; }
    var print = byId("print-briefing");
    if (print) { print.onclick = function () { window.print(); }; }
    Object.keys(state.refused).forEach(function (id) {
      var why = byId(id + "-why");
      if (why) { why.textContent = state.refused[id]; why.setAttribute("role", "alert"); }
    });
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
    return fetch(location.pathname, { credentials: "same-origin", cache: "no-store" })
      .then(function (r) {
        if (!r.ok) { location.reload(); throw new Error("gone"); }
        return r.text();
      })
      .then(function (html) {
        var doc = new DOMParser().parseFromString(html, "text/html");
        var fresh = doc.getElementById("content"), here = byId("content");
        var old = byId("until"), focused = document.activeElement && document.activeElement.id;
        var atEnd = !old || +old.value >= +old.max, kept = old ? old.value : null;
        // The map stays (its zoom, its layers); only its placeholder in the new page goes.
        var box = byId("map"), placeholder = fresh.querySelector("#map");
        if (box && placeholder) { placeholder.replaceWith(box); }
        here.replaceChildren.apply(here, Array.prototype.slice.call(fresh.childNodes));
        if (state.source) { state.source.close(); state.source = null; }
        setup(atEnd ? null : kept);
        if (focused && byId(focused)) { byId(focused).focus(); }
        var live = byId("live");
        if (live) {
          live.textContent = words(live, "data-updated", {
            time: new Date().toLocaleTimeString(document.documentElement.lang || undefined) });
        }
      })
      .catch(function () { /* the next event tries again */ });
  }

  // A tick by its checkbox: the form's own POST (same CSRF token, same `check`), answered
  // in one sentence when refused, shown beside the item.
  function tick(box) {
    var form = box.form, item = form.closest("li");
    var verb = box.checked ? "check" : "uncheck";
    var action = form.getAttribute("action").replace(/\/(check|uncheck)$/, "/" + verb);
    var why = form.querySelector(".why");
    box.disabled = true;
    fetch(action, {
      method: "POST", credentials: "same-origin",
      headers: { "content-type": "application/x-www-form-urlencoded", "x-room-fetch": "1" },
      body: new URLSearchParams(new FormData(form)).toString()
    }).then(function (r) {
      return r.json().then(function (j) { return { ok: r.ok, said: j.said }; });
    }).then(function (answer) {
      if (answer.ok) { delete state.refused[item.id]; }
      else {
        state.refused[item.id] = answer.said;
        box.checked = !box.checked;
        why.textContent = answer.said;
        why.setAttribute("role", "alert");
      }
      box.disabled = false;
      return refresh();
    }).catch(function () { box.checked = !box.checked; box.disabled = false; });
  }

  document.addEventListener("change", function (e) {
    var t = e.target;
    if (t && t.matches && t.matches(".tick input[type=checkbox]")) { tick(t); }
  });
  document.addEventListener("DOMContentLoaded", function () { setup(null); });
})();
