// heatlink dashboard: the viewer's own assets first (issue 15). Loaded before dashboard.js.
"use strict";
async function loadOwn() {}
