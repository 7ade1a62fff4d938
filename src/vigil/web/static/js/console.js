// Keyboard shortcuts for the console (the work loop). Keys act only when no modifier is
// held, no dialog is open and the focus is not on a form control: no input of any kind
// (checkboxes and radios too), select, textarea or editable text, no button of a form (the
// header's own forms excepted: Next case, Log out), and nothing inside a form the user has
// changed, so that a key never throws away a half-filled decision. Esc leaves the control.
// Single-key shortcuts can be turned off (WCAG 2.1.4) in the help dialog; the choice is kept
// in localStorage and html[data-console-keys] says "on" or "off".
// Elements opt in with data-key="x" (the key clicks them) or data-key-focus="x" (the key
// focuses them). A page's own key wins over the header's: the header (Next case n,
// Approvals a) is looked at last, so a case page's a (approve the document) is never stolen
// by the Approvals link.
//   ?  help (#help)          /  the header's search box        q  back to the queue
//   d  decide: a page's data-key="d", else the decision panel's first control
(function () {
  "use strict";
  var STORE = "vigil.console.keys";
  var root = document.documentElement;
  // Forms the user has typed in or changed since they were loaded or reset.
  var changed = typeof WeakSet === "function" ? new WeakSet() : null;
  function formOf(el) {
    return el.form || (el.closest ? el.closest("form") : null);
  }
  function ownHeaderForm(form) { return !!form.closest("header.top"); }
  function noteChange(ev) {
    var form = ev.target && formOf(ev.target);
    if (changed && form && !ownHeaderForm(form)) changed.add(form);
  }
  document.addEventListener("input", noteChange, true);
  document.addEventListener("change", noteChange, true);
  document.addEventListener("reset", function (ev) {
    if (changed && ev.target) changed.delete(ev.target);
  }, true);
  // Whether the focused element keeps the keys for itself (no shortcut fires).
  function holdsKeys(el) {
    if (!el || el === document.body || el === root) return false;
    if (el.isContentEditable) return true;
    var tag = el.tagName;
    if (tag === "INPUT" || tag === "TEXTAREA" || tag === "SELECT") return true;
    var form = formOf(el);
    if (!form) return false;
    if (changed && changed.has(form)) return true;
    return tag === "BUTTON" && !ownHeaderForm(form);
  }
  function keysOn() { return root.getAttribute("data-console-keys") !== "off"; }
  function remembered() {
    try { return window.localStorage.getItem(STORE); } catch (e) { return null; }
  }
  function setKeys(on, remember) {
    root.setAttribute("data-console-keys", on ? "on" : "off");
    var box = document.getElementById("keys-toggle");
    if (box) box.checked = on;
    if (!remember) return;
    try {
      if (on) window.localStorage.removeItem(STORE);
      else window.localStorage.setItem(STORE, "off");
    } catch (e) { /* storage refused: the choice lasts for this page only */ }
  }
  document.addEventListener("change", function (ev) {
    if (ev.target && ev.target.id === "keys-toggle") setKeys(ev.target.checked, true);
  });
  // Usable: not disabled, not in a hidden part of the page. A control in a closed
  // <details> counts (reveal() opens it before it is used).
  function visible(el) {
    return !!el && !el.disabled && !el.closest("[hidden], dialog:not([open])");
  }
  function reveal(el) {
    for (var d = el.closest("details:not([open])"); d; d = d.parentElement.closest("details:not([open])")) {
      d.open = true;
    }
    return el;
  }
  // The page's element for a key first, the header's last.
  function target(attr, key) {
    var all = document.querySelectorAll("[" + attr + '="' + key + '"]');
    var header = null;
    for (var i = 0; i < all.length; i++) {
      if (!visible(all[i])) continue;
      if (all[i].closest("header.top")) { if (!header) header = all[i]; continue; }
      return all[i];
    }
    return header;
  }
  function firstControl(root) {
    if (!root) return null;
    var els = root.querySelectorAll(
      "select, input:not([type=hidden]), textarea, button, a[href], [tabindex]:not([tabindex='-1'])");
    for (var i = 0; i < els.length; i++) if (visible(els[i])) return els[i];
    return null;
  }
  function queueUrl() {
    var root = document.getElementById("case-root");
    var url = root && root.getAttribute("data-queue-url");
    return url && url.charAt(0) === "/" && url.charAt(1) !== "/" ? url : "/";
  }
  function openHelp() {
    var dialog = document.getElementById("help");
    if (dialog && dialog.showModal && !dialog.open) dialog.showModal();
  }
  document.addEventListener("keydown", function (ev) {
    if (ev.defaultPrevented || ev.ctrlKey || ev.metaKey || ev.altKey) return;
    if (document.querySelector("dialog[open]")) return;  // a dialog keeps its own keys
    var active = document.activeElement;
    if (holdsKeys(active)) {
      // Esc leaves the control, so the keys work again.
      if (ev.key === "Escape" && active.blur) active.blur();
      return;
    }
    if (!keysOn()) return;
    if (ev.key === "?") { ev.preventDefault(); openHelp(); return; }
    if (ev.key === "/") {
      var box = document.getElementById("top-search-q");
      if (box) { ev.preventDefault(); box.focus(); box.select(); }
      return;
    }
    if (ev.key === "q") { ev.preventDefault(); window.location.assign(queueUrl()); return; }
    if (ev.key.length !== 1) return;
    var click = target("data-key", ev.key);
    if (click) { ev.preventDefault(); reveal(click).click(); return; }
    var focus = target("data-key-focus", ev.key);
    if (focus) { ev.preventDefault(); reveal(focus).focus(); return; }
    if (ev.key === "d") {
      var control = firstControl(document.getElementById("decision-panel"));
      if (control) { ev.preventDefault(); reveal(control).focus(); }
    }
  });
  document.addEventListener("click", function (ev) {
    var opener = ev.target && ev.target.closest ? ev.target.closest("[data-help]") : null;
    if (opener) { ev.preventDefault(); openHelp(); }
  });
  // htmx requests carry the CSRF token from the page's meta tag.
  document.addEventListener("htmx:configRequest", function (ev) {
    var meta = document.querySelector('meta[name="csrf-token"]');
    if (meta) ev.detail.headers["X-CSRF-Token"] = meta.content;
  });
  // Forms marked data-reset-on-success are cleared after htmx swaps their result in.
  document.addEventListener("htmx:afterRequest", function (ev) {
    var form = ev.target;
    var status = ev.detail.xhr ? ev.detail.xhr.status : 0;
    if (!form || !form.querySelectorAll || status < 200 || status >= 300) return;
    // Done: an earlier refusal shown in the form goes (see the note form's errors).
    var old = form.querySelectorAll("[data-form-error]");
    for (var i = 0; i < old.length; i++) old[i].remove();
    // A refusal shown in place is not a success: what was typed stays.
    if (form.hasAttribute("data-reset-on-success")) form.reset();
  });
  // The keys are live from here on, on or off as the reviewer chose (tests and scripts wait
  // for this mark).
  setKeys(remembered() !== "off", false);
})();

