/* Thin wrapper over the vendored uPlot: responsive time-series and bar charts in our colours. */
(function () {
  "use strict";

  function cssVar(name, fallback) {
    var v = getComputedStyle(document.documentElement).getPropertyValue(name).trim();
    return v || fallback;
  }

  function size(container, height) {
    return { width: Math.max(240, container.clientWidth || 300), height: height || 180 };
  }

  /* series: [{label, color, fill, value: fn(v) -> text, bars: bool}] ; data: [xs, ys...] */
  function chart(container, opts) {
    var fg = cssVar("--body-quiet-color", "#666");
    var grid = cssVar("--hairline-color", "#e5e5e5");
    var axis = function (fmt) {
      return { stroke: fg, grid: { stroke: grid, width: 1 }, ticks: { stroke: grid, width: 1 }, values: fmt, size: 78 };
    };
    function bars(s) {  // side-by-side bars when a series says which side (align -1 | 1)
      if (!uPlot.paths || !uPlot.paths.bars) return undefined;
      return uPlot.paths.bars({ size: [s.barAlign ? 0.4 : 0.7, 30], align: s.barAlign || 0 });
    }
    var config = Object.assign(size(container, opts.height), {
      class: "tf-uplot",
      cursor: { drag: { x: false, y: false } },
      legend: { show: opts.legend !== false },
      scales: { x: { time: true }, y: { range: opts.yRange || function (u, min, max) { return [0, Math.max(max || 0, opts.yMin || 1) * 1.1]; } } },
      axes: [
        { stroke: fg, grid: { stroke: grid, width: 1 }, ticks: { stroke: grid, width: 1 } },
        axis(opts.yFormat ? function (u, splits) { return splits.map(opts.yFormat); } : undefined),
      ],
      series: [{}].concat(opts.series.map(function (s) {
        return {
          label: s.label, stroke: s.color, width: 2, fill: s.fill || undefined,
          paths: s.bars ? bars(s) : undefined, points: { show: s.points !== undefined ? s.points : false },
          value: s.value ? function (u, v) { return v === null || v === undefined ? "—" : s.value(v); } : undefined,
          spanGaps: true,
        };
      })),
    });
    container.replaceChildren();
    var plot = new uPlot(config, opts.data, container);
    if (window.ResizeObserver) {
      new ResizeObserver(function () { plot.setSize(size(container, opts.height)); }).observe(container);
    }
    container.setAttribute("data-tf-drawn", "1");
    return plot;
  }

  window.TFCharts = { chart: chart, cssVar: cssVar };
})();
