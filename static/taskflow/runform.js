/* Run now's form for a job with parameters: the values go to POST /api/jobs/<id>/run as
   {"params": {...}} (typed: numbers, true/false), the API's 400 lands beside each input, and a
   queued run opens its page (data-tf-after="open") or is handed to the page that opened the
   form (TFRunForm.attach's callback, the job page's dialog). Without this script the form
   posts to the admin's Run now view, which answers the same way. */
(function () {
  "use strict";

  function values(form) {
    var params = {};
    form.querySelectorAll("[data-tf-param]").forEach(function (input) {
      var name = input.getAttribute("data-tf-param"), type = input.getAttribute("data-tf-type");
      if (type === "boolean") { params[name] = input.checked; return; }
      var value = input.value;
      if (value === "") return;  // the default, or "required" from the server
      if (type === "integer" && /^-?\d+$/.test(value.trim())) value = Number(value.trim());
      params[name] = value;
    });
    return params;
  }

  function showErrors(form, messages, general) {
    form.querySelectorAll("[data-tf-param-errors]").forEach(function (list) {
      var mine = messages[list.getAttribute("data-tf-param-errors")] || [];
      list.replaceChildren.apply(list, mine.map(function (m) { return TF.el("li", { text: m }); }));
      list.hidden = !mine.length;
      var row = list.closest("[data-tf-param-row]");
      if (row) row.classList.toggle("errors", mine.length > 0);
    });
    var top = form.querySelector("[data-tf-run-errors]");
    top.replaceChildren.apply(top, general.map(function (m) { return TF.el("li", { text: m }); }));
    top.hidden = !general.length;
  }

  function asList(value) {
    if (value === undefined || value === null) return [];
    if (Array.isArray(value)) return value.map(String);
    if (typeof value === "object") return Object.keys(value).map(function (k) { return k + ": " + asList(value[k]).join(" "); });
    return [String(value)];
  }

  /* The 400 envelope's details -> {NAME: [messages]} and the rest: details.params may be
     per name ({"params": {"NAME": [...]}}) or say something about the whole. */
  function sortErrors(form, error) {
    var names = {}, perName = {}, general = [];
    form.querySelectorAll("[data-tf-param]").forEach(function (i) { names[i.getAttribute("data-tf-param")] = true; });
    var details = error.details || {};
    var pool = {};
    Object.keys(details).forEach(function (key) {
      var value = details[key];
      if (key === "params" && value && typeof value === "object" && !Array.isArray(value)) {
        Object.keys(value).forEach(function (k) { pool[k] = value[k]; });
      } else {
        pool[key.replace(/^params\./, "")] = value;
      }
    });
    Object.keys(pool).forEach(function (key) {
      if (names[key]) perName[key] = asList(pool[key]);
      else if (key === "params" || key === "non_field_errors" || key === "detail") general = general.concat(asList(pool[key]));
      else general = general.concat(asList(pool[key]).map(function (m) { return key + ": " + m; }));
    });
    if (!general.length && !Object.keys(perName).length) {
      general.push(error.error || ("The run was not started (HTTP " + error.status + ")."));
    }
    return { perName: perName, general: general };
  }

  function attach(form, done) {
    form.addEventListener("submit", function (event) {
      event.preventDefault();
      var button = form.querySelector("[data-tf-run-submit]");
      button.disabled = true;
      TF.api(form.getAttribute("data-api-url"), { params: values(form) }).then(function (run) {
        showErrors(form, {}, []);
        if (done) done(run);
        else window.location.href = form.getAttribute("data-run-page").replace("__id__", run.runId);
      }, function (error) {
        var sorted = sortErrors(form, error);
        showErrors(form, sorted.perName, sorted.general);
        var first = form.querySelector("[data-tf-param-row].errors [data-tf-param]");
        if (first) first.focus();
      }).then(function () { button.disabled = false; });
    });
  }

  window.TFRunForm = { attach: attach };

  document.addEventListener("DOMContentLoaded", function () {
    document.querySelectorAll("form[data-tf-run-params][data-tf-after=open]").forEach(function (form) {
      attach(form, null);
    });
  });
})();