// The decision panel (case page): the scopes an action allows, its end date fields, and
// whether the reviewer departs from the ladder's suggestion (which makes a reason required).
// The server checks all of it again; this only keeps the form honest while it is filled in.
(function () {
  "use strict";
  function field(form, name) { return form.querySelector('[name="' + name + '"]'); }
  function sync(form) {
    var type = field(form, "action_type");
    var scope = field(form, "action_scope");
    if (!type || !scope) return;
    var option = type.options[type.selectedIndex];
    var allowed = option && option.value ? (option.getAttribute("data-scopes") || "").split(" ") : null;
    var firstAllowed = null;
    for (var i = 0; i < scope.options.length; i++) {
      var opt = scope.options[i];
      opt.disabled = allowed !== null && allowed.indexOf(opt.value) < 0;
      if (!opt.disabled && firstAllowed === null) firstAllowed = opt;
    }
    if (scope.selectedIndex >= 0 && scope.options[scope.selectedIndex].disabled && firstAllowed) {
      var account = scope.querySelector('option[value="account"]:not([disabled])');
      (account || firstAllowed).selected = true;
    }
    var dated = !!(option && option.getAttribute("data-end-date") === "1");
    var days = field(form, "duration_days");
    var ends = field(form, "ends_at");
    if (days) days.disabled = !dated;
    if (ends) ends.disabled = !dated;
    var suggestion = form.querySelector("[data-suggested-action]");
    var reason = field(form, "departure_reason");
    if (!suggestion || !reason) return;
    var departs = type.value !== "" && (
      type.value !== suggestion.getAttribute("data-suggested-action") ||
      scope.value !== suggestion.getAttribute("data-suggested-scope") ||
      (dated && ((days ? days.value : "") !== suggestion.getAttribute("data-suggested-days") ||
                 (ends ? ends.value : "") !== "")));
    reason.required = departs;
    reason.setAttribute("aria-required", departs ? "true" : "false");
    var note = document.getElementById("departure-required");
    if (note) note.hidden = !departs;
  }
  function syncAll() {
    var forms = document.querySelectorAll("[data-decision-form]");
    for (var i = 0; i < forms.length; i++) sync(forms[i]);
  }
  function onEdit(ev) {
    var form = ev.target && ev.target.closest ? ev.target.closest("[data-decision-form]") : null;
    if (form) sync(form);
  }
  document.addEventListener("change", onEdit);
  document.addEventListener("input", onEdit);
  document.addEventListener("htmx:afterSettle", function (ev) {
    syncAll();
    // A refused decision comes back with its problems: put the cursor on the first one.
    var config = ev.detail && ev.detail.requestConfig;
    if (config && config.elt && config.elt.id === "decision-form") {
      var panel = document.getElementById("decision-panel");
      var bad = panel ? panel.querySelector('[aria-invalid="true"]') : null;
      if (bad) bad.focus();
    }
  });
  document.addEventListener("DOMContentLoaded", syncAll);
  // Refusals (422, 409, 403) answered with a fragment are shown in place: by forms marked
  // data-swap-errors, and wherever the server names a target itself (HX-Retarget; the note
  // form's refusal goes into the form, replacing an earlier one marked data-form-error).
  document.addEventListener("htmx:beforeSwap", function (ev) {
    var xhr = ev.detail.xhr;
    var status = xhr ? xhr.status : 0;
    if (status < 400 || status >= 500 || status === 401) return;
    var elt = (ev.detail.requestConfig && ev.detail.requestConfig.elt) || ev.target;
    var retargeted = !!(xhr && xhr.getResponseHeader("HX-Retarget"));
    if (retargeted || (elt && elt.closest && elt.closest("[data-swap-errors]"))) {
      ev.detail.shouldSwap = true;
      ev.detail.isError = false;
      var target = ev.detail.target;
      if (retargeted && target && target.querySelectorAll) {
        var old = target.querySelectorAll("[data-form-error]");
        for (var i = 0; i < old.length; i++) old[i].remove();
      }
    }
  });
})();
