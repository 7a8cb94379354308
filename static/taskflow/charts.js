/* Thin wrapper over the vendored uPlot: responsive time-series and bar charts in our colours,
   time axes in the browser's locale and zone (TF.fmtClock / TF.fmtDay), x ranges sized to the
   data (a single point gets a small window around it, none a plain note instead of an axis). */
(function () {
  "use strict";
  var DAY = 86400;

  function cssVar(name, fallback) {
    var v = getComputedStyle(document.documentElement).getPropertyValue(name).trim();
    return v || fallback;
  }

  function size(container, height) {
    return { width: Math.max(240, container.clientWidth || 300), height: height || 180 };
  }

  /* Tick labels: times within a day, the date under the first tick of each day; dates alone
     when ticks are a day or more apart. */
  function timeTicks(u, splits, axisIdx, foundSpace, foundIncr) {
    var lastDay = null;
    return splits.map(function (s) {
      var ms = s * 1000;
      if (foundIncr >= DAY) return TF.fmtDay(ms);
      var day = TF.fmtDay(ms);
      var text = TF.fmtClock(ms, foundIncr < 60) + (day !== lastDay ? "\n" + day : "");
      lastDay = day;
      return text;
    });
  }

  /* The x range: the caller's (the metrics page's whole window), else the data's; one point
     gets `pad` seconds either side, no point the last hour (the chart then shows `empty`). */
  function xRange(opts) {
    return function (u, min, max) {
      if (opts.xRange) return opts.xRange;
      var pad = opts.xPad || 60;
      if (min === null || min === undefined) { var now = Date.now() / 1000; return [now - 3600, now]; }
      if (min === max) return [min - pad, max + pad];
      return [min, max];
    };
  }

  function fitX(plot, data, opts) {
    var xs = data[0] || [];
    var range = xRange(opts)(plot, xs.length ? xs[0] : null, xs.length ? xs[xs.length - 1] : null);
    plot.setScale("x", { min: range[0], max: range[1] });
  }

  function showEmpty(plot, data) {
    var note = plot.tfEmptyNote;
    if (!note) return;
    var empty = !data[0] || !data.slice(1).some(function (ys) {
      return ys.some(function (v) { return v !== null && v !== undefined; });
    });
    note.hidden = !empty;
    plot.root.classList.toggle("tf-chart-blank", empty);
  }

  /* series: [{label, color, fill, value: fn(v) -> text, bars: bool, points, line: false}];
     data: [xs, ys...]; empty: text shown instead of the plot while no series has a value. */
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
    function noLine() { return null; }
    var config = Object.assign(size(container, opts.height), {
      class: "tf-uplot",
      cursor: { drag: { x: false, y: false } },
      legend: { show: opts.legend !== false },
      scales: {
        x: { time: true, range: xRange(opts) },
        y: { range: opts.yRange || function (u, min, max) { return [0, Math.max(max || 0, opts.yMin || 1) * 1.1]; } },
      },
      axes: [
        { stroke: fg, grid: { stroke: grid, width: 1 }, ticks: { stroke: grid, width: 1 }, values: timeTicks, size: 44 },
        axis(opts.yFormat ? function (u, splits) { return splits.map(opts.yFormat); } : undefined),
      ],
      series: [{ value: function (u, v) { return v === null || v === undefined ? "—" : TF.fmtTime(v * 1000); } }].concat(opts.series.map(function (s) {
        return {
          label: s.label, stroke: s.color, width: 2, fill: s.fill || undefined,
          paths: s.bars ? bars(s) : (s.line === false ? noLine : undefined),
          // points: always when asked, never on bars, else uPlot's rule (shown while sparse,
          // so a single sample is a dot rather than nothing)
          points: Object.assign({ size: 6, fill: s.color }, s.points || s.bars ? { show: !s.bars } : {}),
          value: s.value ? function (u, v) { return v === null || v === undefined ? "—" : s.value(v); } : undefined,
          spanGaps: true,
        };
      })),
    });
    container.replaceChildren();
    var plot = new uPlot(config, opts.data, container);
    // uPlot widens a lone time point to days either side: size x to the data ourselves, on
    // every setData (the live viewer calls it directly)
    var setData = plot.setData.bind(plot);
    plot.setData = function (data, resetScales) {
      setData(data, resetScales);
      fitX(plot, data, opts);
      showEmpty(plot, data);
    };
    fitX(plot, opts.data, opts);
    if (opts.empty) {
      plot.tfEmptyNote = TF.el("p", { class: "tf-chart-empty", text: opts.empty });
      container.appendChild(plot.tfEmptyNote);
      showEmpty(plot, opts.data);
    }
    if (window.ResizeObserver) {
      new ResizeObserver(function () { plot.setSize(size(container, opts.height)); }).observe(container);
    }
    container.setAttribute("data-tf-drawn", "1");
    return plot;
  }

  window.TFCharts = { chart: chart, cssVar: cssVar };
})();
