// The share link's Copy button: the clipboard API where the page may use it (HTTPS, localhost),
// else the old select-and-copy, else the link stays selected for the user to copy.
document.querySelectorAll("button[data-copy]").forEach((button) => {
  button.addEventListener("click", async () => {
    const field = document.getElementById(button.dataset.copy);
    const result = document.getElementById("copy-result");
    field.select();
    let copied = false;
    try {
      await navigator.clipboard.writeText(field.value);
      copied = true;
    } catch (error) {
      copied = document.execCommand && document.execCommand("copy");
    }
    if (result) {
      result.textContent = copied ? "Copied." : "Press Ctrl+C (⌘C) to copy the selected link.";
    }
  });
});
