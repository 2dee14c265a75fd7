// /suggest: paint a pain drawing (click, tap, drag, keyboard), ask POST /api/suggest after a
// short debounce, list ranked candidates, and overlay a candidate's referral map on hover/select.
// Palpation findings recorded under each candidate travel in the same drawing (`palpation`), so
// every finding re-ranks the candidates, the muscles and "examine next" live; nothing is stored.
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
  // Palpation findings by trigger point uid ("upper_trapezius.tp1.right"), in recording order:
  // {muscle_id, side, trigger_point_id, finding, twitch, referral, name}
  const findings = new Map();
  const findingsList = document.getElementById("findings-list");
  const findingsEmpty = document.getElementById("findings-empty");
  const clearFindings = document.getElementById("clear-findings");
  const palpHeading = document.getElementById("palp-h");
  const examineBox = document.getElementById("examine-box");
  const examineList = document.getElementById("examine-next");
  const musclesBox = document.getElementById("muscles-box");
  const musclesList = document.getElementById("muscles");
  const FINDINGS = [
    ["familiar", "Familiar", "pressure reproduces the familiar pain"],
    ["tender", "Tender", "tender, but not the familiar pain"],
    ["none", "None", "no tender spot or taut band"],
  ];
  const SIGNS = [["twitch", "Twitch", "local twitch response seen"],
    ["referral", "Referral", "pain referred on compression"]];

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
    list.setAttribute("aria-busy", "true"); // from the change, through the debounce, to the reply
    timer = setTimeout(ask, 60);
  }

  async function ask() {
    if (inflight) inflight.abort();
    const mine = new AbortController();
    inflight = mine;
    list.setAttribute("aria-busy", "true");
    const body = { pain: [...pain], pain_free: [...painFree], complete: complete.checked,
      palpation: [...findings.values()].map((f) => ({ muscle_id: f.muscle_id, side: f.side,
        trigger_point_id: f.trigger_point_id, finding: f.finding, twitch: f.twitch,
        referral: f.referral })) };
    status.textContent = "Updating…";
    try {
      const resp = await fetch("/api/suggest?top=10", {
        method: "POST", headers: { "Content-Type": "application/json", "X-CSRF-Token": csrf },
        body: JSON.stringify(body), signal: mine.signal,
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
    } finally {
      // Only the latest request settles the list: an aborted one has a newer one behind it.
      if (inflight === mine) list.setAttribute("aria-busy", "false");
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

  function tpLabel(c) { return c.trigger_point + " (" + c.side + ")"; }
  function button(cls, text, key) {
    const b = document.createElement("button");
    b.type = "button"; b.className = cls; b.textContent = text;
    if (key) b.dataset.focusKey = key; // focus comes back to it after the list is rebuilt
    return b;
  }

  // Under each candidate: familiar / tender / none (pressed = recorded; press again to remove),
  // then the optional twitch and referral toggles, which qualify a recorded finding.
  function palpationButtons(c) {
    const f = findings.get(c.uid);
    const group = document.createElement("div");
    group.className = "palpate"; group.setAttribute("role", "group");
    group.setAttribute("aria-label", "Palpation finding for " + tpLabel(c));
    FINDINGS.forEach(([value, text, meaning]) => {
      const b = button("find find-" + value, text, c.uid + "|" + value);
      b.dataset.finding = value; b.title = text + ": " + meaning;
      b.setAttribute("aria-label", text + ": " + tpLabel(c));
      b.setAttribute("aria-pressed", f && f.finding === value ? "true" : "false");
      group.append(b);
    });
    SIGNS.forEach(([sign, text, meaning]) => {
      const b = button("sign", text, c.uid + "|" + sign);
      b.dataset.sign = sign; b.title = text + ": " + meaning;
      b.setAttribute("aria-label", text + " (" + meaning + "): " + tpLabel(c));
      b.setAttribute("aria-pressed", f && f[sign] === true ? "true" : "false");
      b.disabled = !f; // a sign qualifies a finding: record familiar, tender or none first
      group.append(b);
    });
    return group;
  }

  function candidateButton(c) {
    const b = document.createElement("button");
    b.type = "button"; b.className = "candidate"; b.dataset.uid = c.uid;
    b.dataset.focusKey = c.uid;
    b.setAttribute("aria-pressed", selected === c.uid ? "true" : "false");
    const chance = span("chance", "");
    chance.append(span("prob", pct(c.probability)), span("prob-unit", " chance active"));
    if (c.p_latent !== undefined) chance.append(span("latent", pct(c.p_latent) + " latent"));
    b.append(chance, span("name", c.muscle + " (" + c.side + ")"));
    b.append(span("detail tp-name", c.trigger_point));
    if (c.palpation) b.append(span("palpated", "Palpated: " + c.palpation));
    if (c.state) b.append(span("detail state", c.state));
    const bar = span("bar", ""); bar.style.width = Math.max(1, 100 * c.probability) + "%"; b.append(bar);
    b.append(span("detail", "Explains: " + c.explains.map((r) => r.name + " (" + r.zone + ")").join(", ")));
    if (c.against.length) b.append(span("detail against", "Against (pain-free essential zone): " + c.against.map((r) => r.name).join(", ")));
    b.append(span("detail", "Where: " + c.location));
    b.append(span("detail" + (c.thorax ? " warn" : ""), "Needling: " + c.needling));
    const li = document.createElement("li");
    li.dataset.uid = c.uid;
    li.append(b, palpationButtons(c));
    return li;
  }

  // The findings as the server understood them (its `palpation` echo names each site in full);
  // before the first answer, or without one, the names the candidates gave.
  function renderFindings(echo) {
    findingsList.replaceChildren();
    const shown = echo || [...findings.values()];
    shown.forEach((f) => {
      const uid = f.muscle_id + "." + f.trigger_point_id + "." + f.side;
      const name = f.trigger_point ? f.trigger_point + " (" + f.side + ")" : f.name || f.label;
      const li = document.createElement("li");
      const signs = SIGNS.filter(([sign]) => f[sign] !== null && f[sign] !== undefined)
        .map(([sign, text]) => (f[sign] ? "" : "no ") + text.toLowerCase());
      li.append(span("finding-site", name), span("finding-value", [f.finding, ...signs].join(", ")));
      if (findings.has(uid)) {
        const rm = button("remove-finding", "Remove", "remove|" + uid);
        rm.dataset.uid = uid;
        rm.setAttribute("aria-label", "Remove finding: " + name);
        li.append(rm);
      }
      findingsList.append(li);
    });
    findingsEmpty.hidden = shown.length > 0;
    clearFindings.hidden = findings.size === 0;
  }

  function renderExamine(items) {
    examineList.replaceChildren();
    (items || []).slice(0, 3).forEach((e) => {
      const li = document.createElement("li");
      const b = button("examine", "", "examine|" + e.uid);
      b.dataset.uid = e.uid;
      b.append(span("examine-site", "Palpate " + e.trigger_point + " (" + e.side + ")"),
        span("examine-gain", e.gain_bits.toFixed(2) + " bits"),
        span("examine-reason", e.reason));
      li.append(b);
      examineList.append(li);
    });
    examineBox.hidden = examineList.children.length === 0;
  }

  function renderMuscles(items, names) {
    musclesList.replaceChildren();
    (items || []).slice(0, 10).forEach((m) => {
      const li = document.createElement("li");
      const head = span("muscle-head", "");
      head.append(span("muscle-name", m.muscle + " (" + m.side + ")"), span("", ": "),
        span("prob", pct(m.p_active)), span("prob-unit", " chance at least one point is active"),
        span("latent", " · " + pct(m.p_latent) + " latent"));
      const points = document.createElement("ul");
      points.className = "muscle-points";
      const idle = m.trigger_points.filter((t) => !t.explains.length).length;
      m.trigger_points.filter((t) => t.explains.length).forEach((t) => {
        const p = document.createElement("li");
        const where = t.explains.map((r) => names.get(r) || r).join(", ");
        p.append(span("prob", pct(t.p_active)), span("", " " + t.trigger_point + ": "),
          span("muted", "explains " + where));
        points.append(p);
      });
      if (idle) {
        const p = document.createElement("li");
        p.append(span("muted", "(" + idle + " other point" + (idle === 1 ? "" : "s") +
          ": no painful region in " + (idle === 1 ? "its" : "their") + " zones)"));
        points.append(p);
      }
      li.append(head, points);
      musclesList.append(li);
    });
    musclesBox.hidden = musclesList.children.length === 0;
  }

  function render(data) {
    const focusKey = document.activeElement && document.activeElement.dataset
      ? document.activeElement.dataset.focusKey : null;
    byUid = new Map(data.candidates.map((c) => [c.uid, c]));
    list.replaceChildren(); expl.replaceChildren(); unlikely.replaceChildren();
    const likely = data.candidates.filter((c) => c.probability >= 0.01);
    const rest = data.candidates.filter((c) => c.probability < 0.01);
    status.textContent = (data.message || (data.candidates.length
      ? likely.length + " likely trigger point(s), most probable first" +
        (rest.length ? "; " + rest.length + " more under 1%." : ".")
      : "No candidates.")) + (findings.size ? " " + findings.size + " palpation finding" +
        (findings.size === 1 ? "" : "s") + " taken into account." : "");
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
    const names = new Map(data.drawing.painful.map((r) => [r.id, r.name]));
    renderFindings(data.palpation && data.palpation.length === findings.size ? data.palpation : null);
    renderExamine(data.examine_next);
    renderMuscles(data.muscles, names);
    if (selected && !byUid.has(selected)) selected = null;
    overlay(selected ? byUid.get(selected) : null);
    if (focusKey) { // the list was rebuilt under the keyboard: focus where it was, or nearby
      const again = resultsBar.querySelector('[data-focus-key="' + CSS.escape(focusKey) + '"]');
      (again || palpHeading).focus({ preventScroll: true });
    }
  }

  // Record, change or remove (same value again) a finding, or toggle a sign; then ask again.
  function record(uid, value, sign) {
    const c = byUid.get(uid);
    const f = findings.get(uid);
    if (sign) {
      if (!f) return;
      f[sign] = f[sign] === true ? null : true;
    } else if (f && f.finding === value) {
      findings.delete(uid);
    } else if (f) {
      f.finding = value;
    } else if (c) {
      findings.set(uid, { muscle_id: c.muscle_id, side: c.side, trigger_point_id: c.trigger_point_id,
        finding: value, twitch: null, referral: null, name: tpLabel(c) });
    }
    const li = resultsBar.querySelector('li[data-uid="' + CSS.escape(uid) + '"]');
    if (li && c) li.replaceChild(palpationButtons(c), li.querySelector(".palpate"));
    const focusKey = sign ? uid + "|" + sign : uid + "|" + value;
    const again = resultsBar.querySelector('[data-focus-key="' + CSS.escape(focusKey) + '"]');
    if (again) again.focus({ preventScroll: true });
    renderFindings(null);
    ask();
  }

  // "Examine next": go to that trigger point's row, show its map and put focus on its buttons.
  function jumpTo(uid) {
    const li = resultsBar.querySelector('li[data-uid="' + CSS.escape(uid) + '"]');
    if (!li) return;
    if (!resultsBar.classList.contains("expanded") && getComputedStyle(toggle).display !== "none") {
      toggle.click();
    }
    if (unlikely.contains(li)) unlikelyBox.open = true;
    selected = uid;
    resultsBar.querySelectorAll(".candidate").forEach((b) =>
      b.setAttribute("aria-pressed", b.dataset.uid === selected ? "true" : "false"));
    overlay(byUid.get(uid));
    li.scrollIntoView({ block: "center" });
    li.classList.add("jumped");
    setTimeout(() => li.classList.remove("jumped"), 1500);
    li.querySelector(".palpate .find").focus({ preventScroll: true });
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
  function rowFrom(e) { // the candidate whose row (its button or its palpation buttons) is under e
    const li = e.target.closest && e.target.closest("li[data-uid]");
    return li ? byUid.get(li.dataset.uid) : null;
  }
  [list, unlikely].forEach((ol) => {
    ol.addEventListener("pointerover", (e) => { const c = rowFrom(e); if (c) overlay(c); });
    ol.addEventListener("focusin", (e) => { const c = rowFrom(e); if (c) overlay(c); });
    ol.addEventListener("pointerleave", () => overlay(selected ? byUid.get(selected) : null));
    ol.addEventListener("click", (e) => {
      const p = e.target.closest && e.target.closest(".palpate button");
      if (p) {
        record(p.closest("li[data-uid]").dataset.uid, p.dataset.finding, p.dataset.sign);
        return;
      }
      const c = candidateFrom(e);
      if (!c) return;
      selected = selected === c.uid ? null : c.uid;
      resultsBar.querySelectorAll(".candidate").forEach((b) =>
        b.setAttribute("aria-pressed", b.dataset.uid === selected ? "true" : "false"));
      overlay(selected ? c : null);
    });
  });
  examineList.addEventListener("click", (e) => {
    const b = e.target.closest && e.target.closest(".examine");
    if (b) jumpTo(b.dataset.uid);
  });
  findingsList.addEventListener("click", (e) => {
    const b = e.target.closest && e.target.closest(".remove-finding");
    if (!b) return;
    findings.delete(b.dataset.uid);
    const c = byUid.get(b.dataset.uid);
    const li = resultsBar.querySelector('li[data-uid="' + CSS.escape(b.dataset.uid) + '"]');
    if (li && c) li.replaceChild(palpationButtons(c), li.querySelector(".palpate"));
    renderFindings(null);
    const next = findingsList.querySelector(".remove-finding");
    (next || palpHeading).focus(); // never leave focus on a button that is gone
    ask();
  });
  clearFindings.addEventListener("click", () => {
    findings.clear();
    resultsBar.querySelectorAll(".palpate").forEach((g) => {
      const c = byUid.get(g.closest("li[data-uid]").dataset.uid);
      if (c) g.replaceWith(palpationButtons(c));
    });
    renderFindings(null);
    palpHeading.focus();
    ask();
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
