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

// Dangerous actions (ui/forms.py): a form marked data-typed-confirm keeps its "type the name" field inline for
// browsers without this file; here the field is hidden and the submit opens a <dialog> that asks for the word,
// then submits the form with it. The server checks the word either way.
(function () {
  "use strict";
  function enhance(form) {
    var box = form.querySelector(".typed-confirm");
    var input = box && box.querySelector("input[name=confirm]");
    if (!input || typeof HTMLDialogElement === "undefined") return;
    var expected = input.getAttribute("data-expected") || "";
    box.hidden = true;
    var dialog = document.createElement("dialog");
    dialog.className = "confirm-dialog";
    var title = document.createElement("h2");
    title.textContent = form.getAttribute("data-typed-confirm") || "Are you sure?";
    var label = document.createElement("label");
    var id = input.id + "-dialog";
    label.setAttribute("for", id);
    label.textContent = "Type " + expected + " to confirm";
    var typed = document.createElement("input");
    typed.id = id;
    typed.type = "text";
    typed.autocomplete = "off";
    typed.spellcheck = false;
    var actions = document.createElement("div");
    actions.className = "actions";
    var ok = document.createElement("button");
    ok.type = "button";
    ok.className = "danger";
    ok.textContent = form.getAttribute("data-confirm-button") || "Delete";
    ok.disabled = true;
    var cancel = document.createElement("button");
    cancel.type = "button";
    cancel.className = "secondary";
    cancel.textContent = "Cancel";
    actions.appendChild(ok);
    actions.appendChild(cancel);
    var field = document.createElement("div");
    field.className = "field";
    field.appendChild(label);
    field.appendChild(typed);
    dialog.appendChild(title);
    dialog.appendChild(field);
    dialog.appendChild(actions);
    form.appendChild(dialog);
    var submitter = null;
    typed.addEventListener("input", function () { ok.disabled = typed.value.trim() !== expected; });
    cancel.addEventListener("click", function () { dialog.close(); });
    ok.addEventListener("click", function () {
      input.value = typed.value.trim();
      dialog.close();
      if (form.requestSubmit) form.requestSubmit(submitter || undefined); else form.submit();
    });
    form.addEventListener("submit", function (event) {
      if (input.value.trim() === expected) return;
      // A form with several buttons (the owner page's bulk form, the Files tab's) asks only for the dangerous one.
      if (event.submitter && event.submitter.hasAttribute("data-no-typed-confirm")) return;
      event.preventDefault();
      submitter = event.submitter || null;
      typed.value = "";
      ok.disabled = true;
      dialog.showModal();
      typed.focus();
    });
  }
  function start() { document.querySelectorAll("form[data-typed-confirm]").forEach(enhance); }
  if (document.readyState === "loading") document.addEventListener("DOMContentLoaded", start); else start();
})();

/* admin area: the upload form (ui/upload.py, form[data-upload]). Each chosen file goes in its own request (the
   form's fields first, the file last, so the server checks the CSRF token before storing a byte), with a progress
   bar and the server's answer next to the file. Without this script the form posts one file and shows a page. */
