// The identity review screen, its list and the identity queue (vigil.web.identity). Keys act
// only when focus is not in a text field; on these pages they take precedence over the
// console's global keys (this listener runs first, in the capture phase, and stops the key
// when it used it): ? opens this screen's help (#idv-help), n on the list and the queue opens
// the next verification waiting for the reviewer (#idv-next, a POST that takes its case).
// The server checks everything again: confirmation, reasons, notes and the version.
(function () {
  "use strict";

  function typing(el) {
    if (!el) return false;
    var tag = el.tagName;
    return tag === "INPUT" && !/^(checkbox|radio|button|submit)$/i.test(el.type) ||
      tag === "TEXTAREA" || tag === "SELECT" || el.isContentEditable;
  }
  function byId(id) { return document.getElementById(id); }
  function openDialog() { return document.querySelector("dialog[open]"); }
  function consume(ev) { ev.preventDefault(); ev.stopImmediatePropagation(); }

  // --- the image viewer: zoom, rotate, pan ------------------------------------------------
  var viewer = { side: null, zoom: 1, fit: 1, rotation: 0 };

  function revealedSides() {
    var out = [];
    var figures = document.querySelectorAll(".idv-image[data-revealed]");
    for (var i = 0; i < figures.length; i++) out.push(figures[i].getAttribute("data-side"));
    return out;
  }

  function layout() {
    var img = byId("idv-viewer-img"), box = byId("idv-box"), stage = byId("idv-stage");
    if (!img || !img.naturalWidth) return;
    var rot = ((viewer.rotation % 360) + 360) % 360;
    var swap = rot === 90 || rot === 270;
    var w = img.naturalWidth, h = img.naturalHeight;
    var bw = swap ? h : w, bh = swap ? w : h;
    viewer.fit = Math.min((stage.clientWidth - 16) / bw, (stage.clientHeight - 16) / bh, 4);
    var scale = viewer.fit * viewer.zoom;
    img.style.width = Math.round(w * scale) + "px";
    img.style.height = Math.round(h * scale) + "px";
    img.style.transform = "translate(-50%, -50%) rotate(" + rot + "deg)";
    box.style.width = Math.round(bw * scale) + "px";
    box.style.height = Math.round(bh * scale) + "px";
    var state = byId("idv-viewer-state");
    if (state) state.textContent = Math.round(scale * 100) + "% · " + rot + "°";
  }

  function show(side) {
    var thumb = document.querySelector('.idv-image[data-side="' + side + '"] img');
    var dialog = byId("idv-viewer"), img = byId("idv-viewer-img");
    if (!thumb || !dialog || !img) return;
    viewer.side = side;
    viewer.zoom = 1;
    viewer.rotation = 0;
    img.onload = layout;
    img.src = thumb.src;
    img.alt = thumb.alt;
    byId("viewer-title").textContent = thumb.getAttribute("data-label") || side;
    if (!dialog.open) dialog.showModal();
    if (img.complete) layout();
  }

  function zoomBy(factor) {
    var stage = byId("idv-stage");
    var cx = stage.scrollLeft + stage.clientWidth / 2, cy = stage.scrollTop + stage.clientHeight / 2;
    var before = viewer.zoom;
    viewer.zoom = Math.max(0.25, Math.min(12, viewer.zoom * factor));
    layout();
    var k = viewer.zoom / before;  // keep the middle of the view where it was
    stage.scrollLeft = cx * k - stage.clientWidth / 2;
    stage.scrollTop = cy * k - stage.clientHeight / 2;
  }

  function step(delta) {
    var sides = revealedSides();
    if (sides.length < 2) return;
    var i = sides.indexOf(viewer.side);
    show(sides[(i + delta + sides.length) % sides.length]);
  }

  function viewerAction(action) {
    var dialog = byId("idv-viewer");
    if (action === "in") zoomBy(1.25);
    else if (action === "out") zoomBy(1 / 1.25);
    else if (action === "fit") { viewer.zoom = 1; layout(); }
    else if (action === "left") { viewer.rotation -= 90; layout(); }
    else if (action === "right") { viewer.rotation += 90; layout(); }
    else if (action === "prev") step(-1);
    else if (action === "next") step(1);
    else if (action === "close" && dialog) dialog.close();
  }

  var VIEWER_KEYS = { "+": "in", "=": "in", "-": "out", "_": "out", "0": "fit", "[": "left",
    "]": "right", "ArrowLeft": "prev", "ArrowRight": "next" };

  function onViewerKey(ev) {
    var stage = byId("idv-stage");
    if (VIEWER_KEYS[ev.key]) { consume(ev); viewerAction(VIEWER_KEYS[ev.key]); return; }
    if (ev.key === "ArrowUp" || ev.key === "ArrowDown") {
      consume(ev);
      stage.scrollTop += ev.key === "ArrowUp" ? -80 : 80;
      return;
    }
    var n = "123".indexOf(ev.key);
    if (n >= 0) {
      consume(ev);
      var side = ["front", "back", "selfie"][n];
      if (document.querySelector('.idv-image[data-side="' + side + '"][data-revealed]')) show(side);
      return;
    }
    if (ev.key !== "Escape" && ev.key !== "Tab") ev.stopImmediatePropagation();
  }

  // --- the reject dialog: reasons and the preview of what the user reads -----------------
  function syncPreview() {
    var form = document.querySelector("[data-reject-form]");
    var list = byId("idv-preview-list"), empty = byId("idv-preview-empty");
    if (!form || !list) return;
    var boxes = form.querySelectorAll('input[name="reasons"]');
    var seen = {};
    list.textContent = "";
    for (var i = 0; i < boxes.length; i++) {
      var text = boxes[i].getAttribute("data-text");
      if (!boxes[i].checked || seen[text]) continue;  // undisclosed reasons share one text
      seen[text] = true;
      var li = document.createElement("li");
      li.textContent = text;
      list.appendChild(li);
    }
    var none = list.children.length === 0;
    if (empty) empty.hidden = !none;
    var submit = byId("idv-reject-submit");
    if (submit) submit.disabled = none;
  }

  function onRejectKey(ev, dialog) {
    var form = dialog.querySelector("form[data-reject-form]");
    var inText = typing(document.activeElement);
    if (!inText && /^[1-9]$/.test(ev.key)) {
      consume(ev);
      var boxes = form.querySelectorAll('input[name="reasons"]');
      var box = boxes[parseInt(ev.key, 10) - 1];
      if (box) { box.checked = !box.checked; box.focus(); syncPreview(); }
      return;
    }
    if (ev.key === "Enter" && (!inText || ev.ctrlKey || ev.metaKey)) {
      var active = document.activeElement;
      if (active && active.tagName === "BUTTON") { ev.stopImmediatePropagation(); return; }
      consume(ev);
      if (!byId("idv-reject-submit").disabled) form.requestSubmit(byId("idv-reject-submit"));
      return;
    }
    if (ev.key !== "Escape" && ev.key !== "Tab") ev.stopImmediatePropagation();
  }

  function onDialogKey(ev, dialog) {
    if (dialog.id === "idv-viewer") { onViewerKey(ev); return; }
    if (dialog.id === "idv-reject-dialog") { onRejectKey(ev, dialog); return; }
    if (ev.key === "Enter" && (ev.ctrlKey || ev.metaKey)) {
      var form = dialog.querySelector("form");
      consume(ev);
      if (form) form.requestSubmit();
      return;
    }
    // Other dialogs (help, approve, escalate): keep the page's keys out of them.
    if (ev.key !== "Escape" && ev.key !== "Tab" && ev.key !== "Enter" && ev.key !== " ") {
      ev.stopImmediatePropagation();
    }
  }

  function openById(id) {
    var dialog = byId(id);
    if (!dialog || dialog.open) return;
    var warn = dialog.querySelector("[data-unrevealed-warning]");
    if (warn) warn.hidden = document.querySelectorAll(".idv-image [data-reveal]").length === 0;
    dialog.showModal();
    if (id === "idv-reject-dialog") {
      syncPreview();
      var first = dialog.querySelector('input[name="reasons"]:checked') ||
        dialog.querySelector('input[name="reasons"]');
      if (first) first.focus();
    }
  }

  function revealOrShow(side) {
    var figure = document.querySelector('.idv-image[data-side="' + side + '"]');
    if (!figure) return;
    if (figure.hasAttribute("data-revealed")) { show(side); return; }
    var button = figure.querySelector("[data-reveal]");
    if (button) button.click();
  }

  function onReviewKey(ev) {
    if (ev.key === "a") { consume(ev); var a = byId("idv-approve"); if (a) a.click(); return; }
    if (ev.key === "r") { consume(ev); openById("idv-reject-dialog"); return; }
    if (ev.key === "e") { consume(ev); openById("idv-escalate-dialog"); return; }
    if (ev.key === "v") { consume(ev); var v = byId("idv-reveal-all"); if (v) v.click(); return; }

    if (ev.key === "z") {
      consume(ev);
      var sides = revealedSides();
      if (sides.length) show(sides[0]);
      return;
    }
    if (ev.key === "l") { consume(ev); window.location.assign("/identity"); return; }
    var n = "123".indexOf(ev.key);
    if (n >= 0) { consume(ev); revealOrShow(["front", "back", "selfie"][n]); }
  }

  // --- the list: j / k select a row (marked as the current one), o or Enter opens ------
  function select(links, i) {
    var rows = document.querySelectorAll("[data-identity-list] tr.idv-current");
    for (var r = 0; r < rows.length; r++) {
      rows[r].classList.remove("idv-current");
      rows[r].removeAttribute("aria-current");
    }
    var row = links[i].closest("tr");
    if (row) {
      row.classList.add("idv-current");
      row.setAttribute("aria-current", "true");
    }
    links[i].focus();
    if (links[i].scrollIntoView) links[i].scrollIntoView({ block: "nearest" });
  }

  function onListKey(ev) {
    var links = document.querySelectorAll("[data-identity-list] a.idv-open");
    if (!links.length) return;
    var at = Array.prototype.indexOf.call(links, document.activeElement);
    if (at < 0) {
      var current = document.querySelector("[data-identity-list] tr.idv-current a.idv-open");
      at = current ? Array.prototype.indexOf.call(links, current) : -1;
    }
    if (ev.key === "j" || ev.key === "k") {
      consume(ev);
      var next = at < 0 ? 0 : Math.max(0, Math.min(links.length - 1, at + (ev.key === "j" ? 1 : -1)));
      select(links, next);
      return;
    }
    if (ev.key === "o") { consume(ev); (at >= 0 ? links[at] : links[0]).click(); }
  }

  // n on the list and the identity queue: the next verification for this reviewer (the
  // console's n would pull a case of any type).
  function onNextKey(ev) {
    var next = byId("idv-next");
    if (ev.key !== "n" || !next) return false;
    consume(ev);
    next.click();
    return true;
  }

  window.addEventListener("keydown", function (ev) {
    var dialog = openDialog();
    if (dialog) { onDialogKey(ev, dialog); return; }
    if (ev.ctrlKey || ev.metaKey || ev.altKey || typing(document.activeElement)) return;
    // The console's switch for single-key shortcuts (help dialog) covers this screen too.
    if (document.documentElement.getAttribute("data-console-keys") === "off") return;
    if (ev.key === "?" && byId("idv-help")) { consume(ev); byId("idv-help").showModal(); return; }
    if (document.querySelector("[data-identity-review]")) onReviewKey(ev);
    else if (document.querySelector("[data-identity-list]")) { if (!onNextKey(ev)) onListKey(ev); }
    else if (document.querySelector("[data-identity-queue]")) onNextKey(ev);
  }, true);

  // A row picked with the mouse or Tab is the current one too.
  document.addEventListener("focusin", function (ev) {
    var link = ev.target && ev.target.closest ? ev.target.closest("[data-identity-list] a.idv-open") : null;
    if (!link) return;
    var links = document.querySelectorAll("[data-identity-list] a.idv-open");
    var i = Array.prototype.indexOf.call(links, link);
    if (i >= 0 && !link.closest("tr.idv-current")) select(links, i);
  });

  document.addEventListener("click", function (ev) {
    var target = ev.target && ev.target.closest ? ev.target : null;
    if (!target) return;
    // Once one side is shown, "reveal all" reveals only what is still masked: a picture
    // already on screen is not fetched (and recorded) twice.
    if (target.closest("#idv-reveal-all") && revealedSides().length) {
      ev.preventDefault();
      var masked = document.querySelectorAll(".idv-image [data-reveal]");
      for (var m = 0; m < masked.length; m++) masked[m].click();
      return;
    }
    var opener = target.closest("[data-open]");
    if (opener) { ev.preventDefault(); openById(opener.getAttribute("data-open")); return; }
    var thumb = target.closest("[data-viewer]");
    if (thumb) { ev.preventDefault(); show(thumb.getAttribute("data-viewer")); return; }
    var action = target.closest("[data-viewer-action]");
    if (action) { ev.preventDefault(); viewerAction(action.getAttribute("data-viewer-action")); }
  });
  document.addEventListener("change", function (ev) {
    if (ev.target && ev.target.name === "reasons") syncPreview();
  });

  // Wheel zooms and dragging pans inside the viewer.
  document.addEventListener("DOMContentLoaded", function () {
    var stage = byId("idv-stage");
    if (stage) {
      stage.addEventListener("wheel", function (ev) {
        ev.preventDefault();
        zoomBy(ev.deltaY < 0 ? 1.15 : 1 / 1.15);
      }, { passive: false });
      var drag = null;
      stage.addEventListener("pointerdown", function (ev) {
        drag = { x: ev.clientX, y: ev.clientY, left: stage.scrollLeft, top: stage.scrollTop };
        stage.setPointerCapture(ev.pointerId);
      });
      stage.addEventListener("pointermove", function (ev) {
        if (!drag) return;
        stage.scrollLeft = drag.left - (ev.clientX - drag.x);
        stage.scrollTop = drag.top - (ev.clientY - drag.y);
      });
      stage.addEventListener("pointerup", function () { drag = null; });
      window.addEventListener("resize", function () { if (byId("idv-viewer").open) layout(); });
    }
    syncPreview();
    // A refused decision comes back with its dialog open, so the reviewer fixes it in place.
    var again = document.querySelector("dialog[data-show-on-load]");
    if (again) openById(again.id);
    else openFromFragment();
  });
  // /identity/verifications/{id}#approve or #reject (the case page's a / r link here):
  // open that decision's dialog. An approval with no dialog (every check passed) is not
  // sent by a link: its button gets the focus, and Enter approves. The fragment is then
  // dropped, so a reload does not open the dialog again.
  function openFromFragment() {
    var wanted = window.location.hash;
    if (wanted !== "#approve" && wanted !== "#reject") return;
    if (!document.querySelector("[data-identity-review]")) return;
    if (history.replaceState) {
      history.replaceState(null, "", window.location.pathname + window.location.search);
    }
    if (wanted === "#reject") { openById("idv-reject-dialog"); return; }
    if (byId("idv-approve-dialog")) { openById("idv-approve-dialog"); return; }
    var approve = byId("idv-approve");
    if (approve) approve.focus();
  }
  window.addEventListener("hashchange", openFromFragment);

  // A reveal swapped in by htmx: nothing to wire (clicks are delegated), but the viewer
  // follows the new pictures if it is open.
  document.addEventListener("htmx:afterSettle", function () {
    var dialog = byId("idv-viewer");
    if (dialog && dialog.open && viewer.side) show(viewer.side);
  });
  // The keys are live from here on (tests and scripts wait for this mark).
  document.documentElement.setAttribute("data-identity-keys", "ready");
})();
