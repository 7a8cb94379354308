/* Metrics page: rollup series (hourly for 7 days, daily beyond) drawn with uPlot. */
(function () {
  "use strict";
  document.addEventListener("DOMContentLoaded", function () {
    var data = TF.jsonData("tf-metrics-data");
    if (!data || !window.uPlot) return;
    var t = data.t;
    var rate = data.runs.map(function (n, i) { return n ? (data.success[i] / n) * 100 : null; });
    function box(name) { return document.querySelector("[data-tf-metrics-chart=" + name + "]"); }
    var pct = function (v) { return v.toFixed(1) + " %"; };
    TFCharts.chart(box("outcomes"), {
      data: [t, data.success, data.failure], yMin: 1,
      series: [
        { label: "succeeded", color: "#27ae60", fill: "rgba(39,174,96,0.35)", bars: true, barAlign: -1, value: String },
        { label: "failed", color: "#eb5757", fill: "rgba(235,87,87,0.45)", bars: true, barAlign: 1, value: String },
      ],
    });
    TFCharts.chart(box("rate"), {
      data: [t, rate], yRange: function () { return [0, 100]; }, yFormat: function (v) { return v + " %"; },
      series: [{ label: "success rate", color: "#2f80ed", points: true, value: pct }],
    });
    TFCharts.chart(box("cpu"), {
      data: [t, data.cpuAvg, data.cpuMax], yMin: 10, yFormat: function (v) { return v + " %"; },
      series: [
        { label: "avg", color: "#2f80ed", fill: "rgba(47,128,237,0.12)", points: true, value: pct },
        { label: "max", color: "#9b51e0", points: true, value: pct },
      ],
    });
    TFCharts.chart(box("mem"), {
      data: [t, data.memAvg, data.memMax], yMin: 1024 * 1024, yFormat: TF.fmtBytes,
      series: [
        { label: "avg", color: "#27ae60", fill: "rgba(39,174,96,0.12)", points: true, value: TF.fmtBytes },
        { label: "max", color: "#f2994a", points: true, value: TF.fmtBytes },
      ],
    });
    TFCharts.chart(box("duration"), {
      data: [t, data.durationAvg], yMin: 1000, yFormat: TF.fmtDuration,
      series: [{ label: "avg duration", color: "#56ccf2", fill: "rgba(86,204,242,0.15)", points: true, value: TF.fmtDuration }],
    });
  });
})();
