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
