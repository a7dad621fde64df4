/* The jobs page: GET /v1/jobs, then one event stream (GET /v1/jobs/{id}/events, server-sent events, `event: job`,
 * data = Job JSON of protos/ser/v1/jobs.proto) per unfinished job, read with fetch() so it carries the bearer
 * header (EventSource cannot). The list is re-read every few seconds to pick up new jobs.
 *
 * Stable hooks: each row is `tr[data-job-id]` with data-state; its bar is `progress.job-progress` with
 * data-fraction; the cancel button is `button.cancel`, the results link `a.results`. */
"use strict";

(() => {
  const TERMINAL = new Set(["JOB_STATE_SUCCEEDED", "JOB_STATE_FAILED", "JOB_STATE_CANCELLED", "JOB_STATE_PARTIAL"]);
  const BATCH_KINDS = new Set(["JOB_KIND_BATCH_ANALYSIS", "JOB_KIND_SEGMENT_BATCH"]);
  const LIST_EVERY_MS = 4000;
  const { num, el } = SER;

  const rows = new Map();     // job id -> its <tr>
  const streams = new Map();  // job id -> AbortController of its event stream
  const tbody = document.querySelector("#jobs tbody");

  const words = (name, prefix) => String(name || "").replace(prefix, "").toLowerCase().replace(/_/g, " ");
  const shortId = (id) => String(id).slice(0, 12);

  function rowFor(job) {
    let tr = rows.get(job.id);
    if (tr) return tr;
    tr = el("tr", { "data-job-id": job.id });
    const bar = el("progress", { class: "job-progress", max: 1, value: 0, "aria-label": `Progress of job ${shortId(job.id)}` });
    const cancel = el("button", { type: "button", class: "danger cancel", "aria-label": `Cancel job ${shortId(job.id)}` }, "Cancel");
    cancel.addEventListener("click", () => cancelJob(job.id, cancel));
    const actions = el("td", { class: "actions" });
    actions.append(cancel);
    if (BATCH_KINDS.has(job.kind)) {
      const link = el("a", { class: "results", href: `/jobs?job=${encodeURIComponent(job.id)}#results` }, "Results");
      link.setAttribute("aria-label", `Results of job ${shortId(job.id)}`);
      link.addEventListener("click", (ev) => {
        ev.preventDefault();
        history.replaceState(null, "", link.getAttribute("href"));
        showResults(job.id);
      });
      actions.append(" ", link);
    }
    tr.append(el("td", { class: "id" }, shortId(job.id)), el("td", { class: "kind" }, words(job.kind, "JOB_KIND_")),
      el("td", { class: "state" }), el("td", { class: "progress" }), el("td", { class: "message" }),
      el("td", { class: "created" }), actions);
    tr.querySelector("td.progress").append(bar, el("span", { class: "pct" }));
    tr.querySelector("td.id").title = job.id;
    rows.set(job.id, tr);
    return tr;
  }

  /** Draw one Job into its row (creating it at the top when new). */
  function update(job) {
    const isNew = !rows.has(job.id);
    const tr = rowFor(job);
    const state = job.state || "JOB_STATE_UNSPECIFIED";
    const p = job.progress || {};
    const fraction = Math.max(0, Math.min(1, num(p.fraction)));
    tr.dataset.state = state;
    const stateCell = tr.querySelector("td.state");
    stateCell.textContent = words(state, "JOB_STATE_");
    stateCell.className = `state state-${words(state, "JOB_STATE_")}`;
    const bar = tr.querySelector("progress");
    bar.value = fraction;
    bar.dataset.fraction = fraction.toFixed(4);
    const total = num(p.total_steps);
    const items = BATCH_KINDS.has(job.kind) && total ? ` · ${num(p.items_done)}/${total} files` +
      (num(p.items_failed) ? `, ${num(p.items_failed)} failed` : "") : "";
    tr.querySelector(".pct").textContent = ` ${(100 * fraction).toFixed(0)}%${items}`;
    const error = job.error && job.error.message ? ` — ${job.error.message}` : "";
    tr.querySelector("td.message").textContent = `${p.message || ""}${error}`;
    tr.querySelector("td.created").textContent = job.created_unix_ms ? new Date(num(job.created_unix_ms)).toLocaleString() : "";
    const cancel = tr.querySelector("button.cancel");
    cancel.disabled = cancel.hidden = TERMINAL.has(state);
    if (isNew) tbody.prepend(tr);
    document.getElementById("jobs-empty").hidden = rows.size > 0;
    if (!TERMINAL.has(state)) watch(job.id);
    showCounts();
    if (document.getElementById("results-job").textContent === job.id) drawResultFacts(job);
  }

  async function refreshList(initial = false) {
    try {
      const { jobs = [] } = await SER.json("/v1/jobs");
      // the list is newest first: draw oldest first so each new row is prepended above the older ones
      for (const job of [...jobs].reverse()) {
        if (initial || !rows.has(job.id) || (!streams.has(job.id) && !TERMINAL.has(job.state))) update(job);
      }
      showCounts();
    } catch (err) {
      SER.showError(err);
    }
  }

  function showCounts() {
    const live = [...rows.values()].filter((tr) => !TERMINAL.has(tr.dataset.state)).length;
    SER.setStatus(`${rows.size} job(s), ${live} running or queued`);
  }

  /** Follow one job's event stream until it is final; reconnect (after a pause) if the stream drops. */
  async function watch(id) {
    if (streams.has(id)) return;
    const controller = new AbortController();
    streams.set(id, controller);
    let final = false;
    try {
      while (!final && !controller.signal.aborted) {
        try {
          final = await readStream(id, controller.signal);
        } catch (err) {
          if (err.name === "AbortError") return;
          if (err instanceof SER.Problem && err.status === 404) {
            SER.showError(err);
            return;
          }
          console.warn(`job ${id}: event stream dropped`, err);
        }
        if (!final) await new Promise((r) => setTimeout(r, 1000));
      }
    } finally {
      streams.delete(id);
    }
  }

  /** Read `event: job` messages until the stream ends; true when the job reached a final state. */
  async function readStream(id, signal) {
    const response = await SER.request(`/v1/jobs/${encodeURIComponent(id)}/events`,
      { signal, headers: { Accept: "text/event-stream" } });
    const reader = response.body.pipeThrough(new TextDecoderStream()).getReader();
    let buffer = "", final = false;
    for (;;) {
      const { value, done } = await reader.read();
      if (done) return final;
      buffer += value.replace(/\r\n?/g, "\n");
      let cut;
      while ((cut = buffer.indexOf("\n\n")) >= 0) {
        const message = parseEvent(buffer.slice(0, cut));
        buffer = buffer.slice(cut + 2);
        if (message && (message.event === "job" || message.event === "message") && message.data) {
          const job = JSON.parse(message.data);
          update(job);
          final = TERMINAL.has(job.state);
        }
      }
    }
  }

  function parseEvent(block) {
    const message = { event: "message", data: "" };
    const data = [];
    for (const line of block.split("\n")) {
      if (!line || line.startsWith(":")) continue;
      const colon = line.indexOf(":");
      const field = colon < 0 ? line : line.slice(0, colon);
      const value = colon < 0 ? "" : line.slice(colon + 1).replace(/^ /, "");
      if (field === "event") message.event = value;
      else if (field === "data") data.push(value);
    }
    message.data = data.join("\n");
    return message;
  }

  async function cancelJob(id, button) {
    button.disabled = true;
    SER.clearError();
    try {
      update(await SER.json(`/v1/jobs/${encodeURIComponent(id)}`, { method: "DELETE" }));
    } catch (err) {
      button.disabled = false;
      SER.showError(err);
    }
  }

  // ---------------------------------------------------------------- a batch's results

  async function showResults(id) {
    const section = document.getElementById("results");
    document.getElementById("results-job").textContent = id;
    section.hidden = false;
    try {
      drawResultFacts(await SER.json(`/v1/jobs/${encodeURIComponent(id)}`));
      drawResultFiles(await SER.json(`/v1/jobs/${encodeURIComponent(id)}/results?limit=1000`));
      section.focus();
    } catch (err) {
      SER.showError(err);
    }
  }

  /* One row per file (GET /v1/jobs/{id}/results): its name, "analysed" or its error, its segment count.
   * Rows carry data-ok so tests can count them. */
  function drawResultFiles(page) {
    const table = document.getElementById("results-files");
    const rows = (page.files || []).map((f) => {
      const tr = el("tr", { "data-ok": f.ok ? "true" : "false" });
      tr.append(el("td", {}, (f.path || "").split("/").pop()),
                el("td", {}, f.ok ? `analysed (${Number(f.duration_s || 0).toFixed(1)} s)` : `${f.error || "error"}: ${f.message || ""}`),
                el("td", { class: "num" }, f.ok ? String(f.segments ?? "") : "–"));
      return tr;
    });
    table.querySelector("tbody").replaceChildren(...rows);
    table.hidden = rows.length === 0;
  }

  function drawResultFacts(job) {
    const p = job.progress || {};
    const facts = [
      ["State", words(job.state, "JOB_STATE_")],
      ["Files done", `${num(p.items_done)} of ${num(p.total_steps)}${num(p.items_failed) ? `, ${num(p.items_failed)} failed` : ""}`],
      ["Results folder", job.result_uri || "(not written yet)"],
      ["Finished", job.finished_unix_ms && num(job.finished_unix_ms) ? new Date(num(job.finished_unix_ms)).toLocaleString() : "not yet"],
    ];
    if (job.error && job.error.message) facts.push(["Error", job.error.message]);
    document.getElementById("results-facts").replaceChildren(...facts.flatMap(([k, v]) => [el("dt", {}, k), el("dd", {}, v)]));
  }

  refreshList(true);
  setInterval(refreshList, LIST_EVERY_MS);
  const wanted = new URL(window.location.href).searchParams.get("job");
  if (wanted) showResults(wanted);
})();
