// charter dashboard: the little behaviour pages need, loaded from /static (the CSP allows
// no inline script). A run page follows its run live: an EventSource on the run's journal
// records, and on each new record the timeline is fetched again and swapped in.
"use strict";

(function () {
  const FINISHED = new Set(["completed", "failed", "stopped"]);
  // Record kinds a run's stream carries; the stream also ends (an error event) when the
  // run finishes or waits, which refreshes too, so an unlisted kind is seen at the latest
  // then.
  const KINDS = [
    "run.started", "run.waiting", "run.resumed", "run.recovered", "run.paused",
    "run.cancelled", "run.finished", "step.proposed", "step.decided", "step.effect",
    "step.observed", "approval.requested", "approval.granted", "approval.denied",
    "approval.escalated", "approval.expired", "approval.used", "approval.rejected",
    "approval.closed",
    "anomaly.detected", "budget.exceeded", "budget.extended", "rollback.started",
    "rollback.compensated", "rollback.irreversible", "rollback.in_doubt",
    "rollback.finished", "control.cancel", "message",
  ];
  const RETRY_MS = 1000;
  const STARTING_RETRY_MS = 250;
  const DEBOUNCE_MS = 150;

  function typedValues(root) {
    // What the user is typing in the timeline's forms, to carry across a swap.
    const kept = new Map();
    root.querySelectorAll("form input[type=text]").forEach((input) => {
      if (input.value) kept.set(input.form.getAttribute("action") + "|" + input.name, input.value);
    });
    root.querySelectorAll("form input[type=checkbox]:checked").forEach((input) => {
      kept.set(input.form.getAttribute("action") + "|" + input.name, true);
    });
    return kept;
  }

  function follow(runId) {
    let source = null;
    let timer = null;
    let refreshing = null;

    const current = () => document.getElementById("timeline");
    const done = () => FINISHED.has(current().dataset.status);

    async function refresh() {
      const response = await fetch("/runs/" + encodeURIComponent(runId) + "/timeline", {
        credentials: "same-origin",
        headers: { Accept: "text/html" },
      });
      if (response.redirected) {
        window.location.assign(response.url); // signed out: the sign-in page
        return;
      }
      if (!response.ok) return;
      const parsed = new DOMParser().parseFromString(await response.text(), "text/html");
      const fresh = parsed.getElementById("timeline");
      if (!fresh) return;
      const old = current();
      const kept = typedValues(old);
      fresh.querySelectorAll("form input[type=text]").forEach((input) => {
        const value = kept.get(input.form.getAttribute("action") + "|" + input.name);
        if (value) input.value = value;
      });
      fresh.querySelectorAll("form input[type=checkbox]").forEach((input) => {
        // A ticked confirmation (rollback) survives a swap that lands between tick and click.
        if (kept.get(input.form.getAttribute("action") + "|" + input.name) === true) input.checked = true;
      });
      old.replaceWith(fresh);
      focusableScrolls();
      if (done() && source) {
        source.close();
        source = null;
      }
    }

    function schedule() {
      if (timer !== null) return;
      timer = setTimeout(() => {
        timer = null;
        refreshing = refresh().catch(() => undefined);
      }, DEBOUNCE_MS);
    }

    function connect() {
      const after = current().dataset.after || "0";
      source = new EventSource(
        "/api/runs/" + encodeURIComponent(runId) + "/events?after=" + encodeURIComponent(after)
      );
      KINDS.forEach((kind) => source.addEventListener(kind, schedule));
      source.onerror = () => {
        // The server ends the stream when the run finishes or waits (or the connection
        // dropped): refresh, and listen again from the newest record unless it finished.
        if (source) source.close();
        source = null;
        Promise.resolve(refreshing)
          .then(() => refresh())
          .catch(() => undefined)
          .then(() => {
            if (done()) return;
            // A run accepted but not journaled yet is looked for again sooner.
            const starting = current().dataset.status === "starting";
            setTimeout(connect, starting ? STARTING_RETRY_MS : RETRY_MS);
          });
      };
    }

    connect();
  }

  // The runs list: while a run on the page is running or waiting, its rows are fetched
  // again every few seconds (same filters, same page) and swapped in.
  const LIST_EVERY_MS = 5000;

  function refreshList() {
    const list = document.getElementById("runs-list");
    if (!list || list.dataset.live !== "yes") return;
    setTimeout(async () => {
      if (document.hidden) return refreshList();
      try {
        const response = await fetch(list.dataset.rows, { credentials: "same-origin" });
        if (response.ok && !response.redirected) {
          const parsed = new DOMParser().parseFromString(await response.text(), "text/html");
          const fresh = parsed.getElementById("runs-list");
          if (fresh) list.replaceWith(fresh);
          focusableScrolls();
        }
      } catch (_) {
        // offline for a moment: try again at the next tick
      }
      refreshList();
    }, LIST_EVERY_MS);
  }

  // A table, a block of JSON or a value larger than its box scrolls inside itself: it takes
  // keyboard focus then, so it can be scrolled without a pointer.
  function focusableScrolls() {
    document.querySelectorAll("main table, main pre, main .kv dd").forEach((box) => {
      const scrolls =
        box.scrollWidth > box.clientWidth + 1 || box.scrollHeight > box.clientHeight + 1;
      if (scrolls) box.setAttribute("tabindex", "0");
      else if (box.getAttribute("tabindex") === "0") box.removeAttribute("tabindex");
    });
  }
  window.addEventListener("resize", focusableScrolls);

  document.addEventListener("DOMContentLoaded", () => {
    focusableScrolls();
    const timeline = document.getElementById("timeline");
    if (timeline && timeline.dataset.live === "yes") follow(timeline.dataset.run);
    refreshList();
  });
})();
