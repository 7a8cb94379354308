/* Home: KPIs (/api/dashboard/stats) and what runs, what comes and what ran
   (/api/dashboard/activity): active runs with progress and elapsed time, every slot of the next
   24 h, a timeline of the last 24 h and the recent failures. Refreshed on /ws/dashboard pushes,
   every few seconds while a run is active (its progress moves without a push), else rarely. */
(function () {
  "use strict";
  var ACTIVE_POLL_MS = 4000;
  var IDLE_POLL_MS = 15000;   // no socket: how stale the page may get
  var STATS_EVERY_MS = 30000; // KPIs that change without a run (jobs enabled, uptime)
  var MIN_GAP_MS = 3000;      // a busy server pushes often; the API allows 100 calls a minute
  var HOUR = 3600 * 1000;

  function pct(v) { return v === null || v === undefined ? "—" : (v * 100).toFixed(1) + " %"; }

  function fmtIn(ms) {
    if (ms < 60000) return "< 1 min";
    var m = Math.round(ms / 60000);
    return m < 60 ? m + " min" : Math.floor(m / 60) + " h " + (m % 60) + " min";
  }

  function renderStats(root, stats) {
    var fmt = {
      activeJobs: String, runningNow: String, totalFailures: String,
      successRate: pct, averageDuration: TF.fmtDuration,
      uptime: function (v) { return v ? TF.fmtDuration(v) : "cluster down"; },
    };
    // nothing finished in the window: a rate or an average of nothing is not 0
    if (!stats.totalFailures && !stats.successRate && !stats.averageDuration) {
      stats = Object.assign({}, stats, { successRate: null, averageDuration: null });
    }
    root.querySelectorAll("[data-kpi]").forEach(function (node) {
      var key = node.getAttribute("data-kpi");
      node.textContent = key in stats ? fmt[key](stats[key]) : "—";
    });
  }

  function jobLink(pages, id, name) {
    return id ? TF.el("a", { href: pages.jobPage.replace("__id__", id), text: name }) : document.createTextNode(name || "(ad-hoc task)");
  }

  function renderUpcoming(root, slots, pages) {
    var body = root.querySelector("[data-tf-upcoming]");
    body.replaceChildren();
    slots.forEach(function (slot) {
      body.appendChild(TF.el("tr", { "data-job-id": slot.jobId }, [
        TF.el("td", {}, [jobLink(pages, slot.jobId, slot.jobName)]),
        TF.el("td", { text: TF.fmtTime(slot.at) }),
        TF.el("td", { "data-tf-until": slot.at, text: fmtIn(Date.parse(slot.at) - Date.now()) }),
        TF.el("td", { class: "tf-zone tf-col-zone", title: slot.timezone, text: TF.fmtZoned(slot.at, slot.timezone) }),
      ]));
    });
    if (!slots.length) body.appendChild(TF.el("tr", {}, [TF.el("td", { colspan: "4", text: "Nothing scheduled in the next 24 hours." })]));
  }

  function renderFailures(root, runs, pages) {
    var body = root.querySelector("[data-tf-failures]");
    body.replaceChildren();
    runs.forEach(function (run) {
      var why = run.errorMessage || (run.exitCode !== null ? "exit code " + run.exitCode : "—");
      body.appendChild(TF.el("tr", { "data-run-id": run.id, "data-status": run.status }, [
        TF.el("td", {}, [TF.el("a", { href: TFRuns.runLink(pages, run.id) }, [TF.badge(run.status, TFRuns.label(run.status))])]),
        TF.el("td", {}, [jobLink(pages, run.jobId, run.jobName || "(ad-hoc task)")]),
        TF.el("td", { text: TF.fmtTime(run.finishedAt) }),
        TF.el("td", { text: TF.fmtDuration(run.duration) }),
        TF.el("td", { class: "tf-col-why tf-wrap", text: why }),
      ]));
    });
    if (!runs.length) body.appendChild(TF.el("tr", {}, [TF.el("td", { colspan: "5", text: "No failures in the last 24 hours." })]));
  }

  /* One row per job; a mark per run placed on the last 24 h by its start and end (a running
     run reaches now), coloured by status; its title is the hover text, its link the run. */
  function renderTimeline(root, rows, pages, triggers, truncated) {
    var box = root.querySelector("[data-tf-timeline]");
    var to = Date.now(), from = to - 24 * HOUR;
    function x(ms) { return Math.max(0, Math.min(100, (ms - from) / (to - from) * 100)); }
    box.replaceChildren();
    var axis = TF.el("div", { class: "tf-tl-axis", "aria-hidden": "true" }, [TF.el("span", { class: "tf-tl-label" })]);
    var ticks = TF.el("div", { class: "tf-tl-track" });
    var first = Math.ceil(from / (3 * HOUR)) * 3 * HOUR;
    for (var t = first; x(t) < 94; t += 3 * HOUR) {  // leaves room for "now"
      var tick = TF.el("span", { class: "tf-tl-tick", text: TF.fmtClock(t) });
      tick.style.left = x(t) + "%";
      ticks.appendChild(tick);
    }
    var nowTick = TF.el("span", { class: "tf-tl-tick tf-tl-now", text: "now" });
    nowTick.style.left = "100%";
    ticks.appendChild(nowTick);
    axis.appendChild(ticks);
    box.appendChild(axis);
    rows.forEach(function (row) {
      var track = TF.el("div", { class: "tf-tl-track" });
      row.runs.forEach(function (run) {
        var start = Date.parse(run.startedAt || run.createdAt);
        var end = run.finishedAt ? Date.parse(run.finishedAt) : (run.status === "running" ? to : start);
        var text = row.jobName + ": " + TFRuns.describe(run, triggers);
        var mark = TF.el("a", {
          class: "tf-tl-mark tf-" + run.status, href: TFRuns.runLink(pages, run.id), title: text,
          "aria-label": text, "data-run-id": run.id, "data-status": run.status,
        });
        mark.style.left = x(start) + "%";
        mark.style.width = Math.max(0, x(end) - x(start)) + "%";
        track.appendChild(mark);
      });
      box.appendChild(TF.el("div", { class: "tf-tl-row", "data-job-id": row.jobId || "" }, [
        TF.el("span", { class: "tf-tl-label" }, [jobLink(pages, row.jobId, row.jobName)]),
        track,
      ]));
    });
    if (!rows.length) box.appendChild(TF.el("p", { class: "tf-help", text: "No runs in the last 24 hours." }));
    if (truncated) box.appendChild(TF.el("p", { class: "tf-help", text: "Showing the newest runs only." }));
  }

  document.addEventListener("DOMContentLoaded", function () {
    var root = document.querySelector("[data-tf-dashboard]");
    if (!root) return;
    var urls = TF.jsonData("tf-home-urls");
    var triggers = TF.jsonData("tf-trigger-labels") || {};
    var data = TF.jsonData("tf-home-data");
    var live = false, pollTimer = null, statsAt = Date.now(), wantStats = false, reconnected = false;

    function render(activity) {
      data.activity = activity;
      TFRuns.activeList(root.querySelector("[data-tf-active]"), activity.active, urls, { showJob: true, empty: "Nothing running now." });
      renderUpcoming(root, activity.upcoming, urls);
      renderTimeline(root, activity.timeline, urls, triggers, activity.timelineTruncated);
      renderFailures(root, activity.failures, urls);
      root.setAttribute("data-tf-active-count", String(activity.active.length));
      schedulePoll();
    }

    function load() {
      var stats = wantStats || Date.now() - statsAt > STATS_EVERY_MS;
      wantStats = false;
      return Promise.all([TF.api(urls.activity), stats ? TF.api(urls.stats) : null]).then(function (res) {
        if (res[1]) { statsAt = Date.now(); renderStats(root, res[1]); }
        render(res[0]);
        TFRuns.setLive(root, live ? "on" : "poll", live ? "live" : "refreshing every " + IDLE_POLL_MS / 1000 + " s");
      }, function (error) {
        TFRuns.setLive(root, "off", "refresh failed (" + (error.code || error.status) + "), retrying");
        throw error;
      });
    }
    var refresh = TFRuns.refresher(load, MIN_GAP_MS);

    function schedulePoll() {
      clearTimeout(pollTimer);
      var delay = data.activity.active.length ? ACTIVE_POLL_MS : (live ? STATS_EVERY_MS : IDLE_POLL_MS);
      pollTimer = setTimeout(function () { if (!document.hidden) refresh.soon(0); else schedulePoll(); }, delay);
    }

    renderStats(root, data.stats);
    render(data.activity);
    // the timeline slides with the clock; "in 5 min" counts down
    setInterval(function () {
      renderTimeline(root, data.activity.timeline, urls, triggers, data.activity.timelineTruncated);
      root.querySelectorAll("[data-tf-until]").forEach(function (node) {
        node.textContent = fmtIn(Date.parse(node.getAttribute("data-tf-until")) - Date.now());
      });
    }, 60000);
    TFRuns.setLive(root, "poll", "connecting…");
    TFRuns.dashboardFeed(function (msg) {
      if (msg.status !== "pending") wantStats = true;  // running now, or finished
      refresh.soon(250);
    }, function (state, text) {
      live = state === "on";
      TFRuns.setLive(root, state, text);
      if (live && reconnected) refresh.soon(0);  // catch up on what passed while it was away
      if (live) reconnected = true;
    });
  });
})();
