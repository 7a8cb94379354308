/* Metrics page: the history GET /api/metrics (or /api/jobs/<id>/metrics) returns, drawn with
   uPlot: hourly points for 7 days, daily beyond, the current period included. Every chart's
   time axis spans the chosen range (to now), whatever the number of points. */
(function () {
  "use strict";
  document.addEventListener("DOMContentLoaded", function () {
    var history = TF.jsonData("tf-metrics-data");
    if (!history || !window.uPlot) return;
    var points = history.points;
    function column(key) { return points.map(function (p) { return p[key]; }); }
    var t = points.map(function (p) { return Date.parse(p.periodStart) / 1000; });
    var rate = points.map(function (p) { return p.successRate === null ? null : p.successRate * 100; });
    function box(name) { return document.querySelector("[data-tf-metrics-chart=" + name + "]"); }
    var now = Date.now() / 1000;
    var range = [now - history.rangeDays * 86400, now];
    var draw = function (name, opts) {
      var empty = name === "cpu" || name === "mem" ? "No samples in this range (runs too short to sample, or HTTP jobs)." : "No finished runs in this range.";
      TFCharts.chart(box(name), Object.assign({ xRange: range, empty: empty }, opts));
    };
    var pct = function (v) { return v.toFixed(1) + " %"; };
    draw("outcomes", {
      data: [t, column("successCount"), column("failureCount")], yMin: 1,
      series: [
        { label: "succeeded", color: "#27ae60", fill: "rgba(39,174,96,0.35)", bars: true, barAlign: -1, value: String },
        { label: "failed", color: "#eb5757", fill: "rgba(235,87,87,0.45)", bars: true, barAlign: 1, value: String },
      ],
    });
    draw("rate", {
      data: [t, rate], yRange: function () { return [0, 100]; }, yFormat: function (v) { return v + " %"; },
      series: [{ label: "success rate", color: "#2f80ed", points: true, value: pct }],
    });
    draw("cpu", {
      data: [t, column("avgCpuPercent"), column("maxCpuPercent")], yMin: 10, yFormat: function (v) { return v + " %"; },
      series: [
        { label: "avg", color: "#2f80ed", fill: "rgba(47,128,237,0.12)", points: true, value: pct },
        { label: "max", color: "#9b51e0", points: true, value: pct },
      ],
    });
    draw("mem", {
      data: [t, column("avgMemoryBytes"), column("maxMemoryBytes")], yMin: 1024 * 1024, yFormat: TF.fmtBytes,
      series: [
        { label: "avg", color: "#27ae60", fill: "rgba(39,174,96,0.12)", points: true, value: TF.fmtBytes },
        { label: "max", color: "#f2994a", points: true, value: TF.fmtBytes },
      ],
    });
    draw("duration", {
      data: [t, column("avgDuration")], yMin: 100, yFormat: TF.fmtDuration,
      series: [{ label: "avg duration", color: "#56ccf2", fill: "rgba(86,204,242,0.15)", points: true, value: TF.fmtDuration }],
    });
  });
})();
