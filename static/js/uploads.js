// Uploads from My files: a file picker and drag-and-drop, one request per file, each with its own
// progress bar and its own answer (downloads/views_upload.py answers JSON to this script).
(function () {
  "use strict";
  var panel = document.getElementById("uploads");
  if (!panel || !window.FormData || !window.XMLHttpRequest) {
    return; // the plain form still posts one file
  }
  var form = panel.querySelector("form");
  var input = form.querySelector("input[type=file]");
  var zone = panel.querySelector(".dropzone");
  var list = panel.querySelector(".upload-list");
  var url = panel.dataset.uploadUrl;
  var maxBytes = Number(panel.dataset.maxBytes);
  var maxSize = panel.dataset.maxSize;
  var token = form.querySelector("input[name=csrfmiddlewaretoken]").value;

  input.multiple = true;
  input.required = false;
  form.querySelector("button[type=submit]").hidden = true;

  form.addEventListener("submit", function (event) {
    event.preventDefault();
  });
  input.addEventListener("change", function () {
    sendAll(input.files);
    input.value = "";
  });
  ["dragenter", "dragover"].forEach(function (name) {
    zone.addEventListener(name, function (event) {
      event.preventDefault();
      zone.classList.add("over");
    });
  });
  ["dragleave", "drop"].forEach(function (name) {
    zone.addEventListener(name, function () {
      zone.classList.remove("over");
    });
  });
  zone.addEventListener("drop", function (event) {
    event.preventDefault();
    sendAll(event.dataTransfer.files);
  });

  function sendAll(files) {
    Array.prototype.forEach.call(files, send);
  }

  function row(file) {
    var item = document.createElement("li");
    var name = document.createElement("span");
    name.className = "name";
    name.textContent = file.name;
    var bar = document.createElement("progress");
    bar.max = 100;
    bar.value = 0;
    bar.setAttribute("aria-label", "Upload of " + file.name);
    var status = document.createElement("span");
    status.className = "status";
    status.textContent = "waiting…";
    item.append(name, bar, status);
    list.append(item);
    return { item: item, name: name, bar: bar, status: status };
  }

  function fail(view, message) {
    view.item.classList.add("failed");
    view.item.dataset.state = "failed";
    view.status.textContent = message;
  }

  // What the server said, in words: the app's JSON, or the status of a page that is not ours
  // (nginx's 413, a proxy's 502, the login page after the session ended).
  function refusal(xhr) {
    try {
      var answer = JSON.parse(xhr.responseText);
      if (answer && answer.error) {
        return answer.error;
      }
    } catch (ignored) {
      // not JSON: judged by its status below
    }
    if (xhr.responseURL && xhr.responseURL.indexOf("/accounts/login/") !== -1) {
      return "Your session has ended: log in again, then upload. Nothing was stored.";
    }
    if (xhr.status === 413) {
      return "Too large: the limit is " + maxSize + " per file. Nothing was stored.";
    }
    if (xhr.status === 403) {
      return "Refused (your page may be out of date: reload it). Nothing was stored.";
    }
    return "The server answered " + xhr.status + ". Nothing was stored; try again.";
  }

  function send(file) {
    var view = row(file);
    if (file.size > maxBytes) {
      fail(view, "Too large: " + file.size + " bytes; the limit is " + maxSize + " per file.");
      return;
    }
    var data = new FormData();
    data.append("csrfmiddlewaretoken", token);
    data.append("file", file, file.name);
    var xhr = new XMLHttpRequest();
    xhr.open("POST", url);
    xhr.setRequestHeader("Accept", "application/json");
    xhr.setRequestHeader("X-CSRFToken", token);
    xhr.upload.addEventListener("progress", function (event) {
      if (event.lengthComputable) {
        // What the browser says it has sent of the request body: tests read it too.
        view.item.dataset.sent = event.loaded;
        view.item.dataset.total = event.total;
        view.bar.value = Math.floor((event.loaded / event.total) * 100);
        view.status.textContent = "uploading… " + view.bar.value + " %";
      }
    });
    xhr.upload.addEventListener("load", function () {
      view.status.textContent = "stored… checking";
    });
    xhr.addEventListener("load", function () {
      if (xhr.status !== 201) {
        fail(view, refusal(xhr));
        return;
      }
      var stored = JSON.parse(xhr.responseText);
      view.bar.value = 100;
      view.item.dataset.state = "done";
      var link = document.createElement("a");
      link.href = stored.url;
      link.textContent = stored.name;
      view.name.replaceChildren(link);
      view.status.textContent = "uploaded (" + stored.content_type + ")";
    });
    xhr.addEventListener("error", function () {
      // No answer read: a cut connection, or nginx closing one whose body is past its limit
      // before the browser read the 413. The server may or may not have kept the file.
      fail(
        view,
        "The connection was cut before the server answered (files over " + maxSize +
          " are refused this way). Reload the page to see whether it arrived."
      );
    });
    xhr.addEventListener("abort", function () {
      fail(view, "Cancelled. Nothing was stored.");
    });
    view.status.textContent = "uploading…";
    xhr.send(data);
  }
})();
