// Bedside charting on the visit page. The form starts from the last needle (the server resets
// twitches and familiar pain for each new needle). Shortcuts, so five varied needles take a
// handful of keys:
// * in Muscle, a planned target's number and Enter chart the needle there (muscle, side and
//   trigger point from the target, everything else as typed);
// * Enter saves from any field, the checkboxes too;
// * a muscle other than the last needle's gets its default needle length (the shortest common
//   needle that reaches the muscle's typical depth), unless the length was typed;
// * the trigger point list offers the chosen muscle's trigger points by name.
(function () {
  "use strict";
  const form = document.getElementById("entry-form");
  if (!form) return;
  const muscle = document.getElementById("muscle");
  const length = document.getElementById("needle_length_mm");
  const tp = document.getElementById("trigger_point_id");
  const tpList = document.getElementById("tp-list");
  const targets = [...document.querySelectorAll("#targets li[data-muscle]")];
  const lengths = JSON.parse(form.dataset.lengths || "{}");
  const tps = JSON.parse(form.dataset.tps || "{}");
  const lastMuscle = (form.dataset.lastMuscle || "").toLowerCase();
  let lengthTyped = false;
  length.addEventListener("input", () => { lengthTyped = true; });
  // A default filled in as focus arrives (the muscle's change event) is replaced by what is
  // typed, never appended to ("30" typed over a default of 30 must not read "3030").
  length.addEventListener("focus", () => length.select());

  const canonical = (name) => {
    const v = name.trim().toLowerCase();
    return Object.keys(tps).find((k) => k.toLowerCase() === v) || null;
  };

  function followMuscle() {
    const name = canonical(muscle.value);
    if (!name) return;
    // The trigger point list is this muscle's; a trigger point of another muscle is cleared.
    tpList.replaceChildren(...tps[name].map((t) => Object.assign(document.createElement("option"), { value: t })));
    if (tp.value && !tps[name].some((t) => t.toLowerCase() === tp.value.trim().toLowerCase())) tp.value = "";
    if (!tp.value && tps[name].length === 1) tp.value = tps[name][0];
    if (!lengthTyped && document.activeElement !== length && name.toLowerCase() !== lastMuscle && lengths[name]) {
      length.value = lengths[name];
    }
  }

  muscle.addEventListener("focus", () => muscle.select());
  muscle.addEventListener("change", followMuscle);
  form.addEventListener("submit", () => {
    const n = Number(muscle.value.trim());
    if (Number.isInteger(n) && n >= 1 && n <= targets.length) {
      const t = targets[n - 1];
      muscle.value = t.dataset.muscle;
      document.getElementById("side").value = t.dataset.side;
      tp.value = t.dataset.tp;
    }
    followMuscle();
  });
  // Enter saves from every field: browsers do it for text inputs but not for checkboxes or
  // selects. A datalist choice made with Enter is left to the browser.
  form.addEventListener("keydown", (e) => {
    if (e.key !== "Enter" || e.isComposing) return;
    const el = e.target;
    if (el.tagName === "TEXTAREA" || el.tagName === "BUTTON") return;
    if (el.type === "checkbox" || el.tagName === "SELECT") {
      e.preventDefault();
      form.requestSubmit();
    }
  });
  // Back from a saved needle (#entry): ready for the next one.
  const ready = () => { muscle.focus(); muscle.select(); };
  // After the browser's own move to the #entry fragment, which takes focus to the page.
  if (location.hash === "#entry" || form.querySelector(".field-error")) {
    ready();
    window.addEventListener("load", () => setTimeout(ready, 0));
  }
  window.addEventListener("hashchange", () => { if (location.hash === "#entry") ready(); });
  // The pleural-recess acknowledgement is asked only for the muscles that need it (without
  // JavaScript it is always shown; the server requires it either way).
  const recess = document.getElementById("recess-row");
  if (recess) {
    const names = JSON.parse(recess.dataset.muscles).map((m) => m.toLowerCase());
    const toggle = () => {
      const v = muscle.value.trim().toLowerCase().replace(/ /g, "_");
      const needed = names.some((n) => n === v || n.replace(/ /g, "_") === v);
      const flagged = recess.querySelector(".field-error") !== null;
      recess.hidden = !needed && !flagged && !document.getElementById("pleural_recess_acknowledged").checked;
    };
    muscle.addEventListener("input", toggle);
    muscle.addEventListener("change", toggle);
    toggle();
  }
})();
