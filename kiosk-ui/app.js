// The minimal kiosk flow: upload → pick → progress → watermarked loop.
// Talks only to the kiosk listener's JSON API.
"use strict";
(function () {
  const $ = (id) => document.getElementById(id);
  const MAX_BYTES = 20 * 1024 * 1024;
  let pollTimer = null;

  function show(section) {
    for (const id of ["start", "progress", "result"]) $(id).hidden = id !== section;
  }
  function error(message) {
    $("error").textContent = message;
    $("error").hidden = !message;
  }
  function ready() {
    $("go").disabled = !($("photo").files.length && document.querySelector("input[name=preset]:checked"));
  }

  // Staff set the language and idle timeout on the admin page; the kiosk
  // reads them from /api/health and picks up changes within a minute.
  let kiosk = { language: "en", idle_timeout_s: 90 };
  let lastTouch = Date.now();
  async function loadKioskSettings() {
    try {
      const res = await fetch("/api/health");
      if (res.ok) kiosk = await res.json();
    } catch (e) { /* keep the last settings */ }
  }

  async function loadPresets() {
    await loadKioskSettings();
    const lang = kiosk.language || "en";
    $("presets").querySelectorAll("label").forEach((l) => l.remove());
    const res = await fetch("/api/presets");
    const presets = await res.json();
    presets.forEach((p, i) => {
      const label = document.createElement("label");
      const input = document.createElement("input");
      input.type = "radio"; input.name = "preset"; input.value = p.id; input.checked = i === 0;
      input.addEventListener("change", ready);
      label.append(input, document.createTextNode(p.label[lang] || p.label.en));
      $("presets").append(label);
    });
    ready();
  }

  $("photo").addEventListener("change", () => {
    const f = $("photo").files[0];
    $("photo-label").textContent = f ? f.name : "Choose a portrait photo";
    error(f && f.size > MAX_BYTES ? "That photo is larger than 20 MB. Please choose a smaller one." : "");
    ready();
  });

  $("upload").addEventListener("submit", async (ev) => {
    ev.preventDefault();
    const f = $("photo").files[0];
    if (!f || f.size > MAX_BYTES) return;
    $("go").disabled = true;
    error("");
    const body = new FormData();
    body.append("photo", f);
    body.append("preset", document.querySelector("input[name=preset]:checked").value);
    try {
      const res = await fetch("/api/jobs", { method: "POST", body });
      const data = await res.json();
      if (!res.ok) throw new Error(data.error ? data.error.message : "Upload failed.");
      show("progress");
      // Kept in the address so a restarted kiosk browser comes back to
      // this guest's screen (QR and all) instead of the start page.
      history.replaceState(null, "", "#job=" + data.job_id);
      poll(data.job_id);
    } catch (e) {
      error(e.message || "Upload failed.");
      ready();
    }
  });

  async function poll(id) {
    clearTimeout(pollTimer);
    try {
      const res = await fetch("/api/jobs/" + id);
      const job = await res.json();
      if (!res.ok) throw new Error(job.error ? job.error.message : "Lost track of the photo.");
      if (job.status === "failed") throw new Error(job.error || "We couldn't animate this photo.");
      if (job.status === "preview_ready" || job.status === "unlocked") return result(job);
      const total = job.frames_total || 1;
      $("bar").value = job.frames_done / total;
      $("progress-text").textContent = job.status === "queued"
        ? "Waiting for the guests before you…"
        : `Your photo is coming to life… ${job.frames_done} of ${job.frames_total} frames`;
      pollTimer = setTimeout(() => poll(id), 400);
    } catch (e) {
      show("start");
      error(e.message);
      ready();
    }
  }

  // The result screen asks for the job twice a second until it is unlocked,
  // so a payment on the phone shows here within two seconds.
  function result(job) {
    show("result");
    if ($("preview").dataset.job !== job.id) {
      $("preview").dataset.job = job.id;
      lastTouch = Date.now(); // the guest gets the whole timeout to scan
      $("preview").src = job.preview_url;
      $("preview").poster = job.poster_url;
      $("qr").src = "/api/jobs/" + job.id + "/qr.svg";
    }
    $("qr").hidden = false;
    if (job.status === "unlocked") {
      $("paid-text").hidden = false;
      $("paid-text").textContent = job.unlock === "paid"
        ? "Paid — your video is on your phone"
        : "Scan the code: your HD video is ready on your phone";
      $("unlock-text").textContent = "";
      return;
    }
    $("paid-text").hidden = true;
    if (job.price_cents && job.payments_configured && job.payments_offline) {
      $("unlock-text").textContent = "Card payment can't be reached right now. Please ask the staff to unlock your video, or scan the code and try again in a minute.";
    } else if (job.price_cents && job.payments_configured) {
      const price = (job.price_cents / 100).toLocaleString(undefined, { style: "currency", currency: job.currency.toUpperCase() });
      $("unlock-text").textContent = `Scan the code to get the HD video without watermark on your phone for ${price}.`;
    } else {
      $("unlock-text").textContent = "Payment on the phone is not available right now. Please ask the staff to unlock your video.";
    }
    pollTimer = setTimeout(() => watch(job.id), 500);
  }

  async function watch(id) {
    try {
      const res = await fetch("/api/jobs/" + id);
      if (res.ok) return result(await res.json());
    } catch (e) { /* the kiosk server restarting: try again */ }
    pollTimer = setTimeout(() => watch(id), 500);
  }

  function startOver() {
    clearTimeout(pollTimer);
    delete $("preview").dataset.job;
    history.replaceState(null, "", location.pathname);
    $("upload").reset();
    $("photo-label").textContent = "Choose a portrait photo";
    $("preview").removeAttribute("src");
    show("start");
    ready();
  }
  $("again").addEventListener("click", startOver);

  // A guest who walks away leaves the result on screen only until the
  // idle timeout; then the kiosk is ready for the next guest by itself.
  for (const ev of ["pointerdown", "keydown", "touchstart"]) {
    document.addEventListener(ev, () => { lastTouch = Date.now(); }, { passive: true });
  }
  setInterval(() => {
    const idle = (Date.now() - lastTouch) / 1000;
    if (!$("result").hidden && idle > kiosk.idle_timeout_s) {
      lastTouch = Date.now();
      startOver();
      loadPresets().catch(() => {});
    }
  }, 1000);
  setInterval(loadKioskSettings, 60000);

  loadPresets().catch(() => error("The kiosk is starting up. Please reload in a moment."));
  const resume = /^#job=([0-9a-f]{16})$/.exec(location.hash);
  if (resume) {
    show("progress");
    poll(resume[1]);
  }
})();
