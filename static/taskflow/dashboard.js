/* Dashboard: KPIs, recent and upcoming runs from the API (/api/dashboard/stats, /api/runs,
   /api/dashboard/upcoming); refreshed on /ws/dashboard pushes, else polled. The API's per-user
   rate limit covers these calls too: at most one refresh (three requests) per MIN_GAP_MS. */
(function () {
  "use strict";
  var POLL_MS = 5000;         // no push channel: how stale the page may get
  var LIVE_POLL_MS = 15000;   // with pushes: KPIs that change without a run (jobs enabled…)
  var MIN_GAP_MS = 5000;

  function render(root, data, pages, triggers) {
    var stats = data.stats || {};
    var fmt = {
      activeJobs: String, runningNow: String, totalFailures: String,
      successRate: function (v) { return v === null || v === undefined ? "—" : (v * 100).toFixed(1) + " %"; },
      averageDuration: TF.fmtDuration,
      uptime: function (v) { return v ? TF.fmtDuration(v) : "cluster down"; },
    };
    // nothing finished in the window: a rate or an average of nothing is not 0
    var idle = !stats.totalFailures && !stats.successRate && !stats.averageDuration;
    if (idle) { stats = Object.assign({}, stats, { successRate: null, averageDuration: null }); }
    root.querySelectorAll("[data-kpi]").forEach(function (node) {
      var key = node.getAttribute("data-kpi");
      node.textContent = key in stats ? fmt[key](stats[key]) : "—";
    });

    var recent = root.querySelector("[data-tf-recent]");
    recent.replaceChildren();
    (data.runs || []).forEach(function (run) {
      recent.appendChild(TF.el("tr", { "data-run-id": run.id, "data-status": run.status }, [
        TF.el("td", {}, [TF.el("a", { href: pages.runPage.replace("__id__", run.id), text: run.jobName || "(ad-hoc task)" })]),
        TF.el("td", {}, [TF.badge(run.status)]),
        TF.el("td", { text: triggers[run.triggerType] || run.triggerType }),
        TF.el("td", { text: TF.fmtTime(run.startedAt || run.createdAt) }),
        TF.el("td", { text: run.status === "running" ? "running…" : TF.fmtDuration(run.duration) }),
      ]));
    });
    if (!recent.children.length) recent.appendChild(TF.el("tr", {}, [TF.el("td", { colspan: "5", text: "No runs yet." })]));

    var upcoming = root.querySelector("[data-tf-upcoming]");
    upcoming.replaceChildren();
    (data.upcoming || []).forEach(function (job) {
      upcoming.appendChild(TF.el("tr", {}, [
        TF.el("td", {}, [TF.el("a", { href: pages.jobPage.replace("__id__", job.id), text: job.name })]),
        TF.el("td", { text: TF.fmtTime(job.nextRun) }),
        TF.el("td", { class: "tf-zone", text: TF.fmtTime(job.nextRun, job.timezone) + " " + job.timezone }),
      ]));
    });
    if (!upcoming.children.length) upcoming.appendChild(TF.el("tr", {}, [TF.el("td", { colspan: "3", text: "Nothing scheduled." })]));
  }

  function setLive(root, state, text) {
    root.querySelector("[data-tf-live]").className = "tf-dot tf-dot-" + state;
    root.querySelector("[data-tf-live-text]").textContent = text;
  }

  document.addEventListener("DOMContentLoaded", function () {
    var root = document.querySelector("[data-tf-dashboard]");
    if (!root) return;
    var urls = TF.jsonData("tf-dashboard-urls");
    var triggers = TF.jsonData("tf-trigger-labels") || {};
    var live = false, timer = null, dueAt = 0, lastAt = Date.now();
    render(root, TF.jsonData("tf-dashboard-data"), urls, triggers);

    function pollText() { return "refreshing every " + POLL_MS / 1000 + " s"; }

    function refresh() {
      lastAt = Date.now();
      Promise.all([TF.api(urls.stats), TF.api(urls.runs), TF.api(urls.upcoming)])
        .then(function (res) {
          render(root, { stats: res[0], runs: res[1].runs, upcoming: res[2].jobs }, urls, triggers);
          if (live) setLive(root, "on", "live"); else setLive(root, "poll", pollText());
        })
        .catch(function () { setLive(root, "off", "refresh failed, retrying"); })
        .then(function () { later(live ? LIVE_POLL_MS : POLL_MS); });
    }
    function later(delay) {  // one pending refresh at a time, never sooner than MIN_GAP_MS apart
      var at = Math.max(Date.now() + delay, lastAt + MIN_GAP_MS);
      if (timer && dueAt <= at) return;
      clearTimeout(timer);
      dueAt = at;
      timer = setTimeout(function () { timer = null; if (document.hidden) later(POLL_MS); else refresh(); }, at - Date.now());
    }

    function connect() {
      var ws;
      try { ws = new WebSocket(TF.wsUrl("/ws/dashboard")); } catch (e) { return; }
      ws.onopen = function () { live = true; setLive(root, "on", "live"); };
      ws.onmessage = function () { later(300); };  // coalesces a burst of pushes
      ws.onclose = function () {
        live = false;
        setLive(root, "poll", pollText());
        later(POLL_MS);
        setTimeout(connect, 15000);
      };
    }
    setLive(root, "poll", pollText());
    connect();
    later(POLL_MS);
  });
})();
