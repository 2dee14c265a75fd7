// Body chart behaviour shared by every page that shows one: name the region under the pointer,
// and turn clicks, taps and Enter/Space into a "region-select" event that pages listen for.
// Charts marked data-zoomable also get zoom buttons and pinch, a live "Marked: ..." status and
// (data-picker) a searchable list of every region by body part, for targets too small to tap.
(function () {
  "use strict";
  const ZOOM_MIN = 1, ZOOM_MAX = 6, ZOOM_STEP = 1.5;
  function readout() { return document.getElementById("hover-name"); }

  function show(region) {
    const out = readout();
    if (out) out.textContent = region ? region.dataset.name : "Point at a region";
  }

  function select(region) {
    region.dispatchEvent(new CustomEvent("region-select", {
      bubbles: true, detail: { id: region.dataset.region, name: region.dataset.name },
    }));
  }

  function isRegion(el) { return el && el.classList && el.classList.contains("region"); }

  document.addEventListener("pointerover", (e) => {
    const r = e.target.closest && e.target.closest(".region");
    if (r) show(r);
  });
  document.addEventListener("pointerout", (e) => {
    const r = e.target.closest && e.target.closest(".region");
    if (r) show(null);
  });
  document.addEventListener("focusin", (e) => { if (isRegion(e.target)) show(e.target); });
  document.addEventListener("click", (e) => {
    const r = e.target.closest && e.target.closest(".region[tabindex]");
    if (r) select(r);
  });
  document.addEventListener("keydown", (e) => {
    if ((e.key === "Enter" || e.key === " ") && isRegion(e.target)) {
      e.preventDefault();
      select(e.target);
    }
  });

  function el(tag, attrs, text) {
    const node = document.createElement(tag);
    for (const [k, v] of Object.entries(attrs || {})) node.setAttribute(k, v);
    if (text !== undefined) node.textContent = text;
    return node;
  }

  // What a page shows for a region, in words: painter and suggest shade it, the atlas selects.
  function stateOf(region) {
    if (region.classList.contains("shade-pain")) return "Marked";
    if (region.classList.contains("shade-painfree")) return "Marked pain-free";
    if (region.classList.contains("selected")) return "Selected";
    return "Cleared";
  }

  // ---- zoom: buttons and two-finger pinch; the figures scroll inside their own boxes ----
  function zoomer(charts, tools) {
    let zoom = 1;
    const level = tools.querySelector(".zoom-level");
    function set(z, focus) {
      const next = Math.min(ZOOM_MAX, Math.max(ZOOM_MIN, z));
      const figures = [...charts.querySelectorAll(".chart")];
      const keep = figures.map((f) => {
        const fx = focus ? focus.x - f.getBoundingClientRect().left : f.clientWidth / 2;
        const fy = focus ? focus.y - f.getBoundingClientRect().top : f.clientHeight / 2;
        return { f, fx, fy, rx: (f.scrollLeft + fx) / Math.max(1, f.scrollWidth),
          ry: (f.scrollTop + fy) / Math.max(1, f.scrollHeight) };
      });
      zoom = next;
      charts.style.setProperty("--zoom", String(zoom));
      charts.classList.toggle("zoomed", zoom > 1);
      charts.dataset.zoom = zoom.toFixed(2);
      level.textContent = Math.round(zoom * 100) + "%";
      keep.forEach(({ f, fx, fy, rx, ry }) => {
        f.scrollLeft = rx * f.scrollWidth - fx;
        f.scrollTop = ry * f.scrollHeight - fy;
      });
    }
    tools.addEventListener("click", (e) => {
      const b = e.target.closest("button[data-zoom]");
      if (!b) return;
      set(b.dataset.zoom === "in" ? zoom * ZOOM_STEP : b.dataset.zoom === "out" ? zoom / ZOOM_STEP : 1);
    });
    const touches = new Map();
    let pinch = null;
    charts.addEventListener("pointerdown", (e) => {
      if (e.pointerType !== "touch") return;
      touches.set(e.pointerId, { x: e.clientX, y: e.clientY });
      if (touches.size === 2) {
        const [a, b] = [...touches.values()];
        pinch = { d: Math.hypot(a.x - b.x, a.y - b.y) || 1, zoom: zoom, mid: { x: (a.x + b.x) / 2, y: (a.y + b.y) / 2 } };
        charts.dispatchEvent(new CustomEvent("chart-gesture", { bubbles: true }));
      }
    });
    charts.addEventListener("pointermove", (e) => {
      if (!touches.has(e.pointerId)) return;
      touches.set(e.pointerId, { x: e.clientX, y: e.clientY });
      if (!pinch || touches.size !== 2) return;
      const [a, b] = [...touches.values()];
      const mid = { x: (a.x + b.x) / 2, y: (a.y + b.y) / 2 };
      set(pinch.zoom * Math.hypot(a.x - b.x, a.y - b.y) / pinch.d, mid);
      const fig = e.target.closest && e.target.closest(".chart");
      if (fig) { fig.scrollLeft -= mid.x - pinch.mid.x; fig.scrollTop -= mid.y - pinch.mid.y; }
      pinch.mid = mid;
    });
    const lift = (e) => { touches.delete(e.pointerId); if (touches.size < 2) pinch = null; };
    charts.addEventListener("pointerup", lift);
    charts.addEventListener("pointercancel", lift);
    return { set: set, get: () => zoom };
  }

  // ---- the list picker: every region by body part, marking exactly as a tap does ----
  function picker(charts, uid) {
    const box = el("details", { class: "region-picker", id: "region-picker-" + uid });
    box.append(el("summary", {}, "Pick regions from a list (fingers, toes, teeth and other small regions)"));
    const searchId = "region-search-" + uid;
    box.append(el("label", { for: searchId }, "Find a region"));
    const search = el("input", { type: "search", id: searchId, autocomplete: "off",
      placeholder: "e.g. thumb, molars, heel" });
    box.append(search);
    const groups = el("div", { class: "picker-groups" });
    const byGroup = new Map();
    charts.querySelectorAll(".region[tabindex]").forEach((r) => {
      const g = r.dataset.group || "other";
      if (!byGroup.has(g)) {
        const fs = el("fieldset", { "data-group": g });
        fs.append(el("legend", {}, g.replace(/_/g, " ")));
        byGroup.set(g, fs); groups.append(fs);
      }
      const b = el("button", { type: "button", class: "pick", "data-pick": r.dataset.region,
        "aria-pressed": r.getAttribute("aria-pressed") === "true" ? "true" : "false" }, r.dataset.name);
      byGroup.get(g).append(b);
    });
    box.append(groups);
    groups.addEventListener("click", (e) => {
      const b = e.target.closest("button.pick");
      if (!b) return;
      const r = charts.querySelector('.region[data-region="' + CSS.escape(b.dataset.pick) + '"]');
      if (r) select(r);
    });
    search.addEventListener("input", () => {
      const q = search.value.trim().toLowerCase();
      byGroup.forEach((fs) => {
        let any = false;
        fs.querySelectorAll("button.pick").forEach((b) => {
          const hit = q === "" || b.textContent.toLowerCase().includes(q);
          b.hidden = !hit; any = any || hit;
        });
        fs.hidden = !any;
      });
    });
    return box;
  }

  // ---- say what changed, once per change, however it was made (tap, drag, key, list, clear) ----
  function announcer(charts, status, box) {
    const last = new Map();
    charts.querySelectorAll(".region[tabindex]").forEach((r) => last.set(r, stateOf(r)));
    const obs = new MutationObserver((records) => {
      const changed = new Map(); // state -> names
      for (const rec of records) {
        const r = rec.target;
        if (!last.has(r)) continue;
        const now = stateOf(r);
        if (now === last.get(r)) continue;
        const was = last.get(r);
        last.set(r, now);
        if (box) {
          const b = box.querySelector('button.pick[data-pick="' + CSS.escape(r.dataset.region) + '"]');
          if (b) b.setAttribute("aria-pressed", now === "Cleared" ? "false" : "true");
        }
        if (was === "Selected" && now === "Cleared") continue; // the atlas moved its selection
        if (!changed.has(now)) changed.set(now, []);
        changed.get(now).push(r.dataset.name);
      }
      if (!changed.size) return;
      status.textContent = [...changed].map(([state, names]) => names.length > 3
        ? state + " " + names.length + " regions" : state + ": " + names.join(", ")).join(". ");
    });
    obs.observe(charts, { subtree: true, attributes: true, attributeFilter: ["class", "aria-pressed"] });
  }

  let count = 0;
  function enhance(charts) {
    if (charts.dataset.enhanced) return;
    charts.dataset.enhanced = "true";
    charts.setAttribute("data-zoomable", "");
    const uid = String(++count);
    const tools = el("div", { class: "chart-tools", role: "group", "aria-label": "Zoom the body chart" });
    tools.append(
      el("button", { type: "button", "data-zoom": "out", "aria-label": "Zoom out" }, "−"),
      el("span", { class: "zoom-level", "aria-live": "polite" }, "100%"),
      el("button", { type: "button", "data-zoom": "in", "aria-label": "Zoom in" }, "+"),
      el("button", { type: "button", "data-zoom": "reset" }, "Reset zoom"));
    const status = el("p", { class: "chart-status", role: "status", id: "chart-status-" + uid });
    charts.before(tools, status);
    const box = charts.hasAttribute("data-picker") ? picker(charts, uid) : null;
    if (box) charts.after(box);
    announcer(charts, status, box);
    return zoomer(charts, tools);
  }

  document.querySelectorAll(".charts[data-zoomable]").forEach(enhance);
  window.Bodychart = { select: select, show: show, enhance: enhance };
})();
