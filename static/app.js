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

  // Keyboard: j and k move between entries from where the focus is, Enter opens the entry
  // j or k chose (Enter on any other control does what that control does), / goes to the filter.
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
  // Where j (step 1) or k (step -1) goes: next to the entry that holds the focus; else the
  // first entry after (or last before) the focused control; else next to the chosen entry.
  function destination(all, step) {
    var focused = document.activeElement;
    var holder = all.findIndex(function (entry) { return entry.contains(focused); });
    if (holder >= 0) return holder + step;
    if (focused && focused !== document.body) {
      var after = all.findIndex(function (entry) {
        return focused.compareDocumentPosition(entry) & Node.DOCUMENT_POSITION_FOLLOWING;
      });
      if (after < 0) after = all.length;
      return step > 0 ? after : after - 1;
    }
    var chosen = all.findIndex(function (entry) { return entry.classList.contains("selected"); });
    return chosen < 0 ? 0 : chosen + step;
  }
  document.addEventListener("keydown", function (event) {
    var target = event.target;
    var typing = /^(INPUT|SELECT|TEXTAREA)$/.test(target.tagName) || target.isContentEditable;
    if (typing || event.ctrlKey || event.metaKey || event.altKey) return;
    var all = entries();
    if (event.key === "j" || event.key === "k") {
      select(destination(all, event.key === "j" ? 1 : -1));
      event.preventDefault();
    } else if (event.key === "Enter") {
      var chosen = document.querySelector("li.entry.selected");
      var onEntry = chosen && (target === chosen || target === document.body);
      var link = onEntry && chosen.querySelector("a.title");
      if (link) { window.location.href = link.href; event.preventDefault(); }
    } else if (event.key === "/") {
      var filter = document.querySelector("form.filters input[name=q]");
      if (filter) { filter.focus(); event.preventDefault(); }
    } else if (event.key === "Escape") {
      document.querySelectorAll("ol.bar .day:hover, ol.bar .day:focus-within").forEach(
        function (day) {
          if (day.contains(document.activeElement)) day.querySelector(".mark").focus();
          day.classList.add("tip-closed");
        });
    }
  });
  // Status bars: Escape closes a day's tip until the pointer or the focus leaves that day.
  ["focusout", "mouseout"].forEach(function (type) {
    document.addEventListener(type, function (event) {
      var day = event.target.closest && event.target.closest("ol.bar .day.tip-closed");
      if (day && !day.contains(event.relatedTarget)) day.classList.remove("tip-closed");
    });
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
