// The isop console's script: progressive enhancement only; every page
// works without it. Loaded from the console's own origin (no inline
// script: the Content-Security-Policy forbids it).
"use strict";

// A file chosen as evidence is hashed here, in the browser, with Web
// Crypto: its SHA-256 goes into the form, the file itself never leaves
// the machine (the file input has no name, so the form cannot send it).
async function hashInto(input) {
  const target = document.getElementById(input.dataset.hashInto);
  const size = document.getElementById(input.dataset.sizeInto);
  const file = input.files && input.files[0];
  if (!target || !file) {
    return;
  }
  target.value = "";
  const digest = await crypto.subtle.digest("SHA-256", await file.arrayBuffer());
  target.value = Array.from(new Uint8Array(digest), (b) => b.toString(16).padStart(2, "0")).join("");
  if (size) {
    size.value = String(file.size);
  }
  const type = document.getElementById(input.dataset.typeInto);
  if (type) {
    type.value = file.type;
  }
  // The file's time, in UTC to the minute, unless a time is given.
  const time = document.getElementById(input.dataset.timeInto);
  if (time && !time.value) {
    time.value = new Date(file.lastModified).toISOString().slice(0, 16);
  }
  target.dispatchEvent(new Event("change", { bubbles: true }));
}

document.addEventListener("change", (e) => {
  const input = e.target;
  if (input instanceof HTMLInputElement && input.type === "file" && input.dataset.hashInto) {
    hashInto(input).catch((err) => {
      input.setCustomValidity("the file could not be hashed: " + err);
      input.reportValidity();
    });
  }
});
