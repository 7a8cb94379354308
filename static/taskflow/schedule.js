/* Job editor: the schedule multi-selector (grids, presets, live preview) and kind switching.
   A new job is manual-only until a schedule is chosen: clicking the grid, a preset or typing a
   cron expression ticks "Run on a schedule"; "Every minute" is an explicit preset (the cron
   expression `* * * * *`), never what an untouched grid means. The cron field is checked here
   while typing and only a well-formed expression is sent for a preview. */
(function () {
  "use strict";
  var FIELDS = ["years", "months", "days", "weekdays", "hours", "minutes"];
  var EVERY_MINUTE = "* * * * *";
  var MACROS = ["@yearly", "@annually", "@monthly", "@weekly", "@daily", "@midnight", "@hourly"];
  var CRON = [  // name, low, high, names (index + low = value), as jobs/schedule.py reads them
    ["minute", 0, 59, null], ["hour", 0, 23, null], ["day-of-month", 1, 31, null],
    ["month", 1, 12, ["JAN", "FEB", "MAR", "APR", "MAY", "JUN", "JUL", "AUG", "SEP", "OCT", "NOV", "DEC"]],
    ["day-of-week", 0, 7, ["SUN", "MON", "TUE", "WED", "THU", "FRI", "SAT"]],
  ];

  /* What is wrong with a cron expression as typed (null: well-formed, or empty). The server
     still judges it (e.g. a day no selected month has); this keeps half-typed input local. */
  function cronProblem(expr) {
    if (!expr) return null;
    if (expr.charAt(0) === "@") return MACROS.indexOf(expr.toLowerCase()) >= 0 ? null : "Unknown macro; known: " + MACROS.join(", ") + ".";
    var parts = expr.split(/\s+/);
    if (parts.length !== 5) return "A cron expression has 5 fields (minute hour day-of-month month day-of-week); " + parts.length + " so far.";
    for (var i = 0; i < 5; i++) {
      if (!cronFieldOk(parts[i], CRON[i])) return "Bad " + CRON[i][0] + " field \u201c" + parts[i] + "\u201d (" + CRON[i][1] + "\u2013" + CRON[i][2] + ", lists, ranges, steps, *).";
    }
    return null;
  }

  function cronFieldOk(text, spec) {
    function value(v) {
      var n = /^\d+$/.test(v) ? Number(v) : (spec[3] ? spec[3].indexOf(v.toUpperCase()) + spec[1] : NaN);
      return n >= spec[1] && n <= spec[2] ? n : null;
    }
    return text.split(",").every(function (item) {
      var step = item.split("/");
      if (step.length > 2 || (step.length === 2 && !/^[1-9]\d*$/.test(step[1]))) return false;
      if (step[0] === "*") return true;
      var ends = step[0].split("-");
      if (ends.length > 2 || ends.some(function (v) { return value(v) === null; })) return false;
      return ends.length === 1 || value(ends[0]) <= value(ends[1]);
    });
  }

  function setup(root) {
    var scheduled = document.getElementById("id_has_schedule");
    var hidden = document.getElementById("id_schedule");
    var cron = document.getElementById("id_cron_expr");
    var zoneInput = document.getElementById("id_timezone");
    var state = {};
    var initial = {};
    try { initial = JSON.parse(hidden.value || "{}") || {}; } catch (e) { initial = {}; }
    FIELDS.forEach(function (f) { state[f] = new Set((initial[f] || []).map(Number)); });

    root.querySelectorAll(".tf-grid").forEach(function (grid) { buildGrid(grid); });

    function valuesFor(grid) {
      var field = grid.getAttribute("data-field");
      if (field === "years") {
        var now = new Date().getFullYear(), count = Number(grid.getAttribute("data-years"));
        var years = [];
        for (var y = now; y < now + count; y++) years.push(y);
        state.years.forEach(function (y) { if (years.indexOf(y) < 0) years.push(y); });
        return years.sort();
      }
      var out = [];
      for (var v = Number(grid.getAttribute("data-min")); v <= Number(grid.getAttribute("data-max")); v++) out.push(v);
      return out;
    }

    function buildGrid(grid) {
      var field = grid.getAttribute("data-field");
      var labels = (grid.getAttribute("data-labels") || "").split(",").filter(Boolean);
      var min = Number(grid.getAttribute("data-min") || 0);
      var cells = TF.el("div", { class: "tf-cells", role: "group", "aria-label": field });
      cells.style.setProperty("--cols", grid.getAttribute("data-cols"));
      var any = TF.el("button", { type: "button", class: "tf-any", "data-any": field, text: "any" });
      any.addEventListener("click", function () { state[field].clear(); chosen(); });
      valuesFor(grid).forEach(function (v) {
        var label = labels.length ? labels[v - min] : String(v).padStart(field === "minutes" || field === "hours" ? 2 : 1, "0");
        var cell = TF.el("button", { type: "button", class: "tf-cell", "data-value": String(v), "aria-pressed": "false", text: label });
        cell.addEventListener("click", function () {
          if (state[field].has(v)) state[field].delete(v); else state[field].add(v);
          chosen();
        });
        cells.appendChild(cell);
      });
      grid.appendChild(any);
      grid.appendChild(cells);
      grid.appendChild(TF.el("ul", { class: "errorlist", "data-errors": field, hidden: "" }));
    }

    function paint() {
      root.querySelectorAll(".tf-grid").forEach(function (grid) {
        var field = grid.getAttribute("data-field");
        grid.querySelector(".tf-any").setAttribute("aria-pressed", state[field].size ? "false" : "true");
        grid.querySelectorAll(".tf-cell").forEach(function (cell) {
          cell.setAttribute("aria-pressed", state[field].has(Number(cell.getAttribute("data-value"))) ? "true" : "false");
        });
      });
      var cronSet = cron && cron.value.trim();
      root.querySelector("[data-tf-cron-note]").hidden = !cronSet;
      root.classList.toggle("tf-cron-active", !!cronSet);
      root.querySelector("[data-tf-summary]").textContent = cronSet ? "cron: " + cron.value.trim() : summary();
      root.querySelector("[data-tf-job-zone]").textContent = zone();
    }

    function toObject() {
      var out = {};
      FIELDS.forEach(function (f) { out[f] = Array.from(state[f]).sort(function (a, b) { return a - b; }); });
      return out;
    }

    function summary() {
      var s = toObject(), parts = [];
      var names = { weekdays: ["Sun", "Mon", "Tue", "Wed", "Thu", "Fri", "Sat"],
        months: ["Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"] };
      if (s.minutes.length) parts.push("minute " + s.minutes.join(","));
      if (s.hours.length) parts.push("hour " + s.hours.join(","));
      if (s.weekdays.length) parts.push(s.weekdays.map(function (d) { return names.weekdays[d]; }).join(","));
      if (s.days.length) parts.push("day " + s.days.join(","));
      if (s.months.length) parts.push(s.months.map(function (m) { return names.months[m - 1]; }).join(","));
      if (s.years.length) parts.push(s.years.join(","));
      return parts.length ? "At " + parts.join(" · ") : "Every minute";
    }

    function zone() { return (zoneInput && zoneInput.value.trim()) || "UTC"; }

    /* The user picked something: the job now runs on a schedule. */
    function chosen() {
      if (scheduled && !scheduled.checked) { scheduled.checked = true; applyScheduled(); }
      changed();
    }

    function changed() {
      hidden.value = JSON.stringify(toObject());
      paint();
      schedulePreview();
    }

    root.querySelectorAll("[data-preset]").forEach(function (button) {
      button.addEventListener("click", function () {
        var preset = button.getAttribute("data-preset");
        FIELDS.forEach(function (f) { state[f].clear(); });
        if (cron) cron.value = preset === "minute" ? EVERY_MINUTE : "";  // other presets are grids
        if (preset === "hourly") state.minutes.add(0);
        if (preset === "daily" || preset === "weekdays") {
          var time = (root.querySelector("[data-preset-time=" + preset + "]").value || "09:00").split(":");
          state.hours.add(Number(time[0])); state.minutes.add(Number(time[1]));
          if (preset === "weekdays") [1, 2, 3, 4, 5].forEach(function (d) { state.weekdays.add(d); });
        }
        chosen();
      });
    });

    var timer = null, seq = 0;
    function schedulePreview() { clearTimeout(timer); timer = setTimeout(preview, 250); }
    function preview() {
      var mine = ++seq;
      if (scheduled && !scheduled.checked) { show(zone(), [], null, "Manual only: no scheduled runs."); return; }
      var problem = cron ? cronProblem(cron.value.trim()) : null;
      if (problem) { show(zone(), [], { cron_expr: [problem] }); return; }  // no request: quiet
      var body = {
        schedule: Object.assign(toObject(), { cron_expr: cron ? cron.value.trim() : "" }),
        timezone: zone(),
      };
      TF.api(root.getAttribute("data-preview-url"), body).then(function (data) {
        show(data.timezone, data.nextRuns, null);
      }, function (error) {
        if (error.code !== "VALIDATION_ERROR") return;  // a convenience; saving still validates
        show(body.timezone, [], fieldErrors(error.details || {}));
      });
      function show(timeZone, times, errors, note) {
        if (mine !== seq) return;  // an older answer arriving late
        showErrors(errors || {});
        var tbody = root.querySelector("[data-tf-preview]");
        tbody.replaceChildren();
        times.forEach(function (t) {
          tbody.appendChild(TF.el("tr", {}, [
            TF.el("td", { text: TF.fmtTime(t, timeZone) }),
            TF.el("td", { text: TF.fmtTime(t, TF.zone) }),
          ]));
        });
        if (!tbody.children.length) {
          tbody.appendChild(TF.el("tr", {}, [TF.el("td", { colspan: "2", text: note || (errors ? "Fix the schedule to see its next runs." : "Never fires.") })]));
        }
      }
    }

    /* The API's details ({schedule: {minutes: [...], non_field_errors: [...]}, timezone: [...]},
       a list item's errors keyed by its index) as {field: [messages]}; "schedule" = the whole. */
    function fieldErrors(details) {
      var out = {};
      function messages(value) {
        if (typeof value === "string") return [value];
        if (Array.isArray(value)) return [].concat.apply([], value.map(messages));
        return [].concat.apply([], Object.keys(value || {}).map(function (k) { return messages(value[k]); }));
      }
      function add(field, value) { out[field] = (out[field] || []).concat(messages(value)); }
      Object.keys(details).forEach(function (key) {
        var value = details[key];
        if (key === "schedule" && value && !Array.isArray(value) && typeof value === "object") {
          Object.keys(value).forEach(function (k) { add(k === "non_field_errors" ? "schedule" : k, value[k]); });
        } else {
          add(key === "non_field_errors" ? "schedule" : key, value);
        }
      });
      return out;
    }

    function showErrors(errors) {
      root.querySelectorAll("[data-errors]").forEach(function (list) {
        var msgs = errors[list.getAttribute("data-errors")] || [];
        list.replaceChildren.apply(list, msgs.map(function (m) { return TF.el("li", { text: m }); }));
        list.hidden = !msgs.length;
        list.parentNode.classList.toggle("tf-grid-error", msgs.length > 0);
      });
      var other = root.querySelector("[data-tf-preview-errors]");
      var rest = [];
      Object.keys(errors).forEach(function (k) {
        if (FIELDS.indexOf(k) < 0) errors[k].forEach(function (m) { rest.push((k === "schedule" ? "" : k.replace("_", " ") + ": ") + m); });
      });
      other.replaceChildren.apply(other, rest.map(function (m) { return TF.el("li", { text: m }); }));
      other.hidden = !rest.length;
    }

    function applyScheduled() {
      var on = !scheduled || scheduled.checked;
      root.classList.toggle("tf-unscheduled", !on);
      root.querySelector("[data-tf-manual-note]").hidden = on;
    }
    if (scheduled) scheduled.addEventListener("change", function () { applyScheduled(); schedulePreview(); });
    applyScheduled();
    if (cron) cron.addEventListener("input", function () {
      if (cron.value.trim() && scheduled && !scheduled.checked) { scheduled.checked = true; applyScheduled(); }
      paint(); schedulePreview();
    });
    if (zoneInput) zoneInput.addEventListener("change", function () { paint(); schedulePreview(); });
    if (zoneInput) zoneInput.addEventListener("input", function () { paint(); schedulePreview(); });
    showErrors(TF.jsonData("tf-schedule-errors") || {});
    hidden.value = JSON.stringify(toObject());
    paint();
    preview();
  }

  function setupKinds() {
    var kind = document.getElementById("id_kind");
    if (!kind) return;
    function apply() {
      ["shell", "command", "http"].forEach(function (k) {
        document.querySelectorAll("fieldset.tf-kind-" + k).forEach(function (fs) { fs.hidden = kind.value !== k; });
      });
    }
    kind.addEventListener("change", apply);
    apply();
  }

  document.addEventListener("DOMContentLoaded", function () {
    var root = document.querySelector("[data-tf-schedule]");
    if (root) setup(root);
    setupKinds();
  });
})();
