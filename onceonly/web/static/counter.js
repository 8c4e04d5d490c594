/* Progressive enhancement for the counter pages; everything works without it.
 * - The national ID is checked as it is typed, with the rules of onceonly.domain.national_id
 *   (the server checks again and has the last word); the reason appears next to the field.
 * - "Print" buttons appear only when printing can be started from script.
 */
(function () {
  "use strict";
  var AREA = {A:10,B:11,C:12,D:13,E:14,F:15,G:16,H:17,I:34,J:18,K:19,L:20,M:21,N:22,O:35,
              P:23,Q:24,R:25,S:26,T:27,U:28,V:29,W:32,X:30,Y:31,Z:33};
  var WEIGHTS = [1,9,8,7,6,5,4,3,2,1,1];

  function normalise(value) {
    // NFKC folds full-width letters and digits, as the server does.
    return (value.normalize ? value.normalize("NFKC") : value).replace(/\s+/g, "").toUpperCase();
  }

  /* The check digit that makes the weighted sum a multiple of 10. */
  function checkDigit(id) {
    var code = AREA[id.charAt(0)];
    var digits = [Math.floor(code / 10), code % 10];
    for (var i = 1; i < 9; i++) digits.push(parseInt(id.charAt(i), 10));
    var sum = 0;
    for (var j = 0; j < digits.length; j++) sum += WEIGHTS[j] * digits[j];
    return (10 - (sum % 10)) % 10;
  }

  /* null when valid, else [reason key, parameters]. Same order of rules as the server. */
  function problem(raw) {
    var id = normalise(raw);
    if (!id) return ["empty", {}];
    if (id.length !== 10) return ["length", {n: id.length}];
    if (!(id.charAt(0) in AREA)) return ["area", {}];
    if ("12".indexOf(id.charAt(1)) < 0) return ["sex", {}];
    if (!/^[0-9]{8}$/.test(id.slice(2))) return ["digits", {}];
    var expected = checkDigit(id);
    if (parseInt(id.charAt(9), 10) !== expected) return ["checksum", {expected: expected}];
    return null;
  }

  function fill(template, params) {
    return template.replace(/\{(\w+)\}/g, function (_, name) {
      return name in params ? String(params[name]) : "";
    });
  }

  function watch(input) {
    var live = document.getElementById(input.id + "-live");
    if (!live) return;
    var touched = false;
    function update() {
      var value = input.value;
      if (!touched && value.length < 10) return;  // do not scold while the first entry is typed
      touched = true;
      var found = problem(value);
      if (found) {
        live.textContent = fill(live.dataset[found[0]] || "", found[1]);
        live.className = "live-check bad";
        input.setAttribute("aria-invalid", "true");
      } else {
        live.textContent = live.dataset.ok || "";
        live.className = "live-check ok";
        input.removeAttribute("aria-invalid");
      }
    }
    input.addEventListener("input", update);
    input.addEventListener("blur", function () { if (input.value) { touched = true; update(); } });
    var described = (input.getAttribute("aria-describedby") || "").split(" ").filter(Boolean);
    if (described.indexOf(live.id) < 0) described.push(live.id);
    input.setAttribute("aria-describedby", described.join(" "));
  }

  window.onceonlyNationalId = {problem: problem, checkDigit: checkDigit, normalise: normalise};

  document.addEventListener("DOMContentLoaded", function () {
    var inputs = document.querySelectorAll("input[data-check='national-id']");
    for (var i = 0; i < inputs.length; i++) watch(inputs[i]);
    var printers = document.querySelectorAll("[data-print]");
    for (var k = 0; k < printers.length; k++) {
      printers[k].hidden = false;
      printers[k].addEventListener("click", function () { window.print(); });
    }
    var summary = document.getElementById("error-summary");
    if (summary) summary.focus();
  });
})();
