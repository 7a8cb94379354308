/* TaskFlow admin helpers: times in the browser's zone, formatting, the API, WebSocket URLs. */
(function () {
  "use strict";

  /* One date-time format everywhere: the browser's locale (24-hour where the locale says so)
     and zone; the page header names the zone, a job's own zone is named beside its times. */
  var zone = (Intl.DateTimeFormat().resolvedOptions().timeZone) || "UTC";
  var PARTS = { year: "numeric", month: "short", day: "2-digit", hour: "2-digit", minute: "2-digit", second: "2-digit" };
  var formats = {};

  function format(key, options) {
    if (!formats[key]) formats[key] = new Intl.DateTimeFormat(undefined, options);
    return formats[key];
  }

  function fmtTime(value, timeZone) {
    if (!value) return "—";
    var date = value instanceof Date ? value : new Date(value);
    if (isNaN(date)) return String(value);
    if (timeZone && timeZone !== zone) {
      try {
        return format("zone:" + timeZone, Object.assign({ weekday: "short", timeZone: timeZone, timeZoneName: "short" }, PARTS, { second: undefined })).format(date);
      } catch (e) { /* unknown zone in this browser: fall through to the viewer's */ }
    }
    return format("local", PARTS).format(date);
  }

  /* A slot in a job's zone, short: "Mon 22:07 GMT-5". */
  function fmtZoned(value, timeZone) {
    var date = new Date(value);
    try {
      return format("short:" + timeZone, { weekday: "short", hour: "2-digit", minute: "2-digit", timeZone: timeZone, timeZoneName: "short" }).format(date);
    } catch (e) { return fmtTime(date); }
  }

  /* Short forms for chart axes and timelines, in the same locale and zone. */
  function fmtClock(value, seconds) {
    var parts = { hour: "2-digit", minute: "2-digit", second: seconds ? "2-digit" : undefined };
    return format(seconds ? "clock:s" : "clock", parts).format(new Date(value));
  }
  function fmtDay(value) { return format("day", { month: "short", day: "numeric" }).format(new Date(value)); }

  function fmtDuration(ms) {
    if (ms === null || ms === undefined) return "—";
    var s = ms / 1000;
    if (s < 60) return s.toFixed(s < 10 ? 2 : 1) + " s";
    var m = Math.floor(s / 60); s = Math.floor(s % 60);
    if (m < 60) return m + " min " + s + " s";
    var h = Math.floor(m / 60); m = m % 60;
    if (h < 48) return h + " h " + m + " min";
    return Math.floor(h / 24) + " d " + (h % 24) + " h";
  }

  function fmtBytes(n) {
    if (n === null || n === undefined) return "—";
    var units = ["B", "KiB", "MiB", "GiB", "TiB"], i = 0;
    while (n >= 1024 && i < units.length - 1) { n /= 1024; i++; }
    return (i ? n.toFixed(1) : n) + " " + units[i];
  }

  function el(tag, attrs, children) {
    var node = document.createElement(tag);
    Object.keys(attrs || {}).forEach(function (k) {
      if (k === "text") node.textContent = attrs[k];
      else if (k === "class") node.className = attrs[k];
      else node.setAttribute(k, attrs[k]);
    });
    (children || []).forEach(function (c) {
      node.appendChild(typeof c === "string" ? document.createTextNode(c) : c);
    });
    return node;
  }

  function badge(status, label) {
    return el("span", { class: "tf-badge tf-" + status, text: label || status });
  }

  function csrfToken() {
    var input = document.querySelector("input[name=csrfmiddlewaretoken]");
    if (input) return input.value;
    var match = document.cookie.match(/(?:^|;\s*)csrftoken=([^;]+)/);
    return match ? decodeURIComponent(match[1]) : "";
  }

  /* The pages' data comes from /api/... with the session cookie (DRF accepts it). Resolves to
     the envelope's `data`; rejects with the error body ({error, code, details}) or the status.
     A body makes it a POST, with the CSRF token that session-authenticated writes need. */
  function api(url, body) {
    var init = { credentials: "same-origin", headers: { Accept: "application/json" } };
    if (body !== undefined) {
      init.method = "POST";
      init.headers["Content-Type"] = "application/json";
      init.headers["X-CSRFToken"] = csrfToken();
      init.body = JSON.stringify(body);
    }
    return fetch(url, init).then(function (r) {
      return r.json().catch(function () { throw { status: r.status }; }).then(function (json) {
        if (!r.ok) throw Object.assign({ status: r.status }, json);
        return json.data;
      });
    });
  }

  function wsUrl(path) {
    return (location.protocol === "https:" ? "wss://" : "ws://") + location.host + path;
  }

  function jsonData(id) {
    var node = document.getElementById(id);
    return node ? JSON.parse(node.textContent) : null;
  }

  /* <time datetime> rendered by the server in UTC -> the viewer's zone. */
  function localizeTimes(root) {
    (root || document).querySelectorAll("time[datetime]:not([data-tf-done])").forEach(function (t) {
      t.title = t.textContent + " · shown in " + zone;
      t.textContent = fmtTime(t.getAttribute("datetime"));
      t.setAttribute("data-tf-done", "1");
    });
  }

  window.TF = {
    zone: zone, fmtTime: fmtTime, fmtClock: fmtClock, fmtDay: fmtDay, fmtZoned: fmtZoned, fmtDuration: fmtDuration, fmtBytes: fmtBytes, el: el,
    badge: badge, api: api, wsUrl: wsUrl, jsonData: jsonData,
    localizeTimes: localizeTimes,
  };

  document.addEventListener("DOMContentLoaded", function () {
    document.querySelectorAll("[data-tf-browser-zone]").forEach(function (n) { n.textContent = zone; });
    localizeTimes(document);
  });
})();

/* What inline handlers did before the Content-Security-Policy (no inline script):
   data-select-on-focus selects a shown secret for copying, data-submit-on-change submits its
   form. */
document.addEventListener("focusin", function (event) {
  var el = event.target;
  if (el.matches && el.matches("[data-select-on-focus]")) el.select();
});
document.addEventListener("change", function (event) {
  var el = event.target;
  if (el.matches && el.matches("[data-submit-on-change]") && el.form) el.form.submit();
});
