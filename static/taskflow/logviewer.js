/* Live log viewer: WebSocket stream (log, log_batch, metric, status), ANSI colours, line numbers,
   follow/pause, a bounded DOM (tail shown, earlier lines on demand), progress, CPU/memory charts.
   Everything comes from the API: the page embeds the run as GET /api/runs/<id> returns it, the
   samples come from /api/runs/<id>/metrics, and without a socket it polls /api/runs/<id> and
   /logs (paced for the API's per-user rate limit). */
(function () {
  "use strict";

  var TAIL = 1000;        // lines replayed on open
  var DOM_MAX = 5000;     // lines kept in the page while following; older ones reload on demand
  var PAGE = 1000;        // "load earlier" page size
  var FLUSH_MAX = 3000;   // lines painted per animation frame
  var POLL_MS = 2500;     // without a socket: one run read (+ a log page when it grew) a poll
  var SAMPLES_EVERY = 3;  // polls between sample reads (the whole, thinned series each time)
  var FINISHED = ["success", "failure", "timeout", "cancelled", "skipped"];
  var LABELS = { pending: "Pending", running: "Running", success: "Success", failure: "Failure",
    timeout: "Timeout", cancelled: "Cancelled", skipped: "Skipped" };
  var PROGRESS = /(\d{1,3}(?:\.\d+)?)\s?%/g;

  /* ---- ANSI SGR -> spans (our own small renderer; other escape sequences are dropped) ---- */
  var ESC = /\x1b\[([0-9;?]*)([A-Za-z])/g;
  var PALETTE256 = null;

  function color256(n) {
    if (!PALETTE256) {
      PALETTE256 = [];
      var base = ["#000", "#c23", "#3a3", "#b80", "#36c", "#a3a", "#1aa", "#ccc",
        "#666", "#f55", "#5d5", "#ee5", "#69f", "#e6e", "#5ee", "#fff"];
      for (var i = 0; i < 16; i++) PALETTE256.push(base[i]);
      var steps = [0, 95, 135, 175, 215, 255];
      for (var r = 0; r < 6; r++) for (var g = 0; g < 6; g++) for (var b = 0; b < 6; b++) {
        PALETTE256.push("rgb(" + steps[r] + "," + steps[g] + "," + steps[b] + ")");
      }
      for (var k = 0; k < 24; k++) { var v = 8 + k * 10; PALETTE256.push("rgb(" + v + "," + v + "," + v + ")"); }
    }
    return PALETTE256[n] || null;
  }

  function applySgr(state, params) {
    var codes = params === "" ? [0] : params.split(";").map(Number);
    for (var i = 0; i < codes.length; i++) {
      var c = codes[i];
      if (c === 0) { state.fg = state.bg = null; state.bold = state.dim = state.italic = state.underline = false; }
      else if (c === 1) state.bold = true;
      else if (c === 2) state.dim = true;
      else if (c === 3) state.italic = true;
      else if (c === 4) state.underline = true;
      else if (c === 22) state.bold = state.dim = false;
      else if (c === 23) state.italic = false;
      else if (c === 24) state.underline = false;
      else if (c >= 30 && c <= 37) state.fg = "c" + (c - 30);
      else if (c >= 90 && c <= 97) state.fg = "c" + (c - 90 + 8);
      else if (c === 39) state.fg = null;
      else if (c >= 40 && c <= 47) state.bg = "c" + (c - 40);
      else if (c >= 100 && c <= 107) state.bg = "c" + (c - 100 + 8);
      else if (c === 49) state.bg = null;
      else if ((c === 38 || c === 48) && codes[i + 1] === 5) {
        var col = color256(codes[i + 2]); if (c === 38) state.fg = col; else state.bg = col; i += 2;
      } else if ((c === 38 || c === 48) && codes[i + 1] === 2) {
        var rgb = "rgb(" + codes[i + 2] + "," + codes[i + 3] + "," + codes[i + 4] + ")";
        if (c === 38) state.fg = rgb; else state.bg = rgb; i += 4;
      }
    }
  }

  function styledSpan(text, state) {
    var span = document.createElement("span");
    span.textContent = text;
    var cls = [];
    if (state.fg) { if (state.fg[0] === "c") cls.push("tf-fg" + state.fg.slice(1)); else span.style.color = state.fg; }
    if (state.bg) { if (state.bg[0] === "c") cls.push("tf-bg" + state.bg.slice(1)); else span.style.backgroundColor = state.bg; }
    if (state.bold) cls.push("tf-b");
    if (state.dim) cls.push("tf-dim");
    if (state.italic) cls.push("tf-i");
    if (state.underline) cls.push("tf-u");
    if (cls.length) span.className = cls.join(" ");
    return span;
  }

  function renderAnsi(target, text) {
    if (text.indexOf("\x1b") < 0) { target.textContent = text; return; }
    var state = {}, last = 0, m;
    ESC.lastIndex = 0;
    while ((m = ESC.exec(text)) !== null) {
      if (m.index > last) target.appendChild(styledSpan(text.slice(last, m.index), state));
      if (m[2] === "m") applySgr(state, m[1]);
      last = ESC.lastIndex;
    }
    if (last < text.length) target.appendChild(styledSpan(text.slice(last), state));
  }

  /* ---- the viewer ---- */
  function Viewer(root, data) {
    this.root = root;
    this.data = data;
    this.log = root.querySelector("[data-tf-log]");
    this.queue = [];
    this.first = null;          // first line number in the DOM
    this.last = 0;              // highest line number received
    this.follow = true;
    this.run = data.run;
    this.status = data.run.status;
    this.startedAt = data.run.startedAt ? new Date(data.run.startedAt) : null;
    this.duration = data.run.duration;
    this.samples = { t: [], cpu: [], mem: [] };
    this.socket = null;
    this.polling = null;
    this.flushScheduled = false;
    this.finalSeen = FINISHED.indexOf(data.run.status) >= 0;
  }

  Viewer.prototype.start = function () {
    var self = this;
    this.initCharts();
    this.samplesLoaded = this.loadSamples();
    this.setStatus(this.run.status, this.run.exitCode, this.run.duration);
    this.tailStart = Math.max(0, (this.run.logLines || 0) - TAIL);
    this.last = this.tailStart;
    this.first = this.tailStart + 1;
    this.updateEarlier();
    this.bindControls();
    setInterval(function () { self.tickElapsed(); }, 1000);
    this.tickElapsed();
    this.connect();
  };

  Viewer.prototype.bindControls = function () {
    var self = this, root = this.root;
    var followBtn = root.querySelector("[data-tf-follow]");
    followBtn.addEventListener("click", function () { self.setFollow(!self.follow); });
    root.querySelector("[data-tf-end]").addEventListener("click", function () {
      self.setFollow(true); self.scrollEnd();
    });
    root.querySelector("[data-tf-earlier]").addEventListener("click", function () { self.loadEarlier(); });
    this.log.addEventListener("scroll", function () {
      if (self.programmaticScroll) { self.programmaticScroll = false; return; }
      var atEnd = self.log.scrollHeight - self.log.scrollTop - self.log.clientHeight < 24;
      if (!atEnd && self.follow) self.setFollow(false);   // reading back: stop jumping
      else if (atEnd && !self.follow) self.setFollow(true);
    });
  };

  Viewer.prototype.setFollow = function (on) {
    this.follow = on;
    var btn = this.root.querySelector("[data-tf-follow]");
    btn.textContent = on ? "Pause" : "Follow";
    btn.setAttribute("aria-pressed", on ? "true" : "false");
    if (on) this.scrollEnd();
  };

  Viewer.prototype.scrollEnd = function () {
    this.programmaticScroll = true;
    this.log.scrollTop = this.log.scrollHeight;
  };

  Viewer.prototype.setLive = function (state, text) {
    this.root.querySelector("[data-tf-live]").className = "tf-dot tf-dot-" + state;
    this.root.querySelector("[data-tf-live-text]").textContent = text;
  };

  /* ---- transport ---- */
  Viewer.prototype.connect = function () {
    var self = this;
    if (this.finalSeen && this.run.logLines === 0) { this.setLive("off", "finished"); return; }
    var ws;
    try {
      // batch=1: floods arrive as log_batch frames (per-line "log" messages are the default)
      ws = new WebSocket(TF.wsUrl(this.data.wsPath + "?after=" + this.last + "&batch=1"));
    } catch (e) { this.startPolling(); return; }
    this.socket = ws;
    var opened = false;
    ws.onopen = function () { opened = true; self.setLive("on", "live"); };
    ws.onmessage = function (event) {
      var msg;
      try { msg = JSON.parse(event.data); } catch (e) { return; }
      self.handle(msg);
    };
    ws.onclose = function (event) {
      self.socket = null;
      if (self.finalSeen) { self.setLive("off", "finished — stream closed"); return; }
      if (event.code === 4404 || event.code === 4401) { self.setLive("off", "not allowed (" + event.code + ")"); return; }
      // refused, dropped or never opened: poll the API, retry the socket later
      self.startPolling();
      setTimeout(function () { if (!self.finalSeen) { self.stopPolling(); self.connect(); } }, opened ? 3000 : 15000);
    };
  };

  Viewer.prototype.handle = function (msg) {
    if (msg.type === "log") this.enqueue([msg]);
    else if (msg.type === "log_batch") this.enqueue(msg.lines || []);
    else if (msg.type === "metric") { this.addSample(msg); this.redrawCharts(); }
    else if (msg.type === "status") {
      if (msg.status === "running" && !this.startedAt && msg.timestamp) this.startedAt = new Date(msg.timestamp);
      this.setStatus(msg.status, msg.exitCode, msg.duration);
    }
  };

  Viewer.prototype.startPolling = function () {
    var self = this;
    if (this.polling) return;
    this.setLive("poll", "polling");
    var busy = false, polls = 1;  // start() has just read the samples
    function poll() {
      if (busy) return;
      busy = true;
      // the run first: once it says finished, the engine has stored every line
      TF.api(self.data.runUrl).then(function (run) {
        var finished = FINISHED.indexOf(run.status) >= 0;
        var lines = run.logLines > self.last
          ? TF.api(self.data.logsUrl + "?after=" + self.last + "&limit=" + PAGE) : null;
        var samples = finished || polls++ % SAMPLES_EVERY === 0 ? self.loadSamples() : null;
        return Promise.all([lines, samples]).then(function (res) {
          if (res[0]) self.enqueue(res[0].lines);
          if (run.startedAt && !self.startedAt) self.startedAt = new Date(run.startedAt);
          self.setStatus(run.status, run.exitCode, run.duration);
          if (finished && !(res[0] && res[0].hasMore)) { self.stopPolling(); self.setLive("off", "finished"); }
        });
      }).catch(function () { self.setLive("off", "connection lost, retrying"); })
        .then(function () { busy = false; });
    }
    this.polling = setInterval(poll, POLL_MS);
    poll();
  };

  Viewer.prototype.stopPolling = function () {
    if (this.polling) clearInterval(this.polling);
    this.polling = null;
  };

  /* ---- lines ---- */
  Viewer.prototype.enqueue = function (lines) {
    for (var i = 0; i < lines.length; i++) {
      var line = lines[i];
      if (line.lineNumber <= this.last) continue;  // replay overlap after a reconnect
      this.last = line.lineNumber;
      this.queue.push(line);
    }
    if (this.queue.length > DOM_MAX) this.queue.splice(0, this.queue.length - DOM_MAX);  // a flood: keep the tail
    this.scheduleFlush();
  };

  Viewer.prototype.scheduleFlush = function () {
    var self = this;
    if (this.flushScheduled) return;
    this.flushScheduled = true;
    requestAnimationFrame(function () { self.flushScheduled = false; self.flush(); });
  };

  Viewer.prototype.lineNode = function (line) {
    var row = document.createElement("div");
    row.className = "tf-line tf-stream-" + (line.stream || "stdout");
    row.setAttribute("data-line", line.lineNumber);
    var num = document.createElement("span");
    num.className = "tf-ln";
    num.textContent = line.lineNumber;
    var text = document.createElement("span");
    text.className = "tf-text";
    renderAnsi(text, line.content || "");
    if (line.timestamp) row.title = TF.fmtTime(line.timestamp);
    row.appendChild(num);
    row.appendChild(text);
    return row;
  };

  Viewer.prototype.flush = function () {
    var batch = this.queue.splice(0, FLUSH_MAX);
    if (!batch.length) return;
    var frag = document.createDocumentFragment();
    var progress = null;
    for (var i = 0; i < batch.length; i++) {
      frag.appendChild(this.lineNode(batch[i]));
      if (batch[i].stream !== "system") {
        var m, found = null;
        PROGRESS.lastIndex = 0;
        while ((m = PROGRESS.exec(batch[i].content || "")) !== null) found = m[1];
        if (found !== null && Number(found) <= 100) progress = Number(found);
      }
    }
    if (this.log.childElementCount === 0 && batch.length) this.first = batch[0].lineNumber;
    this.log.appendChild(frag);
    // keep the page light: drop the oldest rows (reloadable with "Load earlier")
    var extra = this.log.childElementCount - DOM_MAX;
    if (extra > 0 && (this.follow || extra > DOM_MAX)) {
      for (var k = 0; k < extra; k++) this.log.removeChild(this.log.firstChild);
      this.first = Number(this.log.firstChild.getAttribute("data-line"));
    }
    if (progress !== null) this.setProgress(progress);
    this.updateEarlier();
    if (this.follow) this.scrollEnd();
    if (this.queue.length) this.scheduleFlush();
  };

  Viewer.prototype.updateEarlier = function () {
    var shown = this.log.childElementCount;
    var btn = this.root.querySelector("[data-tf-earlier]");
    var firstShown = shown ? Number(this.log.firstChild.getAttribute("data-line")) : this.first;
    btn.hidden = !(firstShown > 1);
    this.root.querySelector("[data-tf-log-info]").textContent = shown
      ? "lines " + firstShown + "–" + this.last + (firstShown > 1 ? " (" + (firstShown - 1) + " earlier)" : "")
      : (this.finalSeen ? "no output" : "waiting for output…");
  };

  Viewer.prototype.loadEarlier = function () {
    var self = this;
    var firstShown = this.log.childElementCount ? Number(this.log.firstChild.getAttribute("data-line")) : this.first;
    if (firstShown <= 1) return;
    var after = Math.max(0, firstShown - 1 - PAGE);
    var limit = firstShown - 1 - after;
    TF.api(this.data.logsUrl + "?after=" + after + "&limit=" + limit)
      .then(function (res) {
        var frag = document.createDocumentFragment();
        (res.lines || []).forEach(function (line) {
          if (line.lineNumber < firstShown) frag.appendChild(self.lineNode(line));
        });
        var before = self.log.scrollHeight;
        self.setFollow(false);
        self.log.insertBefore(frag, self.log.firstChild);
        self.programmaticScroll = true;
        self.log.scrollTop += self.log.scrollHeight - before;  // keep what the reader was looking at
        self.updateEarlier();
      });
  };

  Viewer.prototype.setProgress = function (pct) {
    // lines painted after the final status (a frame later) must not pull a success back
    if (this.finalSeen && this.status === "success") pct = 100;
    var box = this.root.querySelector("[data-tf-progress]");
    box.hidden = false;
    this.root.querySelector("[data-tf-progress-bar]").style.width = Math.min(100, pct) + "%";
    this.root.querySelector("[data-tf-progress-text]").textContent = pct + " %";
  };

  /* ---- status ---- */
  Viewer.prototype.setStatus = function (status, exitCode, duration) {
    this.status = status;
    var badge = this.root.querySelector("[data-tf-status]");
    badge.className = "tf-badge tf-" + status;
    badge.textContent = LABELS[status] || status;
    var exit = this.root.querySelector("[data-tf-exit]");
    if (exitCode !== null && exitCode !== undefined) { exit.hidden = false; exit.textContent = "exit code " + exitCode; }
    if (duration !== null && duration !== undefined) this.duration = duration;
    var finished = FINISHED.indexOf(status) >= 0;
    if (finished) {
      if (!this.finalSeen) this.refreshDetails();
      this.finalSeen = true;
      if (status === "success") this.setProgressDone();
      if (!this.samples.t.length) this.noSamples();
    }
    var cancel = this.root.querySelector("[data-tf-cancel-form]");
    if (cancel) cancel.hidden = finished;
    var rerun = this.root.querySelector("[data-tf-rerun-form]");
    if (rerun) rerun.hidden = !finished;
    this.tickElapsed();
    this.updateEarlier();
  };

  /* The read-only fields under the viewer were rendered while the run was going: re-read them. */
  Viewer.prototype.refreshDetails = function () {
    var form = document.getElementById("run_form");
    if (!form) return;
    fetch(location.href, { credentials: "same-origin" })
      .then(function (r) { return r.ok ? r.text() : Promise.reject(r.status); })
      .then(function (html) {
        var fresh = new DOMParser().parseFromString(html, "text/html").getElementById("run_form");
        if (!fresh) return;
        form.replaceChildren.apply(form, Array.from(fresh.childNodes));
        TF.localizeTimes(form);
      })
      .catch(function () { /* the live part above already shows the outcome */ });
  };

  /* A run shorter than the sampling interval has no samples: say so instead of empty axes. */
  Viewer.prototype.noSamples = function () {
    var self = this;
    (this.samplesLoaded || Promise.resolve()).then(function () {
      if (self.samples.t.length) return;
      ["[data-tf-cpu-now]", "[data-tf-mem-now]"].forEach(function (sel) {
        self.root.querySelector(sel).replaceChildren(TF.el("small", { text: "too short to sample" }));
      });
      self.root.setAttribute("data-tf-samples", "0");
    });
  };

  Viewer.prototype.setProgressDone = function () {
    var box = this.root.querySelector("[data-tf-progress]");
    if (!box.hidden) this.setProgress(100);
  };

  Viewer.prototype.tickElapsed = function () {
    var node = this.root.querySelector("[data-tf-elapsed]");
    if (this.finalSeen && this.duration !== null && this.duration !== undefined) node.textContent = TF.fmtDuration(this.duration);
    else if (this.startedAt && !this.finalSeen) node.textContent = TF.fmtDuration(Date.now() - this.startedAt.getTime());
    else node.textContent = this.status === "pending" ? "waiting for a worker" : "—";
  };

  /* ---- charts ---- */
  Viewer.prototype.initCharts = function () {
    this.cpuChart = null; this.memChart = null;
    if (!window.uPlot || !window.TFCharts) return;
    var cpuBox = this.root.querySelector("[data-tf-chart=cpu]");
    var memBox = this.root.querySelector("[data-tf-chart=mem]");
    this.cpuChart = TFCharts.chart(cpuBox, {
      data: [[], []], height: 160, legend: false,
      series: [{ label: "CPU %", color: "#2f80ed", fill: "rgba(47,128,237,0.15)", value: function (v) { return v.toFixed(1) + " %"; } }],
      yFormat: function (v) { return v + " %"; }, yMin: 10,
    });
    this.memChart = TFCharts.chart(memBox, {
      data: [[], []], height: 160, legend: false,
      series: [{ label: "Memory", color: "#27ae60", fill: "rgba(39,174,96,0.15)", value: TF.fmtBytes }],
      yFormat: TF.fmtBytes, yMin: 1024 * 1024,
    });
  };

  /* The run's samples as GET /api/runs/<id>/metrics lists them (the socket sends the same). */
  Viewer.prototype.loadSamples = function () {
    var self = this;
    return TF.api(this.data.metricsUrl).then(function (metrics) {
      metrics.samples.forEach(function (s) { self.addSample(s); });
      self.redrawCharts();
    }, function () { /* the charts stay as they are; the log matters more */ });
  };

  Viewer.prototype.addSample = function (s) {
    var t = new Date(s.timestamp).getTime() / 1000;
    var n = this.samples.t.length;
    if (n && t <= this.samples.t[n - 1]) return;
    this.samples.t.push(t);
    this.samples.cpu.push(s.cpuPercent);
    this.samples.mem.push(s.memoryBytes);
    this.root.querySelector("[data-tf-cpu-now]").textContent = s.cpuPercent.toFixed(1) + " %";
    this.root.querySelector("[data-tf-mem-now]").textContent = TF.fmtBytes(s.memoryBytes);
    this.root.setAttribute("data-tf-samples", String(this.samples.t.length));
  };

  Viewer.prototype.redrawCharts = function () {
    if (this.cpuChart) this.cpuChart.setData([this.samples.t, this.samples.cpu]);
    if (this.memChart) this.memChart.setData([this.samples.t, this.samples.mem]);
  };

  document.addEventListener("DOMContentLoaded", function () {
    var root = document.querySelector("[data-tf-viewer]");
    if (!root) return;
    var viewer = new Viewer(root, TF.jsonData("tf-viewer-data"));
    window.TFViewer = viewer;
    viewer.start();
  });
})();
