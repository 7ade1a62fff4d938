// Charts on the trends screens (vigil.web.trends), drawn with the vendored uPlot. Optional:
// every chart has an HTML table with the same numbers next to it (the accessible
// equivalent, and what a browser without scripts shows), so this file only adds a picture.
//
// A chart is a <figure data-trend-chart="<id of a JSON block>">; the block is a
// <script type="application/json"> (data, never executed: the console's CSP allows no
// inline script) shaped as:
//   {"x": [epoch seconds...],
//    "series": [{"label": "...", "values": [...], "role": "observed"|"expected"|"upper"|"value"}],
//    "start": epoch seconds or null}
// "expected" and "upper" together draw the baseline band; "start" marks where the rise began.
// The explorer's dimension select also submits itself on change (Show stays for no JS).
(function () {
  "use strict";
  var PALETTE = ["#2f5fd0", "#b42318", "#1f7a4d", "#a35f00", "#6b3fb5", "#0f7285"];
  var MUTED = "#5b6475";

  function readData(figure) {
    var block = document.getElementById(figure.getAttribute("data-trend-chart"));
    if (!block) return null;
    try { return JSON.parse(block.textContent); } catch (e) { return null; }
  }

  function build(data) {
    var series = [{}];
    var columns = [data.x];
    var expected = -1;
    var upper = -1;
    var colour = 0;
    data.series.forEach(function (s) {
      var spec = { label: s.label, width: 2, points: { show: false }, spanGaps: true };
      if (s.role === "expected") {
        spec.stroke = MUTED;
        spec.dash = [6, 4];
        expected = columns.length;
      } else if (s.role === "upper") {
        spec.stroke = "rgba(91,100,117,0.35)";
        spec.width = 1;
        upper = columns.length;
      } else {
        spec.stroke = PALETTE[colour % PALETTE.length];
        colour += 1;
      }
      series.push(spec);
      columns.push(s.values);
    });
    var bands = [];
    if (expected > 0 && upper > 0) {
      bands.push({ series: [upper, expected], fill: "rgba(91,100,117,0.14)" });
    }
    return { series: series, columns: columns, bands: bands };
  }

  // A red vertical line where the alert's run above the baseline began.
  function startMarker(start) {
    return function (u) {
      if (start == null) return;
      var x = u.valToPos(start, "x", true);
      if (!(x >= u.bbox.left && x <= u.bbox.left + u.bbox.width)) return;
      var ctx = u.ctx;
      ctx.save();
      ctx.strokeStyle = "#b42318";
      ctx.lineWidth = 2 * (window.devicePixelRatio || 1);
      ctx.setLineDash([4, 3]);
      ctx.beginPath();
      ctx.moveTo(x, u.bbox.top);
      ctx.lineTo(x, u.bbox.top + u.bbox.height);
      ctx.stroke();
      ctx.restore();
    };
  }

  // The x axis in the console's style, UTC: "21 Nov" at a day's tick, "14:00" within a day
  // (uPlot's default is local time in US order, "11/21").
  var MONTHS = ["Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"];
  function pad(n) { return (n < 10 ? "0" : "") + n; }
  function tickLabels(u, splits) {
    return splits.map(function (t) {
      var d = new Date(t * 1000);
      var day = d.getUTCDate() + " " + MONTHS[d.getUTCMonth()];
      if (d.getUTCHours() === 0 && d.getUTCMinutes() === 0) return day;
      return pad(d.getUTCHours()) + ":" + pad(d.getUTCMinutes());
    });
  }

  function size(figure) {
    var box = figure.querySelector(".tr-canvas");
    var width = Math.max(240, Math.floor(box.clientWidth));
    var height = parseInt(figure.getAttribute("data-height") || "220", 10);
    return { width: width, height: height };
  }

  function draw(figure) {
    if (typeof window.uPlot !== "function") return;
    var data = readData(figure);
    if (!data || !data.x || data.x.length === 0) return;
    var built = build(data);
    var dims = size(figure);
    var opts = {
      width: dims.width,
      height: dims.height,
      legend: { show: false },
      cursor: { drag: { x: false, y: false } },
      scales: { x: { time: true }, y: { range: function (u, min, max) { return [0, Math.max(1, max * 1.1)]; } } },
      series: built.series,
      bands: built.bands,
      axes: [
        { stroke: MUTED, grid: { stroke: "#eef1f6" }, values: tickLabels },
        { stroke: MUTED, grid: { stroke: "#eef1f6" }, size: 48 }
      ],
      hooks: { draw: [startMarker(data.start)] }
    };
    var box = figure.querySelector(".tr-canvas");
    box.textContent = "";
    var plot = new window.uPlot(opts, built.columns, box);
    figure.classList.add("tr-drawn");
    var pending = null;
    window.addEventListener("resize", function () {
      if (pending) window.clearTimeout(pending);
      pending = window.setTimeout(function () { plot.setSize(size(figure)); }, 120);
    });
  }

  function init() {
    var figures = document.querySelectorAll("figure[data-trend-chart]");
    for (var i = 0; i < figures.length; i++) draw(figures[i]);
    var selects = document.querySelectorAll("select[data-autosubmit]");
    for (var j = 0; j < selects.length; j++) {
      selects[j].addEventListener("change", function (ev) {
        var form = ev.target.form;
        if (form) form.requestSubmit ? form.requestSubmit() : form.submit();
      });
    }
  }

  if (document.readyState === "loading") document.addEventListener("DOMContentLoaded", init);
  else init();
})();
