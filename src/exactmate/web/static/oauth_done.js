/* The page the sign-in returns to: opened as a popup by Test Connect, it closes itself (the form
   polls for the result). A browser only lets a script close a window a script opened, so in a tab
   the user opened by hand it simply stays, with its link back to the Vault. */
"use strict";

(() => {
  const done = document.getElementById("oauth-done");
  if (done && done.dataset.popup === "yes") setTimeout(() => window.close(), 1500);
})();
