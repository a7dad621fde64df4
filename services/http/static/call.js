/* The call page: upload a call or open a recent one, then draw its AnalyzeCallResponse (protos/ser/v1/
 * analysis.proto, as proto JSON): one SVG lane per participant, a valence curve, the audio with a moving
 * cursor, the per-participant summary and the negative turns.
 *
 * Stable hooks for tests and tools: every segment is `rect.seg` with data-index, data-participant,
 * data-start-ms, data-end-ms, data-label, data-confidence and data-uncertain ("true" when its top probability
 * is below the model's uncertain_below: drawn hatched grey, class `uncertain`, left out of the shares); the
 * cursor is `#cursor` with data-time-ms; `#call` gets data-call-id, data-segments and data-uncertain (the
 * number of uncertain segments) once drawn. */
"use strict";

(() => {
  const SVG = "http://www.w3.org/2000/svg";
  const LEFT = 104, RIGHT = 14, TOP = 6, LANE = 34, LANE_GAP = 8, AXIS = 24, VAL_GAP = 16, VAL_H = 96;
  const LINE_STYLES = [
    { stroke: "#12263f", dash: "" },
    { stroke: "#8a4b00", dash: "7 4" },
    { stroke: "#2e5e00", dash: "2 3" },
    { stroke: "#6a1b9a", dash: "9 3 2 3" },
  ];
  const { num, el, seconds } = SER;
  const UNCERTAIN_FILL = "url(#uncertain-hatch)", UNCERTAIN_STROKE = "#4a5360";

  const player = document.getElementById("player");
  const svg = document.getElementById("timeline");
  let current = null;          // the drawn AnalyzeCallResponse
  let objectUrl = null;        // the audio's object URL, revoked on the next call
  let stopAt = null;           // seconds: pause here (a played segment's end)
  let playFrom = 0;            // seconds: the played segment's start
  let geometry = null;         // { x(ms) } of the drawn timeline
  const filenames = new Map(); // call id -> the uploaded file's name (from GET /v1/calls)

  // ---------------------------------------------------------------- loading

  async function loadRecent() {
    const list = document.getElementById("recent-list");
    try {
      const { calls = [] } = await SER.json("/v1/calls");
      list.replaceChildren(...calls.map((c) => {
        filenames.set(c.call_id, c.filename);
        const when = c.created_unix_ms ? new Date(num(c.created_unix_ms)).toLocaleString() : "";
        const button = el("button", { type: "button", class: "secondary", "data-call-id": c.call_id },
          `${c.filename || c.call_id} · ${num(c.duration_s).toFixed(1)} s${when ? " · " + when : ""}`);
        button.addEventListener("click", () => openStored(c.call_id));
        return el("li").appendChild(button).parentNode;
      }));
      document.getElementById("recent-empty").hidden = calls.length > 0;
    } catch (err) {
      SER.showError(err);
    }
  }

  async function upload(event) {
    event.preventDefault();
    const file = document.getElementById("call-file").files[0];
    if (!file) return;
    const button = document.getElementById("upload-button");
    const form = new FormData();
    form.append("file", file, file.name);
    if (document.getElementById("opt-mixdown").checked) form.append("options", JSON.stringify({ mix_down: true }));
    button.disabled = true;
    SER.clearError();
    SER.setStatus(`Analysing ${file.name}…`);
    try {
      const result = await SER.json("/v1/calls:analyze", { method: "POST", body: form });
      setAudio(URL.createObjectURL(file));
      filenames.set(result.call_id, file.name);
      show(result);
      remember(result.call_id);
      loadRecent();
    } catch (err) {
      SER.setStatus("");
      SER.showError(err);
    } finally {
      button.disabled = false;
    }
  }

  async function openStored(callId) {
    SER.clearError();
    SER.setStatus(`Opening ${callId}…`);
    try {
      const path = `/v1/calls/${encodeURIComponent(callId)}`;
      const result = await SER.json(path);
      await loadAudio(`${path}/audio`);
      show(result);
      remember(callId);
    } catch (err) {
      SER.setStatus("");
      SER.showError(err);
    }
  }

  /** With a token the audio is fetched (an <audio> cannot send the header); without one it streams with Range. */
  async function loadAudio(url) {
    if (!SER.token()) {
      setAudio(url, false);
      return;
    }
    const blob = await (await SER.request(url)).blob();
    setAudio(URL.createObjectURL(blob));
  }

  function setAudio(url, isObjectUrl = true) {
    if (objectUrl) URL.revokeObjectURL(objectUrl);
    objectUrl = isObjectUrl ? url : null;
    stopAt = null;
    player.src = url;
    player.load();
  }

  function remember(callId) {
    const url = new URL(window.location.href);
    url.searchParams.set("call", callId);
    history.replaceState(null, "", url.pathname + url.search);
  }

  // ---------------------------------------------------------------- drawing

  function participantsOf(result) {
    const names = (result.participants || []).map((p) => p.participant);
    for (const e of result.timeline || []) if (!names.includes(e.participant)) names.push(e.participant);
    return names;
  }

  function show(result) {
    current = result;
    const timeline = result.timeline || [];
    document.getElementById("call").hidden = false;
    const filename = filenames.get(result.call_id);
    document.getElementById("call-name").textContent = filename ? `${filename} (${result.call_id})` : result.call_id;
    const model = result.model || {};
    const silence = result.silence || {};
    document.getElementById("call-meta").textContent =
      `${num(result.duration_s).toFixed(1)} s, ${num(result.source_channels)} channel(s) at ${num(result.source_rate_hz)} Hz; ` +
      `model ${model.name}:${model.version}; silence ${seconds(silence.total_ms)}, overlap ${seconds(silence.overlap_ms)}; ` +
      `analysed in ${num(result.processing_s).toFixed(2)} s`;
    const below = num(result.uncertain_below);
    const unsure = timeline.filter((e) => e.emotion.uncertain).length;
    const note = document.getElementById("uncertain-note");
    note.hidden = !(below > 0);
    note.textContent = below > 0
      ? `Uncertain (hatched grey): a segment whose calibrated top probability is below ${(100 * below).toFixed(0)}%, ` +
        `the model's threshold. ${unsure} of ${timeline.length} segments here; their talk time is shown under ` +
        `"Uncertain" and left out of the emotion shares, the mean valence and arousal, and the negative turns.`
      : "";
    drawLegend(result);
    drawTimeline();
    drawSummary(result);
    drawTurns(result);
    const section = document.getElementById("call");
    section.dataset.callId = result.call_id;
    section.dataset.segments = String(timeline.length);
    section.dataset.uncertain = String(unsure);
    SER.setStatus(`${filename || result.call_id}: ${timeline.length} segments from ${participantsOf(result).length} participant(s)`);
  }

  function labelsOf(result) {
    const labels = [...(result.labels || [])];
    for (const e of result.timeline || []) if (!labels.includes(e.emotion.top_label)) labels.push(e.emotion.top_label);
    return labels;
  }

  function drawLegend(result) {
    const palette = emotionPalette(labelsOf(result));
    const items = Object.entries(palette).map(([label, colour]) => {
      const li = el("li", { "data-label": label });
      li.append(el("span", { class: "swatch", style: `background:${colour}`, "aria-hidden": "true" }), label);
      return li;
    });
    if (num(result.uncertain_below) > 0 || (result.timeline || []).some((e) => e.emotion.uncertain)) {
      const li = el("li", { "data-label": "uncertain" });
      li.append(el("span", { class: "swatch uncertain", "aria-hidden": "true" }), "uncertain (label?)");
      items.push(li);
    }
    document.getElementById("legend").replaceChildren(...items);
  }

  function drawTimeline() {
    if (!current) return;
    const result = current;
    const names = participantsOf(result);
    const palette = emotionPalette(labelsOf(result));
    const durationMs = Math.max(1, num(result.duration_s) * 1000,
      ...(result.timeline || []).map((e) => num(e.segment.end_ms)));
    const width = Math.max(480, document.getElementById("timeline-wrap").clientWidth - 8);
    const lanesBottom = TOP + names.length * (LANE + LANE_GAP);
    const valTop = lanesBottom + AXIS + VAL_GAP;
    const height = valTop + VAL_H + 24;
    const x = (ms) => LEFT + (width - LEFT - RIGHT) * Math.min(1, Math.max(0, ms / durationMs));
    geometry = { x, durationMs };
    svg.setAttribute("viewBox", `0 0 ${width} ${height}`);
    svg.setAttribute("width", width);
    svg.setAttribute("height", height);
    svg.replaceChildren(hatchPattern());

    names.forEach((name, lane) => {
      const y = TOP + lane * (LANE + LANE_GAP);
      const g = el("g", { class: "lane", "data-participant": name, role: "list", "aria-label": `${name} segments` }, null, SVG);
      g.append(el("text", { x: 4, y: y + LANE / 2 + 4, "aria-hidden": "true" }, name, SVG));
      g.append(el("rect", { x: LEFT, y, width: width - LEFT - RIGHT, height: LANE, fill: "#f4f6f8", stroke: "#c9d0d8",
        "aria-hidden": "true" }, null, SVG));
      for (const entry of (result.timeline || []).filter((e) => e.participant === name)) g.append(segmentRect(entry, y, x, palette));
      svg.append(g);
    });
    svg.append(drawAxis(lanesBottom, width, durationMs, x));
    svg.append(drawValence(result, names, valTop, width, x));
    svg.append(el("line", { id: "cursor", x1: LEFT, x2: LEFT, y1: 0, y2: height - 20, "data-time-ms": 0,
      "aria-hidden": "true" }, null, SVG));
    moveCursor();
  }

  /** Grey diagonal hatching for uncertain segments: not an emotion colour, readable without colour. */
  function hatchPattern() {
    const defs = el("defs", {}, null, SVG);
    const pattern = el("pattern", { id: "uncertain-hatch", width: 6, height: 6, patternUnits: "userSpaceOnUse",
      patternTransform: "rotate(45)" }, null, SVG);
    pattern.append(el("rect", { width: 6, height: 6, fill: "#e6e9ed" }, null, SVG),
      el("line", { x1: 0, y1: 0, x2: 0, y2: 6, stroke: "#6b7480", "stroke-width": 2 }, null, SVG));
    defs.append(pattern);
    return defs;
  }

  function segmentRect(entry, y, x, palette) {
    const s = entry.segment, e = entry.emotion;
    const start = num(s.start_ms), end = num(s.end_ms), conf = num(e.top_prob);
    const unsure = Boolean(e.uncertain);
    const what = unsure
      ? `uncertain (${e.top_label}? ${(100 * conf).toFixed(0)}%, below the model's ` +
        `${(100 * num(current.uncertain_below)).toFixed(0)}% threshold; left out of the shares)`
      : `${e.top_label} ${(100 * conf).toFixed(0)}%`;
    const label = `${entry.participant}, ${(start / 1000).toFixed(2)} to ${(end / 1000).toFixed(2)} s: ` +
      `${what}, valence ${num(e.valence).toFixed(2)}. Press Enter to play.`;
    const colour = palette[e.top_label] || "#8d8d8d";
    const g = el("g", { role: "listitem" }, null, SVG);
    const rect = el("rect", {
      class: unsure ? "seg uncertain" : "seg", x: x(start), y: y + 2, width: Math.max(2, x(end) - x(start)),
      height: LANE - 4, rx: 3, fill: unsure ? UNCERTAIN_FILL : colour, "fill-opacity": unsure ? 1 : conf.toFixed(3),
      stroke: unsure ? UNCERTAIN_STROKE : colour, "stroke-width": 1, ...(unsure ? { "stroke-dasharray": "3 2" } : {}),
      tabindex: 0, role: "button", "aria-label": label,
      "data-index": num(entry.index), "data-participant": entry.participant, "data-start-ms": start,
      "data-end-ms": end, "data-label": e.top_label, "data-confidence": conf.toFixed(4),
      "data-uncertain": String(unsure),
    }, null, SVG);
    rect.append(el("title", {}, label, SVG));
    rect.addEventListener("click", () => playSegment(start, end, rect));
    rect.addEventListener("keydown", (ev) => {
      if (ev.key === "Enter" || ev.key === " ") {
        ev.preventDefault();
        playSegment(start, end, rect);
      }
    });
    g.append(rect);
    if (x(end) - x(start) > 46) {  // the label in text as well as colour, where it fits
      g.append(el("text", { x: x(start) + 4, y: y + LANE / 2 + 4, class: "seg-label", "pointer-events": "none",
        stroke: "#ffffff", "stroke-width": 3, "paint-order": "stroke", "aria-hidden": "true" },
        unsure ? `${e.top_label}?` : e.top_label, SVG));
    }
    return g;
  }

  function niceStep(durationMs, width) {
    const target = durationMs / Math.max(2, Math.floor(width / 90));
    return [100, 200, 500, 1000, 2000, 5000, 10000, 15000, 30000, 60000, 120000, 300000, 600000, 1800000]
      .find((s) => s >= target) || 3600000;
  }

  function clock(ms) {
    const s = ms / 1000;
    if (s < 60) return `${Number.isInteger(s) ? s : s.toFixed(1)} s`;
    const m = Math.floor(s / 60);
    return `${m}:${String(Math.round(s - 60 * m)).padStart(2, "0")}`;
  }

  function drawAxis(top, width, durationMs, x) {
    const g = el("g", { class: "axis", "aria-hidden": "true" }, null, SVG);
    g.append(el("line", { x1: LEFT, x2: width - RIGHT, y1: top, y2: top, stroke: "#4a5360" }, null, SVG));
    const step = niceStep(durationMs, width - LEFT);
    for (let t = 0; t <= durationMs; t += step) {
      g.append(el("line", { x1: x(t), x2: x(t), y1: top, y2: top + 5, stroke: "#4a5360" }, null, SVG));
      g.append(el("text", { x: x(t), y: top + 18, "text-anchor": "middle" }, clock(t), SVG));
    }
    return g;
  }

  function drawValence(result, names, top, width, x) {
    const y = (v) => top + (1 - (Math.max(-1, Math.min(1, v)) + 1) / 2) * VAL_H;
    const g = el("g", { class: "valence", role: "img",
      "aria-label": "Valence curve per participant: " + names.map((n) => {
        const p = (result.participants || []).find((q) => q.participant === n);
        return p ? `${n} mean ${num(p.mean_valence).toFixed(2)}` : n;
      }).join(", ") }, null, SVG);
    g.append(el("rect", { x: LEFT, y: top, width: width - LEFT - RIGHT, height: VAL_H, fill: "#ffffff", stroke: "#c9d0d8" }, null, SVG));
    g.append(el("line", { x1: LEFT, x2: width - RIGHT, y1: y(0), y2: y(0), stroke: "#8d8d8d", "stroke-dasharray": "3 3" }, null, SVG));
    for (const [v, text] of [[1, "+1"], [0, "0"], [-1, "−1"]]) {
      g.append(el("text", { x: LEFT - 6, y: y(v) + 4, "text-anchor": "end" }, text, SVG));
    }
    g.append(el("text", { x: 4, y: top + VAL_H / 2 + 4 }, "Valence", SVG));
    g.append(el("text", { x: LEFT + 4, y: top + 13, class: "hint-text" }, "positive", SVG));
    g.append(el("text", { x: LEFT + 4, y: top + VAL_H - 5, class: "hint-text" }, "negative", SVG));
    names.forEach((name, i) => {
      const style = LINE_STYLES[i % LINE_STYLES.length];
      const points = (result.timeline || []).filter((e) => e.participant === name).map((e) =>
        [x((num(e.segment.start_ms) + num(e.segment.end_ms)) / 2), y(num(e.emotion.valence)), e.emotion.uncertain]);
      if (!points.length) return;
      const line = el("polyline", { points: points.map(([px, py]) => `${px},${py}`).join(" "), fill: "none",
        stroke: style.stroke, "stroke-width": 2, "data-participant": name }, null, SVG);
      if (style.dash) line.setAttribute("stroke-dasharray", style.dash);
      g.append(line);
      for (const [px, py, unsure] of points) {  // an uncertain segment's point is hollow: not in the mean
        g.append(el("circle", { cx: px, cy: py, r: 3, fill: unsure ? "#ffffff" : style.stroke, stroke: style.stroke,
          ...(unsure ? { class: "uncertain" } : {}) }, null, SVG));
      }
      // key: participant name with a sample of its line, right of the plot's title
      const kx = LEFT + 8 + i * 150;
      const key = el("line", { x1: kx, x2: kx + 28, y1: top + VAL_H + 16, y2: top + VAL_H + 16, stroke: style.stroke,
        "stroke-width": 2 }, null, SVG);
      if (style.dash) key.setAttribute("stroke-dasharray", style.dash);
      g.append(key, el("text", { x: kx + 34, y: top + VAL_H + 20 }, name, SVG));
    });
    return g;
  }

  function drawSummary(result) {
    const palette = emotionPalette(labelsOf(result));
    const rows = (result.participants || []).map((p) => {
      const tr = el("tr", { "data-participant": p.participant });
      const shares = (p.shares || []).filter((s) => num(s.duration_ms) > 0).sort((a, b) => num(b.share) - num(a.share));
      const sharesCell = el("td");
      shares.forEach((s, i) => {
        if (i) sharesCell.append(", ");
        sharesCell.append(el("span", { class: "swatch", style: `background:${palette[s.label] || "#8d8d8d"}`,
          "aria-hidden": "true" }), ` ${s.label} ${(100 * num(s.share)).toFixed(0)}%`);
      });
      if (!shares.length) sharesCell.textContent = "–";
      const unsureMs = num(p.uncertain_ms), talkMs = num(p.talk_time_ms);
      const unsureCell = el("td", { class: "num", "data-uncertain-ms": unsureMs },
        unsureMs > 0 ? `${seconds(unsureMs)} (${(100 * unsureMs / Math.max(1, talkMs)).toFixed(0)}%)` : "–");
      tr.append(el("th", { scope: "row" }, p.participant), el("td", { class: "num" }, String(num(p.channel))),
        el("td", { class: "num" }, seconds(p.talk_time_ms)), el("td", { class: "num" }, `${(100 * num(p.talk_share)).toFixed(0)}%`),
        el("td", { class: "num" }, String(num(p.segments))), unsureCell, sharesCell,
        el("td", { class: "num" }, signed(p.mean_valence)), el("td", { class: "num" }, signed(p.mean_arousal)));
      return tr;
    });
    document.querySelector("#summary tbody").replaceChildren(...rows);
  }

  function signed(v) {
    const n = num(v);
    return `${n >= 0 ? "+" : "−"}${Math.abs(n).toFixed(2)}`;
  }

  function drawTurns(result) {
    const items = [];
    for (const p of result.participants || []) {
      for (const t of p.negative_turns || []) {
        const entry = (result.timeline || []).find((e) => num(e.index) === num(t.timeline_index));
        const li = el("li", { "data-participant": p.participant, "data-at-ms": num(t.at_ms) });
        li.append(`${p.participant} at ${seconds(t.at_ms)}: ${t.from_label || "start"} → ${t.to_label} ` +
          `(valence ${signed(t.valence_before)} → ${signed(t.valence_after)}) `);
        if (entry) {
          const button = el("button", { type: "button", class: "secondary" }, "Play");
          button.setAttribute("aria-label", `Play ${p.participant}'s turn at ${seconds(t.at_ms)}`);
          button.addEventListener("click", () => playSegment(num(entry.segment.start_ms), num(entry.segment.end_ms)));
          li.append(button);
        }
        items.push(li);
      }
    }
    document.getElementById("turns").replaceChildren(...items);
    document.getElementById("turns-empty").hidden = items.length > 0;
  }

  // ---------------------------------------------------------------- playback

  function playSegment(startMs, endMs, rect = null) {
    document.querySelectorAll("#timeline .seg.playing").forEach((r) => r.classList.remove("playing"));
    if (rect) rect.classList.add("playing");
    const start = () => {
      playFrom = startMs / 1000;
      player.currentTime = playFrom;
      stopAt = endMs / 1000;
      const playing = player.play();
      if (playing) {
        playing.catch((err) => {  // AbortError: another segment or call was started meanwhile
          if (err.name !== "AbortError") SER.showError(new SER.Problem({ title: "Playback failed", detail: err.message }, 0));
        });
      }
    };
    if (player.readyState >= 1) start();
    else player.addEventListener("loadedmetadata", start, { once: true });
  }

  function moveCursor() {
    const cursor = document.getElementById("cursor");
    if (!cursor || !geometry) return;
    const ms = player.currentTime * 1000;
    const cx = geometry.x(ms);
    cursor.setAttribute("x1", cx);
    cursor.setAttribute("x2", cx);
    cursor.dataset.timeMs = String(Math.round(ms));
  }

  function tick() {
    if (stopAt !== null && player.currentTime >= stopAt) {
      player.pause();
      stopAt = null;
      document.querySelectorAll("#timeline .seg.playing").forEach((r) => r.classList.remove("playing"));
    }
    moveCursor();
    if (!player.paused) requestAnimationFrame(tick);
  }

  player.addEventListener("play", () => requestAnimationFrame(tick));
  player.addEventListener("timeupdate", tick);
  player.addEventListener("seeked", moveCursor);
  player.addEventListener("seeking", () => {  // the user moved away from the played segment: play on freely
    if (stopAt !== null && (player.currentTime > stopAt || player.currentTime < playFrom - 0.05)) stopAt = null;
  });
  player.addEventListener("pause", () => {
    if (stopAt !== null && player.currentTime < stopAt - 0.05) stopAt = null;  // paused by the user
  });

  let resizeTimer = null;
  window.addEventListener("resize", () => {
    clearTimeout(resizeTimer);
    resizeTimer = setTimeout(drawTimeline, 150);
  });

  document.getElementById("upload-form").addEventListener("submit", upload);
  const wanted = new URL(window.location.href).searchParams.get("call");
  loadRecent().then(() => wanted && openStored(wanted));
})();
