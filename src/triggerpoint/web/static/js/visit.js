// The visit page and the consent form.
// * Consent: "told of all the listed risks" ticks every risk at once (the server records each
//   by name either way); unticking one risk unticks "all".
// * Visit: the stepper marks the step whose section is in view, so a long page keeps its place.
(function () {
  "use strict";
  const all = document.getElementById("all_risks");
  if (all) {
    const boxes = [...document.querySelectorAll("input[name=risks]")];
    all.addEventListener("change", () => { boxes.forEach((b) => { b.checked = all.checked; }); });
    boxes.forEach((b) => b.addEventListener("change", () => { all.checked = boxes.every((x) => x.checked); }));
  }
  const links = [...document.querySelectorAll("#stepper a.step-link")];
  if (!links.length || !("IntersectionObserver" in window)) return;
  const byId = new Map(links.map((a) => [a.getAttribute("href").slice(1), a]));
  const seen = new IntersectionObserver((entries) => {
    for (const e of entries) {
      const a = byId.get(e.target.id);
      if (a && e.isIntersecting) {
        links.forEach((l) => l.removeAttribute("aria-current"));
        a.setAttribute("aria-current", "step");
      }
    }
  }, { rootMargin: "-20% 0px -70% 0px" });
  byId.forEach((_a, id) => { const s = document.getElementById(id); if (s) seen.observe(s); });
})();
