// Body chart behaviour shared by every page that shows one: name the region under the pointer,
// and turn clicks, taps and Enter/Space into a "region-select" event that pages listen for.
(function () {
  "use strict";
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

  document.addEventListener("pointerover", (e) => {
    const r = e.target.closest && e.target.closest(".region");
    if (r) show(r);
  });
  document.addEventListener("pointerout", (e) => {
    const r = e.target.closest && e.target.closest(".region");
    if (r) show(null);
  });
  document.addEventListener("focusin", (e) => {
    if (e.target.classList && e.target.classList.contains("region")) show(e.target);
  });
  document.addEventListener("click", (e) => {
    const r = e.target.closest && e.target.closest(".region");
    if (r) select(r);
  });
  document.addEventListener("keydown", (e) => {
    if ((e.key === "Enter" || e.key === " ") && e.target.classList && e.target.classList.contains("region")) {
      e.preventDefault();
      select(e.target);
    }
  });
  window.Bodychart = { select: select, show: show };
})();
