// A "Copy" button for each <button data-copy-target="ID">: copies the input's value to the
// clipboard and says so in the element with data-copy-status="ID" (a polite live region).
(function () {
  "use strict";
  document.querySelectorAll("button[data-copy-target]").forEach(function (button) {
    var id = button.dataset.copyTarget;
    var input = document.getElementById(id);
    var status = document.querySelector('[data-copy-status="' + id + '"]');
    if (!input) {
      return;
    }
    input.addEventListener("focus", function () { input.select(); });
    button.addEventListener("click", function () {
      input.select();
      var say = function (text) { if (status) { status.textContent = text; } };
      if (navigator.clipboard && window.isSecureContext) {
        navigator.clipboard.writeText(input.value).then(
          function () { say("Copied to the clipboard."); },
          function () { say("Copying failed: select the token and copy it yourself."); }
        );
      } else {
        say("The token is selected: press Ctrl+C (or ⌘C) to copy it.");
      }
    });
  });
})();
