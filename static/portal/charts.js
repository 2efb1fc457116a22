// Draws a Chart.js chart into each <canvas data-chart="ID"> from the JSON data island with
// that id (Django's json_script), so pages carry data and never inline script.
(function () {
  "use strict";
  if (typeof window.Chart === "undefined") {
    return;
  }
  document.querySelectorAll("canvas[data-chart]").forEach(function (canvas) {
    var island = document.getElementById(canvas.dataset.chart);
    if (!island) {
      return;
    }
    var data = JSON.parse(island.textContent);
    new window.Chart(canvas, {
      type: data.type || "line",
      data: {
        labels: data.labels,
        datasets: [{
          label: data.label,
          data: data.values,
          borderColor: "#005ea2",
          backgroundColor: "#005ea2",
          spanGaps: true,
        }],
      },
      options: {
        animation: false,
        scales: { y: { min: data.min, max: data.max } },
        plugins: { legend: { display: false } },
      },
    });
  });
})();
