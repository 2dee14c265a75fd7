// The patient's page (portal/patient_pages.py): one question per screen with progress,
// Back/Next and the focus on each question's heading; tapping the body chart ticks the
// region's checkbox. Without this script the page is one long form that works the same.
(function () {
  "use strict";
  const form = document.getElementById("portal-form");
  if (!form) return;

  // ---- the pain drawing: the pictures and the lists are one set of checkboxes ----
  const charts = form.querySelector("[data-patient-chart]");
  const summary = document.getElementById("marked-summary");
  const noPain = document.getElementById("no-pain");
  function box(id) { return form.querySelector('input[name="region"][value="' + CSS.escape(id) + '"]'); }
  function paint() {
    if (!charts) return;
    let n = 0;
    charts.querySelectorAll(".region[data-region]").forEach((r) => {
      const b = box(r.dataset.region);
      const on = !!(b && b.checked);
      r.classList.toggle("shade-pain", on);
    });
    form.querySelectorAll('input[name="region"]').forEach((b) => { if (b.checked) n += 1; });
    form.querySelectorAll("details.region-group").forEach((d) => {
      const c = d.querySelectorAll('input[name="region"]:checked').length;
      let span = d.querySelector("summary .count");
      if (!span) { span = document.createElement("span"); span.className = "count"; d.querySelector("summary").append(" ", span); }
      span.textContent = c ? "(" + c + ")" : "";
    });
    // the front/back switch counts what is ticked on each picture
    form.querySelectorAll("[data-show-view]").forEach((b) => {
      const fig = charts.querySelector('figure[data-view="' + b.dataset.showView + '"]');
      let c = 0;
      form.querySelectorAll('input[name="region"]:checked').forEach((x) => {
        if (fig && fig.querySelector('[data-region="' + CSS.escape(x.value) + '"]')) c += 1;
      });
      const span = b.querySelector("[data-view-count]");
      if (span) span.textContent = c ? "(" + c + ")" : "";
    });
    if (summary) {
      summary.hidden = false;
      summary.textContent = n ? summary.dataset.some.replace("{n}", String(n)) : summary.dataset.none;
    }
  }
  if (charts) {
    charts.addEventListener("click", (e) => {
      const r = e.target.closest && e.target.closest(".region[data-region]");
      if (!r) return;
      const b = box(r.dataset.region);
      if (!b) return;
      b.checked = !b.checked;
      if (b.checked && noPain) noPain.checked = false;
      paint(); // the group's summary counts it; the list stays closed, the step short
    });
    form.addEventListener("change", (e) => {
      if (e.target.name === "region" && e.target.checked && noPain) noPain.checked = false;
      if (e.target === noPain && noPain.checked) {
        form.querySelectorAll('input[name="region"]:checked').forEach((b) => { b.checked = false; });
      }
      paint();
    });
    // one picture at a time on a phone: the switch shows the front or the back
    const viewSwitch = form.querySelector("[data-view-switch]");
    if (viewSwitch) {
      const showView = (v) => {
        charts.querySelectorAll("figure[data-view]").forEach((f) => { f.hidden = f.dataset.view !== v; });
        viewSwitch.querySelectorAll("[data-show-view]").forEach((b) => {
          b.setAttribute("aria-pressed", String(b.dataset.showView === v));
        });
      };
      viewSwitch.hidden = false;
      viewSwitch.addEventListener("click", (e) => {
        const b = e.target.closest("[data-show-view]");
        if (b) showView(b.dataset.showView);
      });
      showView("anterior");
    }
    paint();
  }

  // ---- one step per screen ----
  const steps = [...form.querySelectorAll("section.step")];
  const nav = form.querySelector(".step-nav");
  const progress = document.getElementById("progress");
  if (steps.length < 2 || !nav || !progress) return;
  const back = nav.querySelector("[data-back]");
  const next = nav.querySelector("[data-next]");
  const saveLater = nav.querySelector("[data-save-later]");
  const questions = steps.length - 1; // the last step is "send your answers"
  let current = 0;
  form.classList.add("stepped");
  nav.hidden = false;

  function show(i, focus) {
    current = Math.max(0, Math.min(steps.length - 1, i));
    steps.forEach((s, k) => { s.hidden = k !== current; });
    const last = current === steps.length - 1;
    progress.hidden = last;
    progress.textContent = form.dataset.tQuestion
      .replace("{n}", String(current + 1)).replace("{total}", String(questions));
    back.hidden = current === 0;
    next.hidden = last;
    if (saveLater) saveLater.hidden = last; // the last step has its own
    next.textContent = current === questions - 1 ? form.dataset.tReview : form.dataset.tNext;
    if (focus) {
      const h = steps[current].querySelector(".q-heading");
      if (h) h.focus();
      window.scrollTo(0, 0);
    }
  }
  back.addEventListener("click", () => show(current - 1, true));
  next.addEventListener("click", () => show(current + 1, true));
  // Enter in a question moves on instead of sending the whole form early.
  form.addEventListener("keydown", (e) => {
    if (e.key === "Enter" && e.target.tagName === "INPUT" && current < steps.length - 1) {
      e.preventDefault();
      show(current + 1, true);
    }
  });
  // The error summary's links open the question they name.
  const errors = document.getElementById("error-summary");
  if (errors) {
    errors.addEventListener("click", (e) => {
      const a = e.target.closest("a[href^='#']");
      if (!a) return;
      const target = document.getElementById(a.getAttribute("href").slice(1));
      const k = steps.findIndex((s) => s.contains(target));
      if (k >= 0) { e.preventDefault(); show(k, true); }
    });
    const first = steps.findIndex((s) => s.classList.contains("has-error"));
    show(first >= 0 ? first : 0, false);
    errors.focus();
  } else {
    // a resumed draft opens at the first question not answered yet
    const answered = (st) => [...st.querySelectorAll("input[type=radio], input[type=checkbox]")]
      .some((i) => i.checked);
    const open = steps.findIndex((st, k) => k < questions && !answered(st));
    show(open >= 0 ? open : 0, false);
  }
})();
