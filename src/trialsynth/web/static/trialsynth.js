// trialsynth serve: the small script of the review pages (no framework, no build step).
// Forms post JSON with the page's key; the server answers {error} with a 4xx status.
"use strict";
(function () {
  const KEY = document.querySelector('meta[name="trialsynth-key"]').content;
  const $ = (sel, root) => (root || document).querySelector(sel);
  const $$ = (sel, root) => Array.from((root || document).querySelectorAll(sel));

  async function api(path, body) {
    const options = { headers: { "X-Trialsynth-Key": KEY } };
    if (body !== undefined) {
      options.method = "POST";
      options.headers["Content-Type"] = "application/json";
      options.body = JSON.stringify(body);
    }
    const response = await fetch(path, options);
    let data = {};
    try { data = await response.json(); } catch (e) { data = { error: "the server's answer was not JSON" }; }
    return { status: response.status, data: data };
  }

  function say(el, text, kind) {
    if (!el) return;
    el.textContent = text;
    el.className = "message" + (kind ? " " + kind : "");
  }

  function values(form) {
    const out = {};
    for (const el of $$("input[name], select[name], textarea[name]", form)) {
      const v = el.value.trim();
      if (!(el.name in out) || (out[el.name] === "" && v !== "")) out[el.name] = v;
    }
    return Object.assign(out, JSON.parse(form.dataset.fixed || "{}"));
  }

  function rowRequest(form) {
    return {
      file: form.dataset.file,
      key: form.dataset.key ? JSON.parse(form.dataset.key) : null,
      version: form.dataset.version || null,
      values: values(form),
    };
  }

  function failed(form, result) {
    const text = result.data.error || ("error " + result.status);
    say($(".message", form), text, "error");
    if (result.status === 409) say($("#page-message"), text, "error");
  }

  // ------------------------------------------------------------ editing rows
  for (const form of $$("form.row-form")) {
    let timer = null;
    form.addEventListener("input", () => {
      clearTimeout(timer);
      timer = setTimeout(async () => {
        const req = rowRequest(form);
        const result = await api("/api/rows/check", { file: req.file, key: req.key, values: req.values });
        if (result.status !== 200) return failed(form, result);
        say($(".message", form), result.data.error || "", result.data.error ? "error" : "");
      }, 400);
    });
    form.addEventListener("submit", async (event) => {
      event.preventDefault();
      clearTimeout(timer);
      const result = await api("/api/rows/save", rowRequest(form));
      if (result.status !== 200) return failed(form, result);
      sessionStorage.setItem("trialsynth-saved", form.id || "");
      location.reload();
    });
    const del = $("button.delete", form);
    if (del) del.addEventListener("click", async () => {
      const req = rowRequest(form);
      const result = await api("/api/rows/save", { file: req.file, key: req.key, version: req.version, delete: true });
      if (result.status !== 200) return failed(form, result);
      location.reload();
    });
  }
  const saved = sessionStorage.getItem("trialsynth-saved");
  if (saved !== null) {
    sessionStorage.removeItem("trialsynth-saved");
    say($("#page-message"), "Saved.", "ok");
    const again = saved && document.getElementById(saved);
    if (again) { const first = $("select, input", again); if (first) first.focus(); }
  }

  for (const button of $$("button.undo")) {
    button.addEventListener("click", async () => {
      const result = await api("/api/rows/undo", {});
      if (result.status !== 200) return say($("#page-message"), result.data.error, "error");
      if (!result.data.undone) return say($("#page-message"), "Nothing of yours to undo.", "");
      location.reload();
    });
  }

  // ------------------------------------------------------------ starting a review
  const start = $("#start-form");
  if (start) start.addEventListener("submit", async (event) => {
    event.preventDefault();
    const result = await api(start.dataset.api, values(start));
    if (result.status !== 200) return say($(".message", start), result.data.error, "error");
    location.href = start.dataset.reload + "?key=" + encodeURIComponent(KEY);
  });

  // ------------------------------------------------------------ live analyses
  async function refresh(panel) {
    const outcome = panel.dataset.outcome;
    const result = await api("/api/analysis?outcome=" + encodeURIComponent(outcome));
    const pooled = $("#pooled, .pooled", panel), img = $("img", panel), funnel = $("img.funnel", panel);
    const d = result.data;
    if (result.status !== 200 || d.error) { pooled.textContent = d.error || "error"; return; }
    if (d.pooled === null) {
      pooled.textContent = "Not pooled yet: no study has usable data.";
      img.classList.add("hidden");
      return;
    }
    pooled.textContent = d.pooled + " · " + d.k + (d.k === 1 ? " study" : " studies");
    $("#model, .model", panel).textContent = d.model;
    $("#heterogeneity, .heterogeneity", panel).textContent = d.heterogeneity;
    const query = ".svg?key=" + encodeURIComponent(KEY) + "&t=" + Date.now();
    img.src = "/figure/forest/" + encodeURIComponent(outcome) + query;
    img.classList.remove("hidden");
    const list = $(".sensitivity-results", panel);
    if (list) {
      list.replaceChildren();
      for (const line of d.sensitivity) {
        const li = document.createElement("li");
        li.textContent = "Sensitivity, " + line;
        list.appendChild(li);
      }
    }
    const note = $(".funnel-note", panel);
    if (note) note.textContent = d.funnel_note;
    if (funnel && d.funnel) {
      funnel.src = "/figure/funnel/" + encodeURIComponent(outcome) + query;
      funnel.classList.remove("hidden");
    }
  }
  for (const panel of $$("#live, section.live")) refresh(panel);

  for (const form of $$("form.model-form")) {
    form.addEventListener("submit", async (event) => {
      event.preventDefault();
      const result = await api("/api/analysis/model", {
        outcome: form.dataset.outcome,
        method: $("select[name=method]", form).value,
        hk: $("input[name=hk]", form).checked,
        sensitivity: $$("input.sensitivity:checked", form).map((el) => el.value),
        version: form.dataset.version,
      });
      if (result.status !== 200) {
        say($(".message", form), result.data.error, "error");
        if (result.status === 409) say($("#page-message"), result.data.error, "error");
        return;
      }
      location.reload();
    });
  }

  // ------------------------------------------------------------ the report
  const build = $("#build-report");
  if (build) {
    const status = $("#report-status"), list = $("#downloads");
    const show = (d) => {
      status.textContent = d.message;
      list.replaceChildren();
      for (const name of d.files) {
        const li = document.createElement("li"), a = document.createElement("a");
        a.href = "/download/" + encodeURIComponent(name) + "?key=" + encodeURIComponent(KEY);
        a.textContent = name;
        a.setAttribute("download", name);
        li.appendChild(a);
        list.appendChild(li);
      }
    };
    const poll = async () => {
      const result = await api("/api/report/status");
      show(result.data);
      if (result.data.state === "running") setTimeout(poll, 500);
      else build.disabled = false;
    };
    build.addEventListener("click", async () => {
      build.disabled = true;
      const result = await api("/api/report/run", {});
      if (result.status !== 200) { status.textContent = result.data.error; build.disabled = false; return; }
      show(result.data);
      setTimeout(poll, 500);
    });
    poll();
  }
})();
