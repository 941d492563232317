// The console's own behaviour. No inline scripts anywhere (the Content-Security-Policy
// forbids them): pages describe what they need with data- attributes and this file acts.
(function () {
  "use strict";

  function csrfToken() {
    var meta = document.querySelector('meta[name="csrf-token"]');
    return meta ? meta.getAttribute("content") : "";
  }

  // htmx requests carry the session's CSRF token (plain forms carry a hidden field).
  document.addEventListener("htmx:configRequest", function (event) {
    event.detail.headers["X-CSRF-Token"] = csrfToken();
  });

  // Times are shown in the browser's zone: remember it for the server's next render.
  try {
    var zone = Intl.DateTimeFormat().resolvedOptions().timeZone;
    if (zone && document.cookie.indexOf("wecom_audit_tz=") === -1) {
      document.cookie = "wecom_audit_tz=" + encodeURIComponent(zone) + "; path=/; max-age=31536000; samesite=lax";
    }
  } catch (ignored) { /* an old browser: the configured zone is used */ }

  // Charts: <div data-chart='{echarts option}'> (built by the server, translated there).
  function drawCharts(root) {
    if (typeof window.echarts === "undefined") { return; }
    root.querySelectorAll("[data-chart]").forEach(function (element) {
      if (element.dataset.drawn) { return; }
      element.dataset.drawn = "1";
      var chart = window.echarts.init(element, null, { renderer: "canvas" });
      chart.setOption(JSON.parse(element.getAttribute("data-chart")));
      window.addEventListener("resize", function () { chart.resize(); });
    });
  }

  // Downloads that need the CSRF header (POST): <button data-post-download="/api/v1/exports"
  // data-body='{json}'>. The file name comes from Content-Disposition.
  function postDownload(button) {
    var status = document.getElementById(button.getAttribute("data-status") || "");
    button.disabled = true;
    if (status) { status.textContent = button.getAttribute("data-busy") || "…"; }
    fetch(button.getAttribute("data-post-download"), {
      method: "POST",
      credentials: "same-origin",
      headers: { "Content-Type": "application/json", "X-CSRF-Token": csrfToken() },
      body: button.getAttribute("data-body")
    }).then(function (response) {
      if (!response.ok) {
        return response.json().then(function (problem) {
          throw new Error(problem.detail || response.statusText);
        });
      }
      var disposition = response.headers.get("Content-Disposition") || "";
      var match = /filename="([^"]+)"/.exec(disposition);
      return response.blob().then(function (blob) {
        var link = document.createElement("a");
        link.href = URL.createObjectURL(blob);
        link.download = match ? match[1] : "export.zip";
        document.body.appendChild(link);
        link.click();
        link.remove();
        setTimeout(function () { URL.revokeObjectURL(link.href); }, 1000);
        if (status) { status.textContent = button.getAttribute("data-done") || ""; }
      });
    }).catch(function (error) {
      if (status) { status.textContent = error.message; }
    }).finally(function () {
      button.disabled = false;
    });
  }

  document.addEventListener("click", function (event) {
    var target = event.target.closest("[data-post-download]");
    if (target) { event.preventDefault(); postDownload(target); return; }
    var confirmable = event.target.closest("[data-confirm]");
    if (confirmable && !window.confirm(confirmable.getAttribute("data-confirm"))) { event.preventDefault(); }
    var insert = event.target.closest("[data-insert-query]");
    if (insert) {
      event.preventDefault();
      var input = document.querySelector("[data-search-input]");
      if (input) { input.value = insert.getAttribute("data-insert-query"); input.focus(); }
    }
  });

  // Keyboard: "/" focuses the search box (as in most consoles), Escape leaves it.
  document.addEventListener("keydown", function (event) {
    var typing = /^(INPUT|TEXTAREA|SELECT)$/.test(document.activeElement.tagName);
    var box = document.querySelector("[data-search-input]");
    if (event.key === "/" && !typing && box) { event.preventDefault(); box.focus(); box.select(); }
    if (event.key === "Escape" && typing) { document.activeElement.blur(); }
  });

  // The anchor message of a conversation (a search hit or an alert) is scrolled into view.
  function showAnchor(root) {
    var anchor = root.querySelector("[data-anchor]");
    if (anchor) { anchor.scrollIntoView({ block: "center" }); anchor.focus({ preventScroll: true }); }
  }

  document.addEventListener("DOMContentLoaded", function () { drawCharts(document); showAnchor(document); });
  document.addEventListener("htmx:afterSwap", function (event) { drawCharts(event.target); });
})();
