// Atlas browser: filter the muscle list as the user types; list trigger points referring to a
// clicked region (essential first), using the same JSON API that scripts use.
(function () {
  "use strict";
  const search = document.getElementById("muscle-search");
  if (search) {
    search.addEventListener("input", () => {
      const q = search.value.trim().toLowerCase();
      document.querySelectorAll("#muscle-list li").forEach((li) => {
        li.hidden = q !== "" && !li.dataset.search.includes(q);
      });
    });
  }

  // The region browser gets zoom, pinch and the list picker for small regions.
  const browser = document.querySelector('.charts[data-chart="atlas"]');
  if (browser && window.Bodychart) {
    browser.setAttribute("data-picker", "");
    window.Bodychart.enhance(browser);
  }

  const list = document.getElementById("refers-list");
  const label = document.getElementById("refers-region");

  function render(data) {
    list.replaceChildren();
    label.textContent = data.regions.map((r) => r.name).join(", ") + ": " +
      (data.matches.length ? data.matches.length + " trigger point(s)" : "no trigger point in the atlas refers here");
    for (const m of data.matches) {
      const li = document.createElement("li");
      const a = document.createElement("a");
      a.href = "/atlas/muscles/" + encodeURIComponent(m.muscle_id) + "?side=" + m.side;
      a.textContent = m.muscle;
      const zone = document.createElement("span");
      zone.className = "zone-" + m.zone;
      zone.textContent = " " + m.zone;
      const tp = document.createElement("span");
      tp.className = "muted";
      tp.textContent = " · " + m.trigger_point;
      li.append(a, zone, tp);
      li.dataset.muscle = m.muscle_id;
      list.append(li);
    }
  }

  document.addEventListener("region-select", async (e) => {
    document.querySelectorAll(".region.selected").forEach((r) => r.classList.remove("selected"));
    e.target.classList.add("selected");
    const resp = await fetch("/api/atlas/refers-to?region=" + encodeURIComponent(e.detail.id));
    if (resp.ok) render(await resp.json());
  });
})();
