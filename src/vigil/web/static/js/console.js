// Keyboard shortcuts for the console. Keys act only when focus is not in a text field.
// Elements opt in with data-key="n" (click) or data-key-focus="c" (focus).
(function () {
  "use strict";
  function typing(el) {
    if (!el) return false;
    var tag = el.tagName;
    return tag === "INPUT" || tag === "TEXTAREA" || tag === "SELECT" || el.isContentEditable;
  }
  document.addEventListener("keydown", function (ev) {
    if (ev.ctrlKey || ev.metaKey || ev.altKey || typing(document.activeElement)) return;
    if (ev.key === "?") {
      var dialog = document.getElementById("help");
      if (dialog && dialog.showModal) { ev.preventDefault(); dialog.showModal(); }
      return;
    }
    if (ev.key === "q") { ev.preventDefault(); window.location.assign("/"); return; }
    var click = document.querySelector('[data-key="' + ev.key + '"]');
    if (click) { ev.preventDefault(); click.click(); return; }
    var focus = document.querySelector('[data-key-focus="' + ev.key + '"]');
    if (focus) { ev.preventDefault(); focus.focus(); }
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
