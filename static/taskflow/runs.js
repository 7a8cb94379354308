/* Runs as the home, the job page and the live lists show them: status marks, active runs with
   progress and elapsed time, and the /ws/dashboard feed that says when to refresh. */
(function () {
  "use strict";

  var LABELS = { pending: "Pending", running: "Running", success: "Success", failure: "Failure",
    timeout: "Timeout", cancelled: "Cancelled", skipped: "Skipped" };

  function label(status) { return LABELS[status] || status; }

  function runLink(pages, id) { return pages.runPage.replace("__id__", id); }

  /* A run's one-line description for a tooltip: status, start, duration, trigger. */
  function describe(run, triggers) {
    var parts = [label(run.status), TF.fmtTime(run.startedAt || run.createdAt)];
    if (run.duration !== null && run.duration !== undefined) parts.push(TF.fmtDuration(run.duration));
    else if (run.status === "running" && run.startedAt) parts.push("running for " + TF.fmtDuration(Date.now() - Date.parse(run.startedAt)));
    if (run.triggerType) parts.push((triggers && triggers[run.triggerType]) || run.triggerType);
    return parts.join(" · ");
  }

  /* The last runs as squares, oldest to newest, each a link to its run. */
  function strip(container, marks, pages, triggers) {
    container.replaceChildren();
    marks.slice().reverse().forEach(function (run) {
      var text = describe(run, triggers);
      container.appendChild(TF.el("a", {
        class: "tf-mark tf-" + run.status, href: runLink(pages, run.id), title: text,
        "aria-label": text, role: "listitem", "data-run-id": run.id, "data-status": run.status,
      }));
    });
    if (!marks.length) container.appendChild(TF.el("span", { class: "tf-help", text: "No runs yet." }));
  }

  /* Active runs: job, status, a progress bar when the run printed NN%, elapsed time. */
  function activeList(container, runs, pages, opts) {
    opts = opts || {};
    container.replaceChildren();
    runs.forEach(function (run) {
      var since = run.startedAt || run.createdAt;
      var bar = TF.el("div", { class: "tf-progress" + (run.progress === null ? " tf-progress-unknown" : "") }, [
        TF.el("div", { class: "tf-progress-bar" }),
        TF.el("span", { text: run.progress === null ? (run.status === "pending" ? "waiting for a worker" : "running") : run.progress + " %" }),
      ]);
      bar.firstChild.style.width = (run.progress === null ? 100 : Math.min(100, run.progress)) + "%";
      var name = opts.showJob ? (run.jobName || "(ad-hoc task)") : "run " + run.id.slice(0, 8);
      container.appendChild(TF.el("div", { class: "tf-active-run", "data-run-id": run.id, "data-status": run.status }, [
        TF.el("div", { class: "tf-active-head" }, [
          TF.el("a", { href: runLink(pages, run.id), text: name }),
          TF.badge(run.status, label(run.status)),
          TF.el("span", { class: "tf-elapsed", "data-tf-since": since, "data-tf-pending": run.status === "pending" ? "1" : "" }),
        ]),
        bar,
      ]));
    });
    tickElapsed(container);
    if (!runs.length && opts.empty) container.appendChild(TF.el("p", { class: "tf-help", text: opts.empty }));
  }

  function tickElapsed(root) {
    (root || document).querySelectorAll("[data-tf-since]").forEach(function (node) {
      var ms = Date.now() - Date.parse(node.getAttribute("data-tf-since"));
      node.textContent = (node.getAttribute("data-tf-pending") ? "queued " : "") + TF.fmtDuration(Math.max(0, ms));
    });
  }
  setInterval(function () { tickElapsed(document); }, 1000);

  /* One refresh at a time, coalescing bursts: `fn` returns a promise; soon(ms) asks for a
     refresh after ms (never sooner than minGap after the last one started). */
  function refresher(fn, minGap) {
    var timer = null, dueAt = 0, lastAt = 0, busy = false, again = false;
    function run() {
      timer = null;
      if (busy) { again = true; return; }
      busy = true; lastAt = Date.now();
      Promise.resolve().then(fn).catch(function () { /* the next push or tick retries */ })
        .then(function () { busy = false; if (again) { again = false; soon(0); } });
    }
    function soon(delay) {
      var at = Math.max(Date.now() + (delay || 0), lastAt + minGap);
      if (timer && dueAt <= at) return;
      clearTimeout(timer);
      dueAt = at;
      timer = setTimeout(run, at - Date.now());
    }
    return { soon: soon, now: function () { clearTimeout(timer); timer = null; run(); } };
  }

  /* /ws/dashboard: calls onMessage(msg) for each status message; status(state, text) says
     whether the page is live ("on"), polling ("poll") or neither ("off"). Reconnects. */
  function dashboardFeed(onMessage, status) {
    var retry = 1000;
    function connect() {
      var ws, opened = false;
      try { ws = new WebSocket(TF.wsUrl("/ws/dashboard")); } catch (e) { status("poll", "polling"); return; }
      ws.onopen = function () { opened = true; retry = 1000; status("on", "live"); };
      ws.onmessage = function (event) {
        var msg;
        try { msg = JSON.parse(event.data); } catch (e) { return; }
        if (msg.type === "status") onMessage(msg);
      };
      ws.onclose = function (event) {
        status("poll", event.code === 4401 ? "signed out" : "reconnecting…");
        if (event.code === 4401) return;
        setTimeout(connect, opened ? retry : Math.min(retry *= 2, 30000));
      };
    }
    connect();
  }

  function setLive(root, state, text) {
    var dot = root.querySelector("[data-tf-live]");
    if (dot) dot.className = "tf-dot tf-dot-" + state;
    var note = root.querySelector("[data-tf-live-text]");
    if (note) note.textContent = text;
    root.setAttribute("data-tf-live-state", state);
  }

  window.TFRuns = {
    label: label, describe: describe, runLink: runLink,
    strip: strip, activeList: activeList, tickElapsed: tickElapsed, refresher: refresher,
    dashboardFeed: dashboardFeed, setLive: setLive,
  };
})();
