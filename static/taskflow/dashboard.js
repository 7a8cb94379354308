/* Dashboard: KPIs, recent and upcoming runs; refreshed on /ws/dashboard pushes, else polled. */
(function () {
  "use strict";
  var POLL_MS = 5000;

  function render(root, data) {
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
    (data.recent || []).forEach(function (run) {
      recent.appendChild(TF.el("tr", { "data-run-id": run.id, "data-status": run.status }, [
        TF.el("td", {}, [TF.el("a", { href: run.url, text: run.job })]),
        TF.el("td", {}, [TF.badge(run.status)]),
        TF.el("td", { text: run.trigger }),
        TF.el("td", { text: TF.fmtTime(run.startedAt || run.createdAt) }),
        TF.el("td", { text: run.status === "running" ? "running…" : TF.fmtDuration(run.duration) }),
      ]));
    });
    if (!recent.children.length) recent.appendChild(TF.el("tr", {}, [TF.el("td", { colspan: "5", text: "No runs yet." })]));

    var upcoming = root.querySelector("[data-tf-upcoming]");
    upcoming.replaceChildren();
    (data.upcoming || []).forEach(function (job) {
      upcoming.appendChild(TF.el("tr", {}, [
        TF.el("td", {}, [TF.el("a", { href: job.url, text: job.name })]),
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
    var url = root.getAttribute("data-url");
    var pending = null;
    render(root, TF.jsonData("tf-dashboard-data"));

    function refresh() {
      return fetch(url, { credentials: "same-origin", headers: { Accept: "application/json" } })
        .then(function (r) { if (!r.ok) throw new Error(r.status); return r.json(); })
        .then(function (data) { render(root, data); })
        .catch(function () { setLive(root, "off", "refresh failed, retrying"); });
    }
    function soon() {  // coalesce bursts of pushes into one refresh
      if (pending) return;
      pending = setTimeout(function () { pending = null; refresh(); }, 300);
    }

    function connect() {
      var ws;
      try { ws = new WebSocket(TF.wsUrl("/ws/dashboard")); } catch (e) { return; }
      ws.onopen = function () { setLive(root, "on", "live"); };
      ws.onmessage = soon;
      ws.onclose = function () {
        setLive(root, "poll", "refreshing every " + POLL_MS / 1000 + " s");
        setTimeout(connect, 15000);
      };
    }
    connect();
    // a push can be missed (no Redis: the consumer polls the DB); a slow poll keeps KPIs honest
    setInterval(function () { if (!document.hidden) refresh(); }, POLL_MS);
    setLive(root, "poll", "refreshing every " + POLL_MS / 1000 + " s");
  });
})();
