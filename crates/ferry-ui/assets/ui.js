// ferry's web UI: live updates and confirmations. The pages work without
// this script (links and forms); it only makes them follow changes and ask
// before a rollback.
//
// Live: <body data-live="/ui/events?..."> names the page's server-sent
// event stream. A `patch` event carries {"patches":[{"id","html"}]}: each
// element with that id is replaced by the new HTML (rendered and escaped by
// the server). A `reload` event reloads the page. The browser reconnects by
// itself and sends Last-Event-ID, from which the server resumes.
"use strict";
(function () {
  var status = document.getElementById("live");
  function say(text) {
    if (status) status.textContent = text;
  }

  // Confirmation before forms that change something big (rollback).
  document.addEventListener("submit", function (e) {
    var form = e.target;
    var question = form.getAttribute("data-confirm");
    if (question && !window.confirm(question)) e.preventDefault();
  });

  function patch(message) {
    message.patches.forEach(function (p) {
      var old = document.getElementById(p.id);
      if (!old) return;
      // Keep keyboard focus where it was when the focused element is
      // replaced by one at the same place.
      var focused = old.contains(document.activeElement) ? document.activeElement : null;
      var path = focused && focused.getAttribute("action") ? focused.getAttribute("action") : null;
      old.outerHTML = p.html;
      if (path) {
        var again = document.querySelector('form[action="' + CSS.escape(path) + '"]');
        if (again) again.focus();
      }
    });
    document.body.setAttribute("data-updated", String(Date.now()));
    say("live · updated " + new Date().toLocaleTimeString());
  }

  // Polled: an element with data-poll="/ui/…" (the traffic page) fetches
  // that URL's {"patches":[…]} every data-every seconds.
  var polled = document.querySelector("[data-poll]");
  if (polled && window.fetch) {
    var every = Number(polled.getAttribute("data-every")) || 10;
    setInterval(function () {
      fetch(polled.getAttribute("data-poll"), { credentials: "same-origin" })
        .then(function (r) {
          // Sent to the login page: the session ended.
          if (r.redirected) return window.location.reload();
          if (!r.ok) throw new Error("status " + r.status);
          return r.json().then(patch);
        })
        .catch(function () {
          say("reconnecting…");
        });
    }, every * 1000);
  }

  // A followed log: <pre data-log="/ui/pods/…/logs?…"> appends each `log`
  // event's text (put in as text, never as HTML); a reconnect resumes from
  // Last-Event-ID, the byte offset in the log.
  var log = document.querySelector("pre[data-log]");
  if (log && window.EventSource) {
    var logs = new EventSource(log.getAttribute("data-log"));
    logs.addEventListener("log", function (e) {
      var atEnd = log.scrollTop + log.clientHeight >= log.scrollHeight - 4;
      log.textContent += JSON.parse(e.data).text;
      if (log.textContent.length > 262144) log.textContent = log.textContent.slice(-196608);
      if (atEnd) log.scrollTop = log.scrollHeight;
      log.setAttribute("data-offset", e.lastEventId);
    });
    logs.addEventListener("reload", function () {
      logs.close();
      window.location.reload();
    });
  }

  var url = document.body.getAttribute("data-live");
  if (!url || !window.EventSource) return;
  var source = new EventSource(url);
  source.addEventListener("open", function () {
    say("live");
  });
  source.addEventListener("patch", function (e) {
    patch(JSON.parse(e.data));
  });
  source.addEventListener("reload", function () {
    source.close();
    window.location.reload();
  });
  source.addEventListener("error", function () {
    say("reconnecting…");
  });
})();
