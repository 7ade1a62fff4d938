// Keyboard shortcuts for the console (the work loop). Keys act only when focus is not in a
// text field and no modifier is held. Elements opt in with data-key="x" (the key clicks
// them) or data-key-focus="x" (the key focuses them). A page's own key wins over the
// header's: the header (Next case n, Approvals a) is looked at last, so a case page's a
// (approve the document) is never stolen by the Approvals link.
//   ?  help (#help)          /  the header's search box        q  back to the queue
//   d  decide: a page's data-key="d", else the decision panel's first control
(function () {
  "use strict";
  function typing(el) {
    if (!el) return false;
    var tag = el.tagName;
    return tag === "INPUT" && !/^(checkbox|radio|button|submit|reset)$/i.test(el.type) ||
      tag === "TEXTAREA" || tag === "SELECT" || el.isContentEditable;
  }
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
    if (typing(active)) {
      // Esc leaves a text field, so the keys work again.
      if (ev.key === "Escape" && active.blur) active.blur();
      return;
    }
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
    if (form && form.hasAttribute && form.hasAttribute("data-reset-on-success") && ev.detail.successful) {
      form.reset();
    }
  });
  // The keys are live from here on (tests and scripts wait for this mark).
  document.documentElement.setAttribute("data-console-keys", "ready");
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
  // Forms that answer a refusal with a fragment (422, 409, 403) show it in place.
  document.addEventListener("htmx:beforeSwap", function (ev) {
    var status = ev.detail.xhr ? ev.detail.xhr.status : 0;
    var elt = (ev.detail.requestConfig && ev.detail.requestConfig.elt) || ev.target;
    if (status >= 400 && status < 500 && status !== 401 && elt && elt.closest &&
        elt.closest("[data-swap-errors]")) {
      ev.detail.shouldSwap = true;
      ev.detail.isError = false;
    }
  });
})();
