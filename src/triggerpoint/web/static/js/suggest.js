// /suggest: paint a pain drawing (click, tap, drag, keyboard), ask POST /api/suggest after a
// short debounce, list ranked candidates, and overlay a candidate's referral map on hover/select.
(function () {
  "use strict";
  const pain = new Set();
  const painFree = new Set();
  const charts = document.querySelector(".suggest-charts");
  const list = document.getElementById("candidates");
  const expl = document.getElementById("explanations");
  const unlikely = document.getElementById("unlikely");
  const unlikelyBox = document.getElementById("unlikely-box");
  const unlikelyCount = document.getElementById("unlikely-count");
  const resultsBar = document.getElementById("suggest-results");
  const toggle = document.getElementById("results-toggle");
  const status = document.getElementById("suggest-status");
  const methodOut = document.getElementById("suggest-method");
  const summary = document.getElementById("drawing-summary");
  const complete = document.getElementById("complete");
  const csrf = document.querySelector(".suggest-layout").dataset.csrf || "";
  let dragMode = null; // "add" | "remove" while a pointer is down
  let lastDragged = null;
  let timer = null;
  let inflight = null;
  let selected = null; // uid of the candidate whose map stays on
  let byUid = new Map();

  function brush() {
    const b = document.querySelector("input[name=brush]:checked");
    return b ? b.value : "pain";
  }
  function regionsById(id) {
    return charts.querySelectorAll('.region[data-region="' + CSS.escape(id) + '"]');
  }
  function paint(id, on) {
    const target = brush() === "pain" ? pain : painFree;
    const other = target === pain ? painFree : pain;
    if (on) { target.add(id); other.delete(id); } else { target.delete(id); }
    regionsById(id).forEach((r) => {
      r.classList.toggle("shade-pain", pain.has(id));
      r.classList.toggle("shade-painfree", painFree.has(id));
      r.setAttribute("aria-pressed", pain.has(id) ? "true" : "false");
    });
  }
  function isOn(id) { return (brush() === "pain" ? pain : painFree).has(id); }

  function changed() {
    summary.textContent = pain.size || painFree.size
      ? pain.size + " painful, " + painFree.size + " marked pain-free."
      : "No regions marked.";
    clearTimeout(timer);
    timer = setTimeout(ask, 60);
  }

  async function ask() {
    if (inflight) inflight.abort();
    inflight = new AbortController();
    const body = { pain: [...pain], pain_free: [...painFree], complete: complete.checked };
    status.textContent = "Updating…";
    try {
      const resp = await fetch("/api/suggest?top=10", {
        method: "POST", headers: { "Content-Type": "application/json", "X-CSRF-Token": csrf },
        body: JSON.stringify(body), signal: inflight.signal,
      });
      const data = await resp.json();
      if (!resp.ok) {
        // 401/403 (logged out, stale CSRF token) carry a string; 422s a list naming the field
        status.textContent = (typeof data.detail === "string" ? data.detail
          : data.detail && data.detail[0] && data.detail[0].msg) || "Error";
        return;
      }
      render(data);
    } catch (err) {
      if (err.name !== "AbortError") status.textContent = "Could not reach the server.";
    }
  }

  // One formatter for every chance on the page, so one quantity always reads the same. Whole
  // percent like the needling page; never "0%" or "100%": under 1% reads "<1%", over 99% ">99%".
  function pct(p) {
    if (p < 0.01) return "<1%";
    if (p > 0.99) return ">99%";
    return Math.round(100 * p) + "%";
  }
  function span(cls, text) {
    const s = document.createElement("span");
    s.className = cls; s.textContent = text; return s;
  }

  function candidateButton(c) {
    const b = document.createElement("button");
    b.type = "button"; b.className = "candidate"; b.dataset.uid = c.uid;
    b.setAttribute("aria-pressed", selected === c.uid ? "true" : "false");
    const chance = span("chance", "");
    chance.append(span("prob", pct(c.probability)), span("prob-unit", " chance active"));
    b.append(chance, span("name", c.muscle + " (" + c.side + ")"));
    b.append(span("detail tp-name", c.trigger_point));
    const bar = span("bar", ""); bar.style.width = Math.max(1, 100 * c.probability) + "%"; b.append(bar);
    b.append(span("detail", "Explains: " + c.explains.map((r) => r.name + " (" + r.zone + ")").join(", ")));
    if (c.against.length) b.append(span("detail against", "Against (pain-free essential zone): " + c.against.map((r) => r.name).join(", ")));
    b.append(span("detail", "Where: " + c.location));
    b.append(span("detail" + (c.thorax ? " warn" : ""), "Needling: " + c.needling));
    const li = document.createElement("li");
    li.append(b);
    return li;
  }

  function render(data) {
    byUid = new Map(data.candidates.map((c) => [c.uid, c]));
    list.replaceChildren(); expl.replaceChildren(); unlikely.replaceChildren();
    const likely = data.candidates.filter((c) => c.probability >= 0.01);
    const rest = data.candidates.filter((c) => c.probability < 0.01);
    status.textContent = data.message || (data.candidates.length
      ? likely.length + " likely trigger point(s), most probable first" +
        (rest.length ? "; " + rest.length + " more under 1%." : ".")
      : "No candidates.");
    likely.forEach((c) => list.append(candidateButton(c)));
    rest.forEach((c) => unlikely.append(candidateButton(c)));
    unlikelyBox.hidden = rest.length === 0;
    unlikelyCount.textContent = rest.length + " unlikely trigger point" + (rest.length === 1 ? "" : "s") +
      " (each under 1%)";
    resultsBar.classList.toggle("has-results", data.candidates.length > 0);
    const tpName = (t) => byUid.has(t.uid) ? byUid.get(t.uid).trigger_point + " (" + t.side + ")"
      : t.muscle + " (" + t.side + ")";
    document.getElementById("explanation-definition").textContent =
      data.explanations.length ? data.explanation_definition : "";
    data.explanations.forEach((e) => {
      const li = document.createElement("li");
      li.append(span("set-share", "set share " + pct(e.probability)),
        span("set-members", e.trigger_points.map(tpName).join(" + ")),
        span("muted", " · explains " + Math.round(100 * e.explained_share) + "% of painful regions"));
      expl.append(li);
    });
    methodOut.textContent = data.drawing.painful.length
      ? "Method: " + data.method + (data.exact ? (data.method.startsWith("exact") ? "" : " (exact)")
        : " (approximate; error bound " + data.bound.toFixed(3) + ")") +
        " · " + data.elapsed_ms.toFixed(1) + " ms on the server." +
        (data.approximation ? " " + data.approximation : "")
      : "";
    if (selected && !byUid.has(selected)) selected = null;
    overlay(selected ? byUid.get(selected) : null);
  }

  // The overlay is written as classes (for CSS) and data attributes (data-overlay = zone,
  // data-overlay-tp = trigger point uid) so tests and assistive tools can read what is shown.
  function overlay(c) {
    charts.querySelectorAll(".ov-essential, .ov-spillover, .ov-tp").forEach((r) => {
      r.classList.remove("ov-essential", "ov-spillover", "ov-tp");
      delete r.dataset.overlay; delete r.dataset.overlayTp;
    });
    charts.dataset.overlayFor = c ? c.uid : "";
    if (!c) return;
    const mark = (id, zone) => regionsById(id).forEach((r) => {
      r.classList.add("ov-" + zone); r.dataset.overlay = zone;
    });
    c.zones.spillover.forEach((id) => mark(id, "spillover"));
    c.zones.essential.forEach((id) => mark(id, "essential")); // essential wins an overlap
    regionsById(c.position_region.id).forEach((r) => {
      r.classList.add("ov-tp"); r.dataset.overlayTp = c.uid;
    });
  }

  function candidateFrom(e) {
    const b = e.target.closest && e.target.closest(".candidate");
    return b ? byUid.get(b.dataset.uid) : null;
  }
  [list, unlikely].forEach((ol) => {
    ol.addEventListener("pointerover", (e) => { const c = candidateFrom(e); if (c) overlay(c); });
    ol.addEventListener("focusin", (e) => { const c = candidateFrom(e); if (c) overlay(c); });
    ol.addEventListener("pointerleave", () => overlay(selected ? byUid.get(selected) : null));
    ol.addEventListener("click", (e) => {
      const c = candidateFrom(e);
      if (!c) return;
      selected = selected === c.uid ? null : c.uid;
      resultsBar.querySelectorAll(".candidate").forEach((b) =>
        b.setAttribute("aria-pressed", b.dataset.uid === selected ? "true" : "false"));
      overlay(selected ? c : null);
    });
  });
  // On a narrow screen the results are a bar pinned to the bottom: collapsed it shows the top
  // candidates in one line each, expanded the whole list with its details.
  toggle.addEventListener("click", () => {
    const open = !resultsBar.classList.contains("expanded");
    resultsBar.classList.toggle("expanded", open);
    toggle.setAttribute("aria-expanded", open ? "true" : "false");
    toggle.textContent = open ? "Show fewer" : "Show all results";
  });

  // Pointer (mouse, pen, touch): paint on pointerdown, keep painting while dragging. The click
  // that bodychart.js turns into "region-select" afterwards is then skipped; keyboard Enter or
  // Space arrives only as "region-select" and toggles.
  document.addEventListener("region-select", (e) => {
    if (!charts.contains(e.target)) return;
    if (lastDragged === e.detail.id) { lastDragged = null; return; }
    paint(e.detail.id, !isOn(e.detail.id));
    changed();
  });
  function regionAt(e) {
    const el = document.elementFromPoint(e.clientX, e.clientY); // works under touch capture
    return el && el.closest ? el.closest(".suggest-charts .region") : null;
  }
  charts.addEventListener("pointerdown", (e) => {
    const r = e.target.closest && e.target.closest(".region");
    lastDragged = null;
    dragMode = null;
    if (!r || e.button > 0) return;
    dragMode = isOn(r.dataset.region) ? "remove" : "add";
    paint(r.dataset.region, dragMode === "add");
    lastDragged = r.dataset.region;
    changed();
  });
  charts.addEventListener("pointermove", (e) => {
    if (!dragMode || !e.buttons) return;
    const r = regionAt(e);
    if (r && isOn(r.dataset.region) !== (dragMode === "add")) {
      paint(r.dataset.region, dragMode === "add");
      changed();
    }
  });
  document.addEventListener("pointerup", () => {
    dragMode = null;
    setTimeout(() => { lastDragged = null; }, 0); // after the click that follows pointerup
  });
  charts.addEventListener("chart-gesture", () => { dragMode = null; lastDragged = null; }); // pinch
  complete.addEventListener("change", changed);
  document.getElementById("clear-drawing").addEventListener("click", () => {
    [...pain, ...painFree].forEach((id) => regionsById(id).forEach((r) =>
      r.classList.remove("shade-pain", "shade-painfree")));
    pain.clear(); painFree.clear(); selected = null; changed();
  });
})();
