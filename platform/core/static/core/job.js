// Follows a job on its page: polls the API and moves the progress bar until the job ends.
(function () {
  "use strict";
  const root = document.getElementById("job");
  if (!root || root.dataset.final === "true") return;
  const bar = document.getElementById("job-progress");
  const percent = document.getElementById("job-percent");
  const state = document.getElementById("job-state");
  const message = document.getElementById("job-message");
  const error = document.getElementById("job-error");
  const log = document.getElementById("job-log");
  const result = document.getElementById("job-result");
  const cancel = document.getElementById("job-cancel");
  let delay = 500;

  function render(job) {
    const value = Math.round(job.progress * 100);
    bar.value = value;
    bar.textContent = value + "%";
    percent.textContent = value + "%";
    state.textContent = job.state.charAt(0).toUpperCase() + job.state.slice(1);
    state.dataset.state = job.state;
    message.textContent = job.message;
    error.textContent = job.error;
    error.hidden = !job.error;
    log.textContent = job.log.join("\n");
    if (job.result && Object.keys(job.result).length) {
      result.textContent = JSON.stringify(job.result, null, 2);
    }
    if (job.is_final && cancel) cancel.remove();
    if (job.is_final && root.dataset.reload === "true") window.location.reload();
  }

  async function poll() {
    try {
      const response = await fetch(root.dataset.url, {
        headers: { Accept: "application/json" },
        credentials: "same-origin",
      });
      if (response.ok) {
        const job = await response.json();
        render(job);
        if (job.is_final) return;
        delay = 500;
      } else {
        delay = Math.min(delay * 2, 10000);
      }
    } catch (e) {
      delay = Math.min(delay * 2, 10000); // the server is restarting or the network dropped
    }
    window.setTimeout(poll, delay);
  }
  window.setTimeout(poll, delay);
})();
