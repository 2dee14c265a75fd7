// The diagnosis code fields: as the clinician types a code or words of its title ("myalgia
// neck"), the matching billable ICD-10-CM codes from /api/icd10cm are offered as buttons
// below the field; choosing one fills in its code. Without JavaScript the field is plain
// text (with the page's list of codes) and the server checks the code either way.
(function () {
  "use strict";
  for (const input of document.querySelectorAll("input[data-icd10-search]")) {
    input.removeAttribute("list"); // the page's list matches substrings only: ours replaces it
    const results = document.createElement("ul");
    results.className = "icd10-results";
    results.id = `${input.id}-results`;
    results.setAttribute("aria-label", "Matching ICD-10-CM codes");
    results.setAttribute("aria-live", "polite");
    input.insertAdjacentElement("afterend", results);
    let timer = 0;
    let asked = "";
    const choose = (code) => {
      input.value = code;
      results.replaceChildren();
      input.focus();
    };
    const show = (codes) => {
      const items = codes
        .filter((c) => c.billable)
        .map((c) => {
          const item = document.createElement("li");
          const button = document.createElement("button");
          button.type = "button";
          button.dataset.code = c.code;
          button.textContent = `${c.code} ${c.display}`;
          button.addEventListener("click", () => choose(c.code));
          item.append(button);
          return item;
        });
      results.replaceChildren(...items);
    };
    input.addEventListener("input", () => {
      clearTimeout(timer);
      const q = input.value.trim();
      if (q.length < 2) {
        results.replaceChildren();
        return;
      }
      timer = setTimeout(async () => {
        asked = q;
        try {
          const response = await fetch(`/api/icd10cm?limit=12&q=${encodeURIComponent(q)}`, {
            headers: { Accept: "application/json" },
            credentials: "same-origin",
          });
          if (response.ok && asked === q) show(await response.json());
        } catch {
          // offline or refused: the plain field still works
        }
      }, 150);
    });
  }
})();
