// shiplog's only script: local times, keyboard navigation, and news without a reload.
(function () {
  "use strict";

  // Times: the reader's time zone in the text, UTC stays in the title.
  function localTimes(root) {
    root.querySelectorAll("time[datetime][data-local]").forEach(function (node) {
      var when = new Date(node.getAttribute("datetime"));
      if (isNaN(when)) return;
      node.textContent = when.toLocaleString(undefined, {
        dateStyle: node.dataset.local === "date" ? "full" : "medium",
        timeStyle: node.dataset.local === "date" ? undefined : "short",
      });
    });
  }

  // Keyboard: j and k move between entries, Enter opens one, / goes to the filter.
  function entries() {
    return Array.prototype.slice.call(document.querySelectorAll("li.entry"));
  }
  function select(index) {
    var all = entries();
    if (!all.length) return;
    index = Math.max(0, Math.min(index, all.length - 1));
    all.forEach(function (entry) { entry.classList.remove("selected"); });
    var chosen = all[index];
    chosen.classList.add("selected");
    chosen.setAttribute("tabindex", "-1");
    chosen.focus({ preventScroll: true });
    chosen.scrollIntoView({ block: "nearest" });
  }
  document.addEventListener("keydown", function (event) {
    var typing = /^(INPUT|SELECT|TEXTAREA)$/.test(event.target.tagName);
    if (typing || event.ctrlKey || event.metaKey || event.altKey) return;
    var all = entries();
    var current = all.findIndex(function (entry) { return entry.classList.contains("selected"); });
    if (event.key === "j") { select(current + 1); event.preventDefault(); }
    else if (event.key === "k") { select(current < 0 ? 0 : current - 1); event.preventDefault(); }
    else if (event.key === "Enter" && current >= 0) {
      var link = all[current].querySelector("a.title");
      if (link) { window.location.href = link.href; event.preventDefault(); }
    } else if (event.key === "/") {
      var filter = document.querySelector("form.filters input[name=q]");
      if (filter) { filter.focus(); event.preventDefault(); }
    }
  });

  // News: the page asks for what is newer than its first entry, and says so at the top
  // instead of moving what the reader is looking at.
  var live = document.querySelector("[data-live]");
  if (live) {
    var newest = Number(live.dataset.newest || 0);
    var seenKey = "shiplog:seen:" + location.pathname + location.search;
    var seen = Number(sessionStorage.getItem(seenKey) || 0);
    entries().forEach(function (entry) {
      if (seen && Number(entry.dataset.id) > seen) entry.classList.add("new");
    });
    sessionStorage.setItem(seenKey, String(newest));
    var etag = null;
    var poll = function () {
      var headers = etag ? { "If-None-Match": etag } : {};
      fetch(live.dataset.live, { headers: headers, cache: "no-store" })
        .then(function (response) {
          if (response.status === 304 || !response.ok) return null;
          etag = response.headers.get("ETag");
          return response.json();
        })
        .then(function (data) {
          if (!data) return;
          var fresh = data.events.filter(function (e) { return e.id > newest; }).length;
          var banner = document.getElementById("news");
          if (fresh && banner) {
            banner.hidden = false;
            banner.querySelector("a").textContent =
              fresh + (fresh === 1 ? " new event" : " new events") + " — show";
          }
        })
        .catch(function () { /* offline for a moment: the next poll tries again */ });
    };
    setInterval(poll, Number(live.dataset.interval || 15000));
  }

  // Incident and status pages: when what they show changes, say so; the reader refreshes.
  var watched = document.querySelector("[data-watch]");
  if (watched) {
    var known = null;
    var check = function () {
      fetch(watched.dataset.watch, {
        headers: known ? { "If-None-Match": known } : {}, cache: "no-store",
      }).then(function (response) {
        if (response.status !== 200) return;
        var tag = response.headers.get("ETag");
        if (known && tag !== known) document.getElementById("news").hidden = false;
        known = tag;
      }).catch(function () { /* try again at the next tick */ });
    };
    check();
    setInterval(check, Number(watched.dataset.interval || 15000));
  }

  localTimes(document);
})();
