/* The job page: last status, Run now, enable/disable, next runs, the strip of the last runs,
   their durations and figures, the active run's progress and the run history. Data from
   /api/jobs/<id>/activity and /api/runs?job=<id>; refreshed on /ws/dashboard pushes about this
   job, and every few seconds while a run is active (its progress moves without a push). */
(function () {
  "use strict";
  var ACTIVE_POLL_MS = 3000;
  var IDLE_POLL_MS = 15000;  // no socket: how stale the page may get
  var MIN_GAP_MS = 1000;

  function pct(v) { return v === null || v === undefined ? "—" : (v * 100).toFixed(1) + " %"; }

  document.addEventListener("DOMContentLoaded", function () {
    var root = document.querySelector("[data-tf-job]");
    if (!root) return;
    var page = TF.jsonData("tf-job-data");
    var urls = page.urls, triggers = page.triggerLabels, jobId = page.jobId;
    var history = { offset: 0, total: null, filters: {} };
    var activity = page.activity, live = false, pollTimer = null, chart = null;

    function message(nodes, kind) {
      var box = root.querySelector("[data-tf-message]");
      box.className = "tf-job-message tf-message-" + (kind || "info");
      box.replaceChildren.apply(box, nodes);
      box.hidden = !nodes.length;
    }

    function renderEnabled(enabled) {
      var badge = root.querySelector("[data-tf-enabled]");
      badge.className = "tf-badge " + (enabled ? "tf-enabled" : "tf-disabled");
      badge.textContent = enabled ? "Enabled" : "Disabled";
      var toggle = root.querySelector("[data-tf-toggle]");
      if (toggle) toggle.textContent = enabled ? "Disable" : "Enable";
      root.querySelector("[data-tf-disabled-note]").hidden = enabled;
    }

    function renderNextRuns(a) {
      var body = root.querySelector("[data-tf-next-runs]");
      body.replaceChildren();
      a.nextRuns.forEach(function (at) {
        body.appendChild(TF.el("tr", {}, [
          TF.el("td", { text: TF.fmtTime(at, a.timezone) }),
          TF.el("td", { text: TF.fmtTime(at) }),
        ]));
      });
      if (!a.nextRuns.length) {
        var why = !a.enabled ? "None while disabled." : "None: this job runs only when started.";
        body.appendChild(TF.el("tr", {}, [TF.el("td", { colspan: "2", text: why })]));
      }
    }

    function renderDurations(recent) {
      var box = root.querySelector("[data-tf-duration-chart]");
      if (!window.uPlot || !window.TFCharts) return;
      var runs = recent.slice().reverse().filter(function (r) { return r.duration !== null; });
      var t = runs.map(function (r) { return Date.parse(r.startedAt || r.createdAt) / 1000; });
      var ok = runs.map(function (r) { return r.status === "success" ? r.duration : null; });
      var bad = runs.map(function (r) { return r.status === "success" ? null : r.duration; });
      if (!chart) {
        chart = TFCharts.chart(box, {
          data: [t, ok, bad], height: 170, yMin: 1000, yFormat: TF.fmtDuration,
          empty: "No finished runs yet.",
          series: [
            { label: "succeeded", color: "#1e8e3e", points: true, value: TF.fmtDuration },
            { label: "failed", color: "#c5221f", points: true, line: false, value: TF.fmtDuration },
          ],
        });
      } else {
        chart.setData([t, ok, bad]);
      }
    }

    function renderActivity(a) {
      activity = a;
      var last = a.recent[0];
      var badge = root.querySelector("[data-tf-last-status]");
      badge.className = "tf-badge tf-" + (last ? last.status : "none");
      badge.textContent = last ? "Last run: " + TFRuns.label(last.status) : "Never run";
      badge.setAttribute("data-status", last ? last.status : "");
      var s = a.summary;
      root.querySelector("[data-tf-window]").textContent = String(s.runCount || 50);
      root.querySelector("[data-tf-figure=successRate]").textContent = pct(s.successRate);
      root.querySelector("[data-tf-figure=averageDuration]").textContent = TF.fmtDuration(s.averageDuration);
      root.querySelector("[data-tf-figure=p95Duration]").textContent = TF.fmtDuration(s.p95Duration);
      renderEnabled(a.enabled);
      renderNextRuns(a);
      TFRuns.activeList(root.querySelector("[data-tf-active]"), a.active, urls, { empty: "Nothing running now." });
      TFRuns.strip(root.querySelector("[data-tf-strip]"), a.recent, urls, triggers);
      renderDurations(a.recent);
      root.setAttribute("data-tf-active-count", String(a.active.length));
      schedulePoll();
    }

    function renderHistory(data) {
      var body = root.querySelector("[data-tf-history]");
      body.replaceChildren();
      data.runs.forEach(function (run) {
        body.appendChild(TF.el("tr", { "data-run-id": run.id, "data-status": run.status }, [
          TF.el("td", {}, [TF.badge(run.status, TFRuns.label(run.status))]),
          TF.el("td", { text: TF.fmtTime(run.startedAt || run.createdAt) }),
          TF.el("td", { class: "tf-col-trigger", text: triggers[run.triggerType] || run.triggerType }),
          TF.el("td", run.status === "running" && run.startedAt ? { "data-tf-since": run.startedAt } : { text: TF.fmtDuration(run.duration) }),
          TF.el("td", { class: "tf-col-exit", text: run.exitCode === null ? "—" : String(run.exitCode) }),
          TF.el("td", { class: "tf-col-run" }, [TF.el("a", { href: TFRuns.runLink(urls, run.id), text: run.id.slice(0, 8) })]),
        ]));
      });
      if (!data.runs.length) body.appendChild(TF.el("tr", {}, [TF.el("td", { colspan: "6", text: "No runs match." })]));
      TFRuns.tickElapsed(body);
      history.total = data.total;
      var end = history.offset + data.runs.length;
      root.querySelector("[data-tf-page-info]").textContent = data.runs.length
        ? (history.offset + 1) + "–" + end + " of " + data.total + (data.totalExact === false ? "+" : "") : "";
      root.querySelector("[data-tf-newer]").disabled = history.offset === 0;
      root.querySelector("[data-tf-older]").disabled = end >= data.total;
    }

    function historyUrl() {
      var url = urls.runs + "&limit=" + page.pageSize + "&offset=" + history.offset;
      Object.keys(history.filters).forEach(function (k) {
        if (history.filters[k]) url += "&" + k + "=" + encodeURIComponent(history.filters[k]);
      });
      return url;
    }

    function load() {
      return Promise.all([TF.api(urls.activity), TF.api(historyUrl())]).then(function (res) {
        renderActivity(res[0]);
        renderHistory(res[1]);
        TFRuns.setLive(root, live ? "on" : "poll", live ? "live" : "polling");
      }, function (error) {
        TFRuns.setLive(root, "off", "refresh failed (" + (error.code || error.status) + "), retrying");
        throw error;
      });
    }
    var refresh = TFRuns.refresher(load, MIN_GAP_MS);

    function schedulePoll() {
      clearTimeout(pollTimer);
      var delay = activity.active.length ? ACTIVE_POLL_MS : (live ? 0 : IDLE_POLL_MS);
      if (delay) pollTimer = setTimeout(function () { refresh.soon(0); }, delay);
    }

    // ---- controls ----
    var runForm = root.querySelector("[data-tf-run-form]");
    if (runForm) runForm.addEventListener("submit", function (event) {
      event.preventDefault();
      var button = runForm.querySelector("button");
      button.disabled = true;
      TF.api(urls.run, {}).then(function (run) {
        var link = TF.el("a", { href: TFRuns.runLink(urls, run.runId), text: "open it" });
        var what = run.status === "skipped" ? "Run skipped by the job's overlap policy — " : "Run queued — ";
        message([document.createTextNode(what), link, document.createTextNode(".")], run.status === "skipped" ? "warn" : "ok");
        refresh.now();
      }, function (error) {
        message([document.createTextNode("Could not start a run: " + (error.error || error.status))], "error");
      }).then(function () { button.disabled = false; });
    });

    // a job with parameters: Run now opens the run form (a page of its own without script)
    var dialog = root.querySelector("[data-tf-run-dialog]");
    var opener = root.querySelector("[data-tf-run-open]");
    if (dialog && opener && window.TFRunForm) {
      var paramsForm = dialog.querySelector("form[data-tf-run-params]");
      opener.addEventListener("click", function (event) {
        event.preventDefault();
        dialog.showModal();
        var first = paramsForm.querySelector("[data-tf-param]");
        if (first) first.focus();
      });
      dialog.querySelector("[data-tf-run-close]").addEventListener("click", function () { dialog.close(); });
      TFRunForm.attach(paramsForm, function (run) {
        dialog.close();
        var link = TF.el("a", { href: TFRuns.runLink(urls, run.runId), text: "open it" });
        var what = run.status === "skipped" ? "Run skipped by the job's overlap policy — " : "Run queued with your values — ";
        message([document.createTextNode(what), link, document.createTextNode(".")], run.status === "skipped" ? "warn" : "ok");
        refresh.now();
      });
    }

    var toggle = root.querySelector("[data-tf-toggle]");
    if (toggle) toggle.addEventListener("click", function () {
      toggle.disabled = true;
      TF.api(activity.enabled ? urls.disable : urls.enable, {}).then(function (job) {
        activity.enabled = job.enabled;
        renderEnabled(job.enabled);
        message([document.createTextNode(job.enabled ? "Enabled: scheduled runs resume from now." : "Disabled: no scheduled runs until enabled.")], "ok");
        refresh.now();
      }, function (error) {
        message([document.createTextNode("Could not change it: " + (error.error || error.status))], "error");
      }).then(function () { toggle.disabled = false; });
    });

    var filters = root.querySelector("[data-tf-history-filters]");
    filters.addEventListener("change", function () {
      history.filters = {
        status: filters.elements.status.value, trigger_type: filters.elements.trigger_type.value,
      };
      history.offset = 0;
      refresh.now();
    });
    filters.addEventListener("submit", function (event) { event.preventDefault(); });
    root.querySelector("[data-tf-newer]").addEventListener("click", function () {
      history.offset = Math.max(0, history.offset - page.pageSize); refresh.now();
    });
    root.querySelector("[data-tf-older]").addEventListener("click", function () {
      history.offset += page.pageSize; refresh.now();
    });

    renderActivity(page.activity);
    renderHistory(page.runs);
    TFRuns.setLive(root, "poll", "connecting…");
    TFRuns.dashboardFeed(function (msg) {
      if (msg.jobId === jobId) refresh.soon(150);
    }, function (state, text) {
      live = state === "on";
      TFRuns.setLive(root, state, text);
      schedulePoll();
    });
  });
})();
