// Pain drawing: toggle regions by click, tap, drag or keyboard; keep hidden form inputs in step.
(function () {
  "use strict";
  const marked = new Map(); // region id -> intensity
  const inputs = document.getElementById("mark-inputs");
  const summary = document.getElementById("marked-summary");
  const slider = document.getElementById("intensity");
  const out = document.getElementById("intensity-out");
  let dragging = null; // "add" or "remove" while the pointer is down

  function sync() {
    inputs.replaceChildren();
    for (const [id, level] of marked) {
      const input = document.createElement("input");
      input.type = "hidden"; input.name = "mark"; input.value = id + ":" + level;
      inputs.append(input);
    }
    summary.textContent = marked.size ? marked.size + " region(s) marked." : "No regions marked.";
    document.dispatchEvent(new CustomEvent("drawing-change", { detail: { regions: [...marked.keys()] } }));
  }

  function set(region, on) {
    const id = region.dataset.region;
    if (on) { marked.set(id, Number(slider ? slider.value : 5)); region.classList.add("shade-pain"); }
    else { marked.delete(id); region.classList.remove("shade-pain"); }
    region.setAttribute("aria-pressed", on ? "true" : "false");
  }

  document.addEventListener("region-select", (e) => {
    set(e.target, !marked.has(e.detail.id));
    sync();
  });
  document.addEventListener("pointerdown", (e) => {
    const r = e.target.closest && e.target.closest(".region");
    if (!r) return;
    dragging = marked.has(r.dataset.region) ? "remove" : "add";
  });
  document.addEventListener("pointerup", () => { dragging = null; });
  document.addEventListener("chart-gesture", () => { dragging = null; }); // a pinch, not a drag
  document.addEventListener("pointerover", (e) => {
    if (!dragging || !(e.buttons & 1)) return;
    const r = e.target.closest && e.target.closest(".region");
    if (r && marked.has(r.dataset.region) !== (dragging === "add")) { set(r, dragging === "add"); sync(); }
  });
  if (slider) slider.addEventListener("input", () => { out.textContent = slider.value; });
  window.Painter = { marked: marked, set: set, sync: sync };
})();