(function () {
  "use strict";
  function row(list, file) {
    var li = document.createElement("li");
    var name = document.createElement("span");
    name.className = "upload-name";
    name.textContent = file.name;
    var bar = document.createElement("progress");
    bar.max = 100;
    bar.value = 0;
    bar.setAttribute("aria-label", "Upload progress of " + file.name);
    var status = document.createElement("p");
    status.className = "upload-status hint";
    status.textContent = "Waiting…";
    li.appendChild(name);
    li.appendChild(bar);
    li.appendChild(status);
    list.appendChild(li);
    return { li: li, bar: bar, status: status };
  }
  function send(form, input, file, ui) {
    return new Promise(function (resolve) {
      var data = new FormData();
      Array.prototype.forEach.call(form.elements, function (el) {
        if (!el.name || el === input || el.disabled) return;
        data.append(el.name, el.value);
      });
      data.append(input.name, file, file.name);
      var xhr = new XMLHttpRequest();
      xhr.open("POST", form.action);
      xhr.setRequestHeader("Accept", "application/json");
      ui.status.textContent = "Uploading…";
      xhr.upload.addEventListener("progress", function (event) {
        if (event.lengthComputable) ui.bar.value = Math.round((event.loaded / event.total) * 100);
      });
      function finish(ok, message, url) {
        ui.bar.value = ok ? 100 : ui.bar.value;
        ui.status.textContent = message;
        ui.status.className = ok ? "upload-status upload-ok" : "upload-status field-error";
        if (!ok) ui.status.setAttribute("role", "alert");
        ui.li.classList.add(ok ? "done" : "failed");
        if (ok && url) {
          var link = document.createElement("a");
          link.href = url;
          link.textContent = "Open the package";
          ui.status.appendChild(document.createTextNode(" "));
          ui.status.appendChild(link);
        }
        resolve(ok);
      }
      xhr.addEventListener("load", function () {
        var body = null;
        try { body = JSON.parse(xhr.responseText); } catch (e) { body = null; }
        if (body && typeof body.message === "string") finish(!!body.ok, body.message, body.url);
        else finish(false, "The server answered " + xhr.status + ".");
      });
      xhr.addEventListener("error", function () { finish(false, "The upload failed: the connection broke."); });
      xhr.send(data);
    });
  }
  function enhance(form) {
    var input = form.querySelector('input[type="file"]');
    var list = form.querySelector(".upload-list");
    if (!input || !list || !window.FormData || !window.XMLHttpRequest) return;
    input.multiple = true;
    form.addEventListener("submit", function (event) {
      event.preventDefault();
      var files = Array.prototype.slice.call(input.files || []);
      if (!files.length) return;
      var button = form.querySelector('button[type="submit"]');
      if (button) button.disabled = true;
      list.hidden = false;
      list.textContent = "";
      var old = form.querySelector(".upload-file .field-error");
      if (old) old.remove();
      var rows = files.map(function (file) { return row(list, file); });
      var chain = Promise.resolve();
      files.forEach(function (file, i) {
        chain = chain.then(function () { return send(form, input, file, rows[i]); });
      });
      chain.then(function () {
        if (button) button.disabled = false;
        input.value = "";
      });
    });
  }
  function start() { document.querySelectorAll("form[data-upload]").forEach(enhance); }
  if (document.readyState === "loading") document.addEventListener("DOMContentLoaded", start); else start();
})();

// filesets (ui/file_actions.py): a "select all" box above the Files tab's checkboxes.
(function () {
  "use strict";
  function selectAll() {
    var head = document.querySelector("table.files-tab th.pick");
    var boxes = document.querySelectorAll("table.files-tab td.pick input[type=checkbox]");
    if (!head || !boxes.length) return;
    var all = document.createElement("input");
    all.type = "checkbox";
    all.setAttribute("aria-label", "Select every file on this page");
    all.addEventListener("change", function () {
      boxes.forEach(function (box) { box.checked = all.checked; });
    });
    head.appendChild(all);
  }
  if (document.readyState === "loading") document.addEventListener("DOMContentLoaded", selectAll); else selectAll();
})();

/* Forms that act on ticked rows (the owner page's bulk form, the Files tab's, form[data-needs-pick=NAME]): their
   buttons stay disabled while no checkbox NAME of the form is ticked, and a count says how many are. Without this
   script the buttons are always enabled and the server answers "tick at least one" instead. */
(function () {
  "use strict";
  function enhance(form) {
    var name = form.getAttribute("data-needs-pick");
    var boxes = Array.prototype.filter.call(
      document.querySelectorAll('input[type="checkbox"][name="' + name + '"]'),
      function (box) { return box.form === form; }
    );
    var buttons = Array.prototype.filter.call(
      document.querySelectorAll('button[type="submit"]'),
      function (button) { return button.form === form; }
    );
    var count = document.createElement("span");
    count.className = "pick-count muted";
    count.setAttribute("aria-live", "polite");
    var first = buttons[0];
    if (first && first.parentNode) first.parentNode.insertBefore(count, first);
    function update() {
      var ticked = boxes.filter(function (box) { return box.checked; }).length;
      buttons.forEach(function (button) { button.disabled = ticked === 0; });
      count.textContent = ticked === 0 ? "None selected" : ticked + " selected";
    }
    boxes.forEach(function (box) { box.addEventListener("change", update); });
    update();
  }
  function start() { document.querySelectorAll("form[data-needs-pick]").forEach(enhance); }
  if (document.readyState === "loading") document.addEventListener("DOMContentLoaded", start); else start();
})();
