/* Job editor: the parameter and follow-up tables. "Add" clones the row template (the server
   reads any row index); a parameter's row shows the inputs its type needs (choices for "One of
   a list") and a hint for its default. Without this script each save adds one blank row. */
(function () {
  "use strict";
  var HINTS = { string: "", integer: "e.g. 10", boolean: "yes or no", choice: "one of the choices" };

  function typed(row) {
    var type = row.querySelector("[data-tf-param-type]");
    if (!type) return;
    row.setAttribute("data-type", type.value);
    var choices = row.querySelector("[data-tf-param-choices]");
    if (choices) choices.hidden = type.value !== "choice";
    var dflt = row.querySelector("[data-tf-param-default]");
    if (dflt) dflt.placeholder = HINTS[type.value] || "";
  }

  function setup(table) {
    var body = table.querySelector("[data-tf-rows-body]");
    var template = table.querySelector("template[data-tf-row-template]");
    var next = Number(table.getAttribute("data-tf-next")) || 0;
    body.querySelectorAll("[data-tf-row]").forEach(typed);
    body.addEventListener("change", function (event) {
      if (event.target.matches("[data-tf-param-type]")) typed(event.target.closest("[data-tf-row]"));
    });
    table.querySelector("[data-tf-add-row]").addEventListener("click", function () {
      var html = template.innerHTML.replace(/__i__/g, String(next++));
      body.insertAdjacentHTML("beforeend", html);
      var row = body.lastElementChild;
      typed(row);
      var first = row.querySelector("input[type=text], select, textarea");
      if (first) first.focus();
    });
  }

  document.addEventListener("DOMContentLoaded", function () {
    document.querySelectorAll("[data-tf-rows]").forEach(setup);
  });
})();
