// Metrics dashboard, metric detail and goals (templates/metrics/*.html, goals/*.html).
//
// Charts: every [data-chart] element names a <script type="application/json"> block holding
// {x: [bucket starts, Unix seconds], lines: [{label, values}], unit, kind: "line"|"bars",
// target: number|null}; it is drawn with the vendored uPlot, in UTC. The numbers are also in
// an HTML table next to it (the accessible equivalent): scripts hide those tables behind a
// "Table" toggle (a button with aria-expanded); without scripts they simply show.
//
// The filter bar's own days show only when the period is "These dates…".
(function () {
  "use strict";
  // Eight distinguishable colours (Okabe-Ito order), the same as .mx-c0.. in metrics.css.
  var COLOURS = ["#2f5fd0", "#d55e00", "#009e73", "#cc79a7", "#8a6d00", "#56b4e9", "#6b3fa0", "#1d2330"];
  var TARGET = "#b42318";

  function human(seconds) {
    var s = Math.abs(Math.round(seconds));
    var d = Math.floor(s / 86400), h = Math.floor((s % 86400) / 3600), m = Math.floor((s % 3600) / 60);
    if (d) return d + "d " + h + "h";
    if (h) return h + "h " + (m < 10 ? "0" : "") + m + "m";
    if (m) return m + "m";
    return s + "s";
  }
  // An axis tick on a round duration: "30m", "1h", "6h", "1d", "1d 12h" (no "1h 00m").
  function tick(seconds) {
    var s = Math.abs(Math.round(seconds)), out = [];
    var d = Math.floor(s / 86400), h = Math.floor((s % 86400) / 3600), m = Math.floor((s % 3600) / 60);
    if (d) out.push(d + "d");
    if (h) out.push(h + "h");
    if (m && !d) out.push(m + "m");
    if (!out.length) out.push((s % 60) + "s");
    return out.join(" ");
  }
  // Steps a duration axis may use, so its ticks fall on round times (1h, 2h, 6h, 1d, ...).
  var DURATION_STEPS = [1, 5, 10, 15, 30, 60, 300, 600, 900, 1800, 3600, 7200, 10800, 21600,
    43200, 86400, 172800, 259200, 604800, 1209600, 2592000];
  // The y axis is as wide as its longest label (uPlot calls this as the labels change), so
  // "12h 30m" or "1,204" is never cut at the canvas edge.
  function axisSize(u, values, axisIdx, cycleNum) {
    var axis = u.axes[axisIdx];
    if (cycleNum > 1 && axis._size) return axis._size;
    var size = (axis.ticks && axis.ticks.size || 0) + (axis.gap || 0) + 8;
    var longest = (values || []).reduce(function (a, v) { return v != null && String(v).length > a.length ? String(v) : a; }, "");
    if (longest) {
      u.ctx.font = axis.font[0];
      size += u.ctx.measureText(longest).width / (window.devicePixelRatio || 1);
    }
    return Math.ceil(Math.max(size, 32));
  }
  var MONTHS = ["Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"];
  // Bucket starts are UTC midnights: "25 Oct", the console's way of writing a day.
  function day(ts) {
    var d = new Date(ts * 1000);
    return d.getUTCDate() + " " + MONTHS[d.getUTCMonth()];
  }
  function formatter(unit) {
    return function (v) {
      if (v == null) return "";
      if (unit === "ratio") return Math.round(v * 1000) / 10 + "%";
      if (unit === "seconds") return human(v);
      if (unit === "per_hour") return (Math.round(v * 10) / 10) + "/h";
      if (unit === "count") return Math.abs(v) >= 1000 ? (Math.round(v / 100) / 10) + "k" : String(Math.round(v * 10) / 10);
      return String(Math.round(v * 100) / 100);
    };
  }

  function yAxis(unit, fmt) {
    var axis = { stroke: "#5b6475", grid: { stroke: "#eef1f6" }, ticks: { stroke: "#dde1e8" },
                 size: axisSize, values: function (u, vals) { return vals.map(fmt); } };
    if (unit === "seconds") {
      axis.incrs = DURATION_STEPS;
      axis.space = 24;
      axis.values = function (u, vals) { return vals.map(tick); };
    }
    return axis;
  }

  function draw(el) {
    var block = document.getElementById(el.getAttribute("data-chart"));
    if (!block || typeof uPlot === "undefined") return;
    var spec;
    try { spec = JSON.parse(block.textContent); } catch (e) { return; }
    if (!spec.x || !spec.x.length) return;
    var fmt = formatter(spec.unit);
    var data = [spec.x];
    var series = [{}];
    var single = spec.lines.length === 1;
    spec.lines.forEach(function (line, i) {
      data.push(line.values);
      var colour = COLOURS[i % COLOURS.length];
      var s = { label: line.label, stroke: colour, width: 2, value: function (u, v) { return fmt(v); } };
      if (spec.kind === "bars" && single) {
        s.fill = colour + "99";
        s.paths = uPlot.paths.bars({ size: [0.7, 40] });
        s.points = { show: false };
      } else {
        s.points = { show: spec.x.length <= 31, size: 5 };
      }
      series.push(s);
    });
    if (spec.target != null) {
      data.push(spec.x.map(function () { return spec.target; }));
      series.push({ label: "Target", stroke: TARGET, width: 1.5, dash: [6, 4], points: { show: false },
                    value: function (u, v) { return fmt(v); } });
    }
    var large = el.classList.contains("mx-large");
    var height = large ? 320 : 150;
    var yRange = spec.unit === "ratio" ? function (u, min, max) { return [0, Math.max(1, max || 0)]; }
      : function (u, min, max) {
        var empty = spec.unit === "seconds" ? 3600 : 1;  // an axis with nothing yet
        return [Math.min(0, min || 0), max > 0 ? max * 1.1 : empty];
      };
    var opts = {
      width: Math.max(200, el.clientWidth),
      height: height,
      tzDate: function (ts) { return uPlot.tzDate(new Date(ts * 1e3), "Etc/UTC"); },
      legend: { show: false },
      cursor: { drag: { x: false, y: false }, points: { size: 6 } },
      scales: { x: { time: true }, y: { range: yRange } },
      axes: [
        { stroke: "#5b6475", grid: { stroke: "#eef1f6" }, ticks: { stroke: "#dde1e8" },
          // Whole days only (1 day, 2 days, a week, ...): a bucket is never less than a day.
          incrs: [86400, 172800, 604800, 1209600, 2419200, 7776000], space: 44,
          values: function (u, splits) { return splits.map(day); } },
        yAxis(spec.unit, fmt),
      ],
      series: series,
    };
    el.textContent = "";
    var plot = new uPlot(opts, data, el);
    // Canvases are not focusable: the chart stays out of the tab order (its table is not).
    var resize = function () { plot.setSize({ width: Math.max(200, el.clientWidth), height: height }); };
    if (typeof ResizeObserver !== "undefined") {
      var last = el.clientWidth;
      new ResizeObserver(function () {
        if (el.clientWidth !== last) { last = el.clientWidth; resize(); }
      }).observe(el);
    }
  }

  function tables() {
    document.querySelectorAll("[data-table-toggle]").forEach(function (button) {
      var table = document.getElementById(button.getAttribute("aria-controls"));
      if (!table) return;
      table.hidden = true;
      button.hidden = false;
      button.addEventListener("click", function () {
        var open = button.getAttribute("aria-expanded") === "true";
        button.setAttribute("aria-expanded", open ? "false" : "true");
        table.hidden = open;
      });
    });
  }

  function period() {
    var form = document.querySelector("[data-mx-filters]");
    if (!form) return;
    var select = form.querySelector('[name="period"]');
    var sync = function () {
      form.classList.toggle("mx-custom", select.value === "custom");
    };
    form.classList.add("mx-scripted");
    select.addEventListener("change", sync);
    sync();
  }

  function start() {
    period();
    tables();
    document.querySelectorAll("[data-chart]").forEach(draw);
  }
  if (document.readyState === "loading") document.addEventListener("DOMContentLoaded", start);
  else start();
})();
