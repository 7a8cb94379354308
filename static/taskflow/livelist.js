/* Live admin lists (jobs, runs): when /ws/dashboard says a visible run changed, the list is
   fetched again as it is (same filters, same page) and swapped in, unless rows are selected
   for an action; without a socket it is re-read every POLL_MS. */
(function () {
  "use strict";
  var POLL_MS = 10000;
  var MIN_GAP_MS = 1500;

  function selecting(form) {
    if (!form) return false;
    if (form.querySelector(".action-select:checked, #action-toggle:checked")) return true;
    var action = form.querySelector("select[name=action]");
    return Boolean(action && action.value) || form.contains(document.activeElement) && document.activeElement.tagName === "SELECT";
  }

  document.addEventListener("DOMContentLoaded", function () {
    var note = document.querySelector("[data-tf-live-list]");
    if (!note) return;
    var live = false, refreshes = 0, timer = null;

    function load() {
      if (selecting(document.getElementById("changelist-form"))) { later(MIN_GAP_MS * 2); return null; }
      return fetch(location.href, { credentials: "same-origin" })
        .then(function (r) { return r.ok ? r.text() : Promise.reject(r.status); })
        .then(function (html) {
          var doc = new DOMParser().parseFromString(html, "text/html");
          var fresh = doc.getElementById("changelist-form");
          var form = document.getElementById("changelist-form");
          if (!fresh || !form || selecting(form)) return;
          form.replaceWith(document.importNode(fresh, true));
          var count = document.querySelector("#changelist-search .quiet");
          var freshCount = doc.querySelector("#changelist-search .quiet");
          if (count && freshCount) count.replaceWith(document.importNode(freshCount, true));
          TF.localizeTimes(document);
          var boxes = document.querySelectorAll("tr input.action-select");
          if (window.Actions && boxes.length) window.Actions(boxes);  // the admin's select-all
          note.setAttribute("data-tf-refreshes", String(++refreshes));
        });
    }
    var refresh = TFRuns.refresher(load, MIN_GAP_MS);
    function later(delay) {
      clearTimeout(timer);
      timer = setTimeout(function () { refresh.soon(0); }, delay);
    }
    function poll() { if (!live) refresh.soon(0); setTimeout(poll, POLL_MS); }
    setTimeout(poll, POLL_MS);
    TFRuns.dashboardFeed(function () { refresh.soon(200); }, function (state, text) {
      live = state === "on";
      TFRuns.setLive(note, state, live ? "live" : text);
    });
  });
})();
