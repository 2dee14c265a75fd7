// Bedside charting shortcuts: in the Muscle field, a planned target's number followed by Enter
// fills muscle, side and trigger point from that target and saves, so repeating the last
// needle on another planned target takes two or three keystrokes.
(function () {
  "use strict";
  const form = document.getElementById("entry-form");
  if (!form) return;
  const muscle = document.getElementById("muscle");
  const targets = [...document.querySelectorAll("#targets li[data-muscle]")];
  muscle.addEventListener("focus", () => muscle.select());
  form.addEventListener("submit", () => {
    const n = Number(muscle.value.trim());
    if (Number.isInteger(n) && n >= 1 && n <= targets.length) {
      const t = targets[n - 1];
      muscle.value = t.dataset.muscle;
      document.getElementById("side").value = t.dataset.side;
      document.getElementById("trigger_point_id").value = t.dataset.tp;
    }
  });
  if (muscle === document.activeElement) muscle.select();
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
