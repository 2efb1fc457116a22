// Draws a stacked bar chart of spend into each <canvas data-cost-chart="ID"> from the JSON
// data island with that id (Django's json_script: {title, labels, datasets: [{label, values}]}).
// The page lists the same numbers in a data table next to the chart, its text alternative.
(function () {
  "use strict";
  if (typeof window.Chart === "undefined") {
    return;
  }
  // USWDS colours that stay apart from each other and readable on white.
  var palette = [
    "#005ea2", "#d83933", "#00a398", "#e5a000", "#8168b3", "#2e8540",
    "#c05600", "#0076d6", "#b50909", "#5c5c5c", "#936f38", "#1a4480",
  ];
  document.querySelectorAll("canvas[data-cost-chart]").forEach(function (canvas) {
    var island = document.getElementById(canvas.dataset.costChart);
    if (!island) {
      return;
    }
    var data = JSON.parse(island.textContent);
    new window.Chart(canvas, {
      type: "bar",
      data: {
        labels: data.labels,
        datasets: data.datasets.map(function (set, index) {
          return {
            label: set.label,
            data: set.values,
            backgroundColor: palette[index % palette.length],
            borderWidth: 0,
          };
        }),
      },
      options: {
        animation: false,
        maintainAspectRatio: false,
        scales: {
          x: { stacked: true },
          y: { stacked: true, beginAtZero: true, title: { display: true, text: "USD" } },
        },
        plugins: {
          legend: { position: "bottom" },
          title: { display: true, text: data.title },
        },
      },
    });
  });
})();
