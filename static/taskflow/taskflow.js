/* TaskFlow admin helpers: times in the browser's zone, formatting, the API, WebSocket URLs. */
(function () {
  "use strict";

  var zone = (Intl.DateTimeFormat().resolvedOptions().timeZone) || "UTC";
  var dateTime = new Intl.DateTimeFormat(undefined, {
    year: "numeric", month: "short", day: "2-digit",
    hour: "2-digit", minute: "2-digit", second: "2-digit", hour12: false,
  });

  function fmtTime(value, timeZone) {
    if (!value) return "—";
    var date = value instanceof Date ? value : new Date(value);
    if (isNaN(date)) return String(value);
    if (timeZone) {
      try {
        return new Intl.DateTimeFormat(undefined, {
          year: "numeric", month: "short", day: "2-digit", weekday: "short",
          hour: "2-digit", minute: "2-digit", hour12: false, timeZone: timeZone,
        }).format(date);
      } catch (e) { /* unknown zone in this browser: fall through to the viewer's */ }
    }
    return dateTime.format(date);
  }

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
      t.title = t.textContent;
      t.textContent = fmtTime(t.getAttribute("datetime"));
      t.setAttribute("data-tf-done", "1");
    });
  }

  window.TF = {
    zone: zone, fmtTime: fmtTime, fmtDuration: fmtDuration, fmtBytes: fmtBytes, el: el,
    badge: badge, api: api, wsUrl: wsUrl, jsonData: jsonData,
    localizeTimes: localizeTimes,
  };

  document.addEventListener("DOMContentLoaded", function () {
    document.querySelectorAll("[data-tf-browser-zone]").forEach(function (n) { n.textContent = zone; });
    localizeTimes(document);
  });
})();
