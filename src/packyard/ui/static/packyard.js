// Progressive enhancement only: every page works without this file.
// A "Copy" button beside each command block (div.cmd > pre > code) and each value marked data-copy (the Files
// tab's sha256, ui/files.py).
(function () {
  "use strict";
  function copyButton(box, text, label) {
    if (box.querySelector("button.copy")) return;
    var button = document.createElement("button");
    button.type = "button";
    button.className = "copy";
    button.textContent = "Copy";
    button.setAttribute("aria-label", label);
    button.addEventListener("click", function () {
      navigator.clipboard.writeText(text()).then(
        function () { button.textContent = "Copied"; },
        function () { button.textContent = "Select it"; }
      );
      setTimeout(function () { button.textContent = "Copy"; }, 1600);
    });
    box.appendChild(button);
  }
  function addCopyButtons() {
    if (!navigator.clipboard) return;
    document.querySelectorAll("div.cmd").forEach(function (box) {
      var code = box.querySelector("code");
      if (!code) return;
      copyButton(box, function () { return code.textContent; }, "Copy the command: " + code.textContent);
    });
    document.querySelectorAll("[data-copy]").forEach(function (box) {
      copyButton(box, function () { return box.getAttribute("data-copy"); },
                 "Copy " + (box.getAttribute("data-copy-what") || "the value"));
    });
  }
  if (document.readyState === "loading") {
    document.addEventListener("DOMContentLoaded", addCopyButtons);
  } else {
    addCopyButtons();
  }
})();

// Menus that apply at once: the owner page's and search's filters (ui/catalog.py; a filter change starts again at
// page 1) and the channel menu (form.channel-picker). Their Apply/Open buttons stay, for keyboards and for
// browsers without this file.
(function () {
  "use strict";
  function autoSubmit() {
    document.querySelectorAll("form.filters select, select[data-autosubmit]").forEach(function (select) {
      select.addEventListener("change", function () {
        if (select.form) select.form.requestSubmit ? select.form.requestSubmit() : select.form.submit();
      });
    });
  }
  if (document.readyState === "loading") {
    document.addEventListener("DOMContentLoaded", autoSubmit);
  } else {
    autoSubmit();
  }
})();

// The account menu (<details>) opens without this; here it also closes on Escape and on a click elsewhere.
(function () {
  "use strict";
  document.addEventListener("click", function (event) {
    document.querySelectorAll("details.account-menu[open]").forEach(function (menu) {
      if (!menu.contains(event.target)) menu.removeAttribute("open");
    });
  });
  document.addEventListener("keydown", function (event) {
    if (event.key !== "Escape") return;
    document.querySelectorAll("details.account-menu[open]").forEach(function (menu) {
      menu.removeAttribute("open");
      var summary = menu.querySelector("summary");
      if (summary) summary.focus();
    });
  });
})();
