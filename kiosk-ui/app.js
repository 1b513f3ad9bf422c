// The kiosk screen: attract → consent → camera (or phone) → review → pick
// → the render live → the loop with its QR code → back to attract.
// Talks only to the kiosk listener's JSON API. One screen at a time; each
// screen's side effects (streams, polling) start on entry and stop on exit.
"use strict";
(function () {
  const $ = (id) => document.getElementById(id);
  const I18N = window.SMILELOOP_I18N;
  const SCREENS = ["standby", "attract", "consent", "camera", "phone", "review", "pick", "result"];

  let kiosk = { language: "en", idle_timeout_s: 60, retention_unpaid_hours: 24, event_name: "SmileLoop" };
  let lang = "en";
  let presets = [];
  let screen = null;
  let lastTouch = Date.now();
  let cameraState = "off";
  let photo = null; // { blob, url, from: "camera" | "phone" }
  let slot = null; // the open phone-upload slot's code
  let jobId = null;
  let busy = false; // one tap at a time: no double captures, no double uploads
  const timers = {};

  function later(name, fn, ms) {
    clearTimeout(timers[name]);
    timers[name] = setTimeout(fn, ms);
  }
  function stop(name) {
    clearTimeout(timers[name]);
    delete timers[name];
  }

  function t(key, vars) {
    let s = (I18N[lang] && I18N[lang][key]) || I18N.en[key] || I18N[lang].generic || I18N.en.generic;
    for (const k in vars || {}) s = s.replace("{" + k + "}", vars[k]);
    return s;
  }

  function translate() {
    document.documentElement.lang = lang;
    document.querySelectorAll("[data-t]").forEach((el) => { el.textContent = t(el.dataset.t); });
    $("consent-text").textContent = t("consent_text", { hours: kiosk.retention_unpaid_hours });
    document.querySelectorAll("[data-lang]").forEach((b) => b.setAttribute("aria-pressed", String(b.dataset.lang === lang)));
    document.querySelectorAll("#presets .card").forEach((card) => {
      const p = presets.find((x) => x.id === card.dataset.preset);
      if (p) card.querySelector(".name").textContent = label(p);
    });
  }
  const label = (p) => p.label[lang] || p.label.en || p.id;

  async function getJson(url, options) {
    const res = await fetch(url, options);
    let body = null;
    try { body = await res.json(); } catch (e) { /* not JSON */ }
    if (!res.ok) {
      const err = new Error((body && body.error && body.error.message) || res.statusText);
      err.code = body && body.error ? body.error.code : "generic";
      err.status = res.status;
      throw err;
    }
    return body;
  }

  // Staff set the language, idle timeout and event name on the admin page;
  // read at start, at every reset and every minute.
  async function loadKioskSettings() {
    try { kiosk = await getJson("/api/health"); } catch (e) { /* keep the last settings */ }
    $("event-name").textContent = kiosk.event_name || "SmileLoop";
  }

  async function loadPresets() {
    presets = await getJson("/api/presets");
    const box = $("presets");
    box.textContent = "";
    for (const p of presets) {
      const card = document.createElement("button");
      card.type = "button";
      card.className = "card";
      card.dataset.preset = p.id;
      const thumb = document.createElement("div");
      thumb.className = "thumb";
      if (p.sample_url) {
        const v = document.createElement("video");
        Object.assign(v, { muted: true, loop: true, autoplay: true, playsInline: true, src: p.sample_url });
        if (p.sample_poster_url) v.poster = p.sample_poster_url;
        thumb.append(v);
      } else {
        const art = $("attract-art").cloneNode(true);
        art.removeAttribute("id");
        art.hidden = false;
        thumb.append(art);
      }
      const name = document.createElement("span");
      name.className = "name";
      card.append(thumb, name);
      tap(card, () => startRender(p.id));
      box.append(card);
    }
    translate();
  }

  // ---- moving between screens ------------------------------------------

  function show(name) {
    if (screen === name) return;
    leave(screen);
    screen = name;
    for (const s of SCREENS) $(s).hidden = s !== name;
    enter(name);
  }

  function enter(name) {
    if (name === "attract") attractLoop(0);
    if (name === "camera") startCamera();
    if (name === "phone") openSlot($("phone-qr"));
    if (name === "pick") document.querySelectorAll("#presets video").forEach((v) => v.play().catch(() => {}));
  }

  function leave(name) {
    if (name === "attract") { stop("attract"); $("attract-video").pause(); }
    if (name === "camera") stopCamera();
    if (name === "camera" || name === "phone") stop("slot");
    if (name === "pick") document.querySelectorAll("#presets video").forEach((v) => v.pause());
    if (name === "result") { stop("job"); $("render-live").removeAttribute("src"); }
  }

  // A tap runs its action once; taps while it runs are ignored.
  function tap(el, action) {
    el.addEventListener("click", async (ev) => {
      ev.stopPropagation();
      if (busy) return;
      busy = true;
      try { await action(ev); } catch (e) { fail(e, screen); } finally { busy = false; }
    });
  }

  let errorBack = "attract";
  function fail(e, back) {
    const code = (e && e.code) || "generic";
    // The API's messages are English and may be more precise than ours;
    // other languages use our own words for the code.
    const english = lang === "en" && e && e.message;
    $("error-text").textContent = english || t(I18N.en[code] !== undefined ? code : "generic", { mb: kiosk.max_upload_mb || 20 });
    $("error").dataset.code = code;
    $("error").hidden = false;
    errorBack = back || "attract";
  }
  $("error-back").addEventListener("click", () => {
    $("error").hidden = true;
    const back = errorBack;
    screen = null; // enter the screen again: streams restart
    show(back);
  });

  // ---- attract -----------------------------------------------------------

  function attractLoop(i) {
    const samples = presets.filter((p) => p.sample_url);
    const list = samples.length ? samples : presets;
    const p = list.length ? list[i % list.length] : null;
    $("attract-label").textContent = p ? label(p) : "";
    $("attract-video").hidden = !samples.length;
    $("attract-art").hidden = !!samples.length;
    if (samples.length) {
      $("attract-video").src = p.sample_url;
      $("attract-video").play().catch(() => {});
    }
    later("attract", () => attractLoop(i + 1), 6000);
  }

  $("attract").addEventListener("click", () => { if (!busy) show("consent"); });
  document.querySelectorAll("[data-lang]").forEach((b) => b.addEventListener("click", (ev) => {
    ev.stopPropagation();
    lang = b.dataset.lang;
    translate();
  }));

  // ---- consent -----------------------------------------------------------

  tap($("consent-back"), () => reset());
  tap($("consent-accept"), async () => {
    try { await cameraStatus(); } catch (e) { cameraState = "absent"; }
    show(cameraState === "off" || cameraState === "absent" ? "phone" : "camera");
  });

  // ---- camera ------------------------------------------------------------

  async function cameraStatus(face) {
    const s = await getJson("/api/camera/status" + (face ? "?face=true" : ""));
    cameraState = s.state;
    return s;
  }

  function startCamera() {
    $("live").src = "/api/camera/live?t=" + Date.now();
    $("hint").textContent = "";
    $("countdown").hidden = true;
    openSlot($("camera-phone-qr"));
    watchCamera(false);
  }

  function stopCamera() {
    stop("camera");
    $("live").removeAttribute("src"); // closes the stream
  }

  // The guide's hint and the "reconnecting" cover, twice a second. After
  // an outage the stream is opened again in case the server restarted.
  async function watchCamera(wasDown) {
    let down = true;
    try {
      const s = await cameraStatus(true);
      down = s.state !== "live" && s.state !== "starting";
      $("hint").textContent = s.face && !down ? t("hint_" + s.face) : "";
      if (wasDown && !down) $("live").src = "/api/camera/live?t=" + Date.now();
    } catch (e) { /* the server is restarting */ }
    $("camera-down").hidden = !down;
    later("camera", () => watchCamera(down), 500);
  }

  tap($("shutter"), async () => {
    for (const n of [3, 2, 1]) {
      $("countdown").textContent = n;
      $("countdown").hidden = false;
      await new Promise((r) => setTimeout(r, 800));
    }
    $("countdown").hidden = true;
    $("flash").classList.remove("on");
    void $("flash").offsetWidth; // restart the animation
    $("flash").classList.add("on");
    try {
      const res = await fetch("/api/camera/still", { method: "POST" });
      if (!res.ok) {
        const body = await res.json().catch(() => ({}));
        throw Object.assign(new Error(""), { code: body.error ? body.error.code : "camera_unavailable" });
      }
      setPhoto(await res.blob(), "camera");
      show("review");
    } catch (e) {
      fail(e, "camera");
    }
  });
  tap($("to-phone"), () => show("phone"));

  // ---- phone upload ------------------------------------------------------

  async function openSlot(qr) {
    try {
      if (!slot) {
        const opened = await getJson("/api/phone-uploads", { method: "POST" });
        slot = opened;
      }
      qr.src = slot.qr_url;
      watchSlot(qr);
    } catch (e) { /* phone upload unavailable: the camera still works */ }
  }

  function closeSlot() {
    stop("slot");
    if (slot) fetch("/api/phone-uploads/" + slot.code, { method: "DELETE" }).catch(() => {});
    slot = null;
  }

  async function watchSlot(qr) {
    const code = slot && slot.code;
    if (!code) return;
    try {
      const s = await getJson("/api/phone-uploads/" + code);
      // A guest choosing a photo on their phone is still here (for as long
      // as the slot lives, ten minutes).
      if (s.state === "opened") lastTouch = Date.now();
      if (s.state === "received") {
        const res = await fetch("/api/phone-uploads/" + code + "/photo");
        if (res.ok) {
          setPhoto(await res.blob(), "phone");
          closeSlot();
          show("review");
          return;
        }
      }
    } catch (e) {
      if (e.status === 404) { slot = null; return openSlot(qr); } // expired
    }
    later("slot", () => watchSlot(qr), 1000);
  }

  tap($("phone-back"), () => show(cameraState === "off" || cameraState === "absent" ? "attract" : "camera"));

  // ---- review ------------------------------------------------------------

  function setPhoto(blob, from) {
    clearPhoto();
    photo = { blob, url: URL.createObjectURL(blob), from };
    $("review-photo").src = photo.url;
    countFaces(photo);
  }

  // How many faces will come alive, said before the guest goes on. The
  // kiosk keeps what it found, so the job does not look again.
  async function countFaces(p) {
    const body = new FormData();
    body.append("photo", p.blob, "photo.jpg");
    let words = "";
    try {
      const checked = await getJson("/api/photo-check", { method: "POST", body });
      if (checked.faces > 1) words = t("faces_many", { n: checked.faces });
      else if (checked.faces === 1) words = t("faces_one");
    } catch (e) {
      if (e.code && I18N.en["hint_" + e.code] !== undefined) words = t("hint_" + e.code);
    }
    if (photo === p) $("review-faces").textContent = words;
  }

  function clearPhoto() {
    if (photo) URL.revokeObjectURL(photo.url);
    photo = null;
    $("review-photo").removeAttribute("src");
    $("review-faces").textContent = "";
    $("render-stage").style.backgroundImage = "";
  }

  tap($("retake"), () => {
    const from = photo ? photo.from : "camera";
    clearPhoto();
    show(from === "phone" || cameraState === "off" ? "phone" : "camera");
  });
  tap($("use-photo"), () => show("pick"));
  tap($("pick-back"), () => show("review"));

  // ---- render and result -------------------------------------------------

  async function startRender(presetId) {
    if (!photo) return show("camera");
    const body = new FormData();
    body.append("photo", photo.blob, "photo.jpg");
    body.append("preset", presetId);
    let created;
    try {
      created = await getJson("/api/jobs", { method: "POST", body });
    } catch (e) {
      const retake = ["no_face", "face_too_small", "face_cut_off", "face_turned"].includes(e.code);
      return fail(e, retake ? (photo.from === "phone" ? "phone" : "camera") : "pick");
    }
    // Kept in the address so a restarted kiosk browser comes back to this
    // guest's screen (QR and all) instead of the start page.
    history.replaceState(null, "", "#job=" + created.job_id);
    openJob(created.job_id);
  }

  function openJob(id) {
    jobId = id;
    $("result-title").textContent = t("processing_title");
    $("progress-box").hidden = false;
    $("pay-box").hidden = true;
    $("paid-text").hidden = true;
    $("print").hidden = true;
    $("print-text").hidden = true;
    $("bar").value = 0;
    $("progress-text").textContent = "";
    $("preview").removeAttribute("src");
    delete $("preview").dataset.job;
    $("render-live").hidden = false;
    // The guest's own photo fills the box until the first frame arrives.
    $("render-stage").style.backgroundImage = photo ? "url(" + photo.url + ")" : "";
    $("render-live").src = "/api/jobs/" + id + "/live";
    $("qr").src = "/api/jobs/" + id + "/qr.svg";
    show("result");
    rate = null;
    poll(id);
  }

  let rate = null; // { t, done } when rendering was first seen
  async function poll(id) {
    let job;
    try {
      job = await getJson("/api/jobs/" + id);
    } catch (e) {
      if (e.status === 404) return reset();
      return later("job", () => poll(id), 1000); // the server restarting
    }
    if (id !== jobId) return;
    if (job.status === "failed") {
      history.replaceState(null, "", location.pathname);
      return fail({ code: "render_failed", message: job.error }, "attract");
    }
    if (job.status === "preview_ready" || job.status === "unlocked") return ready(job);
    // Watching their photo come alive is not walking away: the idle
    // timeout starts when the loop is ready (see `ready`), however long
    // the queue or the render takes.
    if (job.status === "queued" || job.status === "rendering") lastTouch = Date.now();
    const total = job.frames_total || 0;
    $("bar").value = total ? job.frames_done / total : 0;
    if (job.status === "queued") {
      const n = job.queue_position || 1;
      $("progress-text").textContent = n > 1 ? t("queued", { n: n - 1 }) : t("queued_next");
    } else if (total) {
      let text = t("frames", { done: job.frames_done, total });
      const now = Date.now();
      if (!rate) rate = { t: now, done: job.frames_done };
      const fps = (job.frames_done - rate.done) / ((now - rate.t) / 1000);
      if (fps > 0) text += " · " + t("seconds_left", { s: Math.max(1, Math.ceil((total - job.frames_done) / fps)) });
      $("progress-text").textContent = text;
    }
    later("job", () => poll(id), 400);
  }

  // The loop replaces the live frames in the same box once it can play,
  // then the result asks twice a second whether the guest paid.
  function ready(job) {
    if ($("preview").dataset.job !== job.id) {
      $("preview").dataset.job = job.id;
      $("preview").poster = job.poster_url;
      $("preview").addEventListener("loadeddata", () => { $("render-live").hidden = true; }, { once: true });
      $("preview").src = job.preview_url;
      $("result-title").textContent = t("result_title");
      $("progress-box").hidden = true;
      $("pay-box").hidden = false;
      lastTouch = Date.now(); // the guest gets the whole timeout to scan
    }
    payText(job);
    printButton(job);
    later("job", () => poll(job.id), 500);
  }

  // "Print my card" when staff turned printing on; while the printer
  // cannot print it says so, and a tap still queues the card (held).
  let printer = null;
  let printerAsked = 0;
  async function printButton(job) {
    if (Date.now() - printerAsked > 3000) {
      printerAsked = Date.now();
      try { printer = await getJson("/api/printer"); } catch (e) { printer = null; }
    }
    if (job.id !== jobId) return;
    const shown = !!printer && printer.enabled && printer.print_when === "on_request";
    $("print").hidden = !shown;
    if (shown) $("print").textContent = printer.can_print ? t("print_card") : t("print_needs_staff");
  }

  tap($("print"), async () => {
    const text = $("print-text");
    text.hidden = false;
    try {
      const queued = await getJson("/api/jobs/" + jobId + "/print", { method: "POST" });
      text.textContent = queued.held ? t("print_held") : t("print_sent");
    } catch (e) {
      text.textContent = I18N.en[e.code] ? t(e.code) : e.message;
    }
    lastTouch = Date.now();
  });

  function payText(job) {
    const unlocked = job.status === "unlocked";
    $("paid-text").hidden = !unlocked;
    if (unlocked) {
      $("paid-text").textContent = job.unlock === "paid" ? t("paid") : job.unlock === "event" ? t("free_text") : t("unlocked");
      $("unlock-text").textContent = "";
    } else if (!job.price_cents) {
      $("unlock-text").textContent = t("free_text");
    } else if (job.payments_configured && job.payments_offline) {
      $("unlock-text").textContent = t("payments_offline");
    } else if (job.payments_configured) {
      // Minor units: ¥800 is 800, $7.99 is 799.
      const price = (job.price_cents / 10 ** (job.price_decimals ?? 2)).toLocaleString(lang, { style: "currency", currency: job.currency.toUpperCase() });
      $("unlock-text").textContent = t("pay_text", { price });
    } else {
      $("unlock-text").textContent = t("payments_missing");
    }
  }

  tap($("next-guest"), () => reset());
  tap($("again"), () => reset());

  // ---- starting over -----------------------------------------------------

  // Clears the previous guest from the screen: photo, job, streams, slot,
  // language. A job waiting for payment stays reachable from the phone.
  function reset() {
    for (const name of Object.keys(timers)) stop(name);
    $("error").hidden = true;
    closeSlot();
    clearPhoto();
    jobId = null;
    $("preview").removeAttribute("src");
    delete $("preview").dataset.job;
    $("qr").removeAttribute("src");
    history.replaceState(null, "", location.pathname);
    lang = kiosk.language || "en";
    translate();
    show("attract");
    loadKioskSettings().then(() => { lang = kiosk.language || lang; translate(); });
    loadPresets().catch(() => {});
  }

  // A guest who walks away leaves their screen only until the idle
  // timeout; then the kiosk is ready for the next guest by itself.
  for (const ev of ["pointerdown", "keydown", "touchstart"]) {
    document.addEventListener(ev, () => { lastTouch = Date.now(); }, { passive: true, capture: true });
  }
  document.addEventListener("contextmenu", (ev) => ev.preventDefault());
  document.addEventListener("gesturestart", (ev) => ev.preventDefault());
  setInterval(() => {
    const idle = (Date.now() - lastTouch) / 1000;
    if (screen !== "attract" && screen !== "standby" && idle > kiosk.idle_timeout_s) {
      lastTouch = Date.now();
      reset();
    } else if (screen === "attract" && idle > kiosk.idle_timeout_s && !awake(new Date())) {
      show("standby");
    }
  }, 1000);

  // Staff set the event's hours (`screen_hours`, the box's local time);
  // outside them the screen is black until someone touches it.
  function awake(now) {
    const hours = kiosk.screen_hours;
    if (!hours) return true;
    const m = now.getHours() * 60 + now.getMinutes();
    const [from, until] = hours;
    return from < until ? m >= from && m < until : m >= from || m < until;
  }
  $("standby").addEventListener("click", () => { lastTouch = Date.now(); show("attract"); });
  setInterval(loadKioskSettings, 60000);

  (async function boot() {
    await loadKioskSettings();
    lang = kiosk.language || "en";
    translate();
    try { await loadPresets(); } catch (e) { /* shown empty; retried at reset */ }
    try { await cameraStatus(); } catch (e) { /* asked again at consent */ }
    const resume = /^#job=([0-9a-f]{16})$/.exec(location.hash);
    if (resume) openJob(resume[1]);
    // A guest who tapped while the page was loading keeps their screen.
    else if (screen === null) show(awake(new Date()) ? "attract" : "standby");
  })();
})();
