// Quality assurance screens (templates/qa*.html).
//
// A blind answer (QA sample, calibration item) or a gold case's expected decision is a
// policy and an action, and the two must agree: "No violation" is both a policy choice and
// an action. Forms marked data-qa-answer keep them together while they are filled in:
// choosing the policy "No violation" checks the action "No violation" and locks the other
// actions; choosing the action "No violation" sets the policy to "No violation"; choosing a
// policy clears an action "No violation". The server refuses a contradiction on its field
// all the same (422); this only stops one from being sent.
//
// The scorecards' period form (data-qa-period) shows its days only for "these dates…"
// (qa.css) and applies a fixed period as soon as it is chosen.
(function () {
  "use strict";
  var NONE = "no_violation";
  function actions(form) { return form.querySelectorAll('[name="action"]'); }
  function actionValue(form) {
    var all = actions(form);
    for (var i = 0; i < all.length; i++) {
      var el = all[i];
      if (el.tagName === "SELECT") return el.value;
      if (el.checked) return el.value;
    }
    return "";
  }
  function setAction(form, value) {
    var all = actions(form);
    for (var i = 0; i < all.length; i++) {
      var el = all[i];
      if (el.tagName === "SELECT") el.value = value;
      else el.checked = el.value === value;
    }
  }
  // Lock (or free) every action but "No violation".
  function lock(form, locked) {
    var all = actions(form);
    for (var i = 0; i < all.length; i++) {
      var el = all[i];
      var options = el.tagName === "SELECT" ? el.options : [el];
      for (var j = 0; j < options.length; j++) {
        var opt = options[j];
        if (opt.value && opt.value !== NONE) opt.disabled = locked;
      }
    }
    var note = form.querySelector("[data-qa-locked]");
    if (note) note.hidden = !locked;
  }
  function contradiction(form) {
    var policy = form.querySelector('[name="policy"]');
    var action = actionValue(form);
    if (!policy || !policy.value || !action) return "";
    if (policy.value === NONE && action !== NONE) {
      return "“No violation” takes no action: choose “No violation” here too.";
    }
    if (policy.value !== NONE && action === NONE) {
      return "A violation needs an action (or choose “No violation” as the policy).";
    }
    return "";
  }
  function sync(form, changed) {
    var policy = form.querySelector('[name="policy"]');
    if (!policy) return;
    if (changed && changed.name === "action" && actionValue(form) === NONE && policy.value !== NONE) {
      policy.value = NONE;
      // The guidance panel follows the policy picker (htmx listens for change).
      policy.dispatchEvent(new Event("change", { bubbles: true }));
      return;
    }
    if (changed === policy && policy.value !== NONE && actionValue(form) === NONE) {
      setAction(form, "");
    }
    if (policy.value === NONE) setAction(form, NONE);
    lock(form, policy.value === NONE);
  }
  function answerForm(el) {
    return el && el.closest ? el.closest("[data-qa-answer]") : null;
  }
  document.addEventListener("change", function (ev) {
    var form = answerForm(ev.target);
    if (form) sync(form, ev.target);
    var period = ev.target && ev.target.closest ? ev.target.closest("[data-qa-period]") : null;
    if (period && ev.target.name === "period" && ev.target.value !== "dates" && period.requestSubmit) {
      period.requestSubmit();
    }
  });
  document.addEventListener("submit", function (ev) {
    var form = answerForm(ev.target);
    if (!form) return;
    var problem = contradiction(form);
    var first = actions(form)[0];
    if (!first) return;
    first.setCustomValidity(problem);
    if (problem) {
      ev.preventDefault();
      first.reportValidity();
      first.setCustomValidity("");
    }
  }, true);
  document.addEventListener("DOMContentLoaded", function () {
    var forms = document.querySelectorAll("[data-qa-answer]");
    for (var i = 0; i < forms.length; i++) sync(forms[i], null);
  });
})();
